variable "name" {
  description = "Bucket name prefix, e.g. ecap-prod (the account id is appended for global uniqueness)."
  type        = string
}

variable "account_id" {
  description = "AWS account id, appended to bucket names."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of every bucket."
  type        = string
}

variable "anchor_retention_days" {
  description = "Object Lock retention of audit anchors, in days (the audit log's 7 years in prod)."
  type        = number
}

variable "lake_ia_after_days" {
  description = "Days before lake objects move to Standard-IA."
  type        = number
  default     = 90
}

variable "noncurrent_version_days" {
  description = "Days old object versions are kept (bounded by the erasure deadline of a data-subject request)."
  type        = number
  default     = 30
}

variable "replica_bucket_arn" {
  description = "Bucket in another region the lake replicates to (prod); null disables replication."
  type        = string
  default     = null
}

variable "replica_kms_key_arn" {
  description = "KMS key of the replica bucket."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
