# --- identity -----------------------------------------------------------------------------------------------------
variable "name" {
  description = "Prefix of every resource of the environment (ecap-dev, ecap-staging, ecap-prod); also the EKS cluster."
  type        = string
}

variable "environment" {
  description = "Environment name in descriptions (development, staging, production)."
  type        = string
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace the Helm release is installed into (IRSA trust)."
  type        = string
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
}

# --- network and cluster ------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "CIDR of the environment's VPC (distinct per environment so they can be peered)."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (zone-failure tolerant)."
  type        = bool
}

variable "log_retention_days" {
  description = "CloudWatch retention of the VPC flow logs and the EKS control-plane logs."
  type        = number
}

variable "kubernetes_version" {
  description = "EKS version (scripts/lint_infra.py validates the chart against the same version)."
  type        = string
  default     = "1.33"
}

variable "eks_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS API endpoint from outside the VPC (operators, CI)."
  type        = list(string)
}

variable "node_groups" {
  description = "EKS managed node groups by name."
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    min_size       = number
    max_size       = number
    desired_size   = number
  }))
}

# --- PostgreSQL ---------------------------------------------------------------------------------------------------
variable "rds_instance_class" {
  description = "RDS instance class of the portal's PostgreSQL."
  type        = string
}

variable "rds_multi_az" {
  description = "Standby in a second zone (required in prod)."
  type        = bool
}

variable "rds_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
}

variable "rds_deletion_protection" {
  description = "Refuse to delete the database instance."
  type        = bool
}

# --- Redis --------------------------------------------------------------------------------------------------------
variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_num_nodes" {
  description = "Redis nodes (primary plus replicas)."
  type        = number
}

variable "redis_snapshot_retention_days" {
  description = "Days of Redis snapshots."
  type        = number
}

# --- lake and audit anchors ---------------------------------------------------------------------------------------
variable "anchor_retention_days" {
  description = "COMPLIANCE-mode object lock retention of the audit anchors."
  type        = number
}

variable "lake_noncurrent_version_days" {
  description = "Days noncurrent lake object versions are kept."
  type        = number
}

variable "lake_replica_bucket_arn" {
  description = "Bucket in another region the lake replicates to (prod); null disables replication."
  type        = string
  default     = null
}

variable "lake_replica_kms_key_arn" {
  description = "KMS key of the replica bucket (with lake_replica_bucket_arn)."
  type        = string
  default     = null
}

# --- EMR ----------------------------------------------------------------------------------------------------------
variable "emr_create_cluster" {
  description = "Keep a long-running EMR cluster (prod); false: the portal starts transient clusters."
  type        = bool
}

variable "emr_release_label" {
  description = "EMR release (7.x: Spark 3.5, Python 3.11)."
  type        = string
  default     = "emr-7.5.0"
}

variable "emr_tls_certificates_s3_object" {
  description = "s3:// URL of the zip of PEM certificates for EMR in-transit encryption (docs/deployment.md)."
  type        = string
}
