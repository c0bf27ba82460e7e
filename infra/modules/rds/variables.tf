variable "name" {
  description = "Instance identifier, e.g. ecap-prod-portal."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major.minor; the portal needs PostgreSQL 15."
  type        = string
  default     = "15.10"
  validation {
    condition     = startswith(var.engine_version, "15")
    error_message = "The portal runs on PostgreSQL 15."
  }
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
}

variable "database_name" {
  description = "The portal's database."
  type        = string
  default     = "ecap"
}

variable "master_username" {
  description = "Master user name (its password is managed by RDS in Secrets Manager)."
  type        = string
  default     = "ecap_admin"
}

variable "allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
  default     = 50
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 500
}

variable "multi_az" {
  description = "A synchronous standby in another zone (prod)."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups, the point-in-time recovery window (7 dev, 30 prod)."
  type        = number
  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "Automated backups (and so point-in-time recovery) need 1 to 35 days."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "VPC of the instance."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the subnet group."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect (EKS nodes)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master secret."
  type        = string
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
