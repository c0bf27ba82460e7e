variable "name" {
  description = "Name prefix, e.g. ecap-prod."
  type        = string
}

variable "region" {
  description = "AWS region of the EMR clusters."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the release."
  type        = string
  default     = "ecap"
}

variable "service_accounts" {
  description = "ServiceAccounts that may assume the role (the release's and its migration hook's)."
  type        = list(string)
  default     = ["ecap-portal", "ecap-portal-migrate"]
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer" {
  description = "The OIDC issuer without https://."
  type        = string
}

variable "lake_bucket_arn" {
  description = "Lake bucket ARN."
  type        = string
}

variable "anchor_bucket_arn" {
  description = "Audit anchor bucket ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the buckets."
  type        = string
}

variable "emr_service_role_arn" {
  description = "EMR service role the portal passes to transient clusters."
  type        = string
}

variable "emr_instance_role_arn" {
  description = "EMR node role the portal passes to transient clusters."
  type        = string
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
