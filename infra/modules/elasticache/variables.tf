variable "name" {
  description = "Replication group id, e.g. ecap-prod-redis."
  type        = string
}

variable "node_type" {
  description = "Cache node type."
  type        = string
}

variable "num_nodes" {
  description = "Primary plus replicas; more than one enables automatic failover and multi-AZ."
  type        = number
  default     = 2
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots (0 disables)."
  type        = number
  default     = 1
}

variable "vpc_id" {
  description = "VPC of the cluster."
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
  description = "KMS key for data at rest and the AUTH token secret."
  type        = string
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
