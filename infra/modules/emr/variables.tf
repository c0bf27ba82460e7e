variable "name" {
  description = "Name prefix, e.g. ecap-prod."
  type        = string
}

variable "create_cluster" {
  description = "Create a long-running cluster (else the portal starts transient clusters with these roles)."
  type        = bool
  default     = true
}

variable "release_label" {
  description = "EMR release (7.x: Spark 3.5, matching the portal's pyspark)."
  type        = string
  default     = "emr-7.5.0"
  validation {
    condition     = can(regex("^emr-7\\.", var.release_label))
    error_message = "The Spark jobs are built for EMR 7.x (Spark 3.5)."
  }
}

variable "master_instance_type" {
  description = "Primary node type."
  type        = string
  default     = "m5.xlarge"
}

variable "core_instance_type" {
  description = "Core node type."
  type        = string
  default     = "m5.large"
}

variable "core_instance_count" {
  description = "On-demand core nodes."
  type        = number
  default     = 2
}

variable "task_instance_types" {
  description = "Spot task node types (several, for spot capacity)."
  type        = list(string)
  default     = ["m5.large", "m5a.large", "m6i.large"]
}

variable "max_task_units" {
  description = "Most spot task nodes managed scaling may add."
  type        = number
  default     = 10
}

variable "idle_timeout_seconds" {
  description = "Auto-terminate after this long without steps."
  type        = number
  default     = 3600
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the fleets may use."
  type        = list(string)
}

variable "lake_bucket" {
  description = "Lake bucket name (logs, event logs, job bundles)."
  type        = string
}

variable "lake_bucket_arn" {
  description = "Lake bucket ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for S3 and local disk encryption."
  type        = string
}

variable "tls_certificates_s3_object" {
  description = "s3:// URL of the zip of PEM certificates for in-transit encryption."
  type        = string
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
