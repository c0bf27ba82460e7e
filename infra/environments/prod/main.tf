# The production environment (production): the portal's stack (infra/modules/portal) zone-redundant, with the lake
# replicated and RDS backups copied to var.dr_region (dr.tf).
# Outputs feed helm/ecap-portal/values-prod.yaml (docs/deployment.md).

locals {
  name        = "ecap-prod"
  environment = "production"
  tags = {
    Project     = "ecap"
    Environment = "production"
    Service     = "ecap-portal"
    Owner       = "platform-team"
    ManagedBy   = "terraform"
  }
}

module "portal" {
  source                  = "../../modules/portal"
  name                    = local.name
  environment             = local.environment
  region                  = var.region
  namespace               = var.namespace
  tags                    = local.tags
  vpc_cidr                = "10.30.0.0/16"
  single_nat_gateway      = false
  log_retention_days      = 365
  eks_public_access_cidrs = var.eks_public_access_cidrs
  node_groups = {
    general = {
      instance_types = ["m6i.xlarge"]
      capacity_type  = "ON_DEMAND"
      min_size       = 3
      max_size       = 9
      desired_size   = 3
    }
    burst = {
      instance_types = ["m6i.xlarge", "m5.xlarge", "m6a.xlarge"]
      capacity_type  = "SPOT"
      min_size       = 0
      max_size       = 6
      desired_size   = 0
    }
  }
  rds_instance_class             = "db.r6g.large"
  rds_multi_az                   = true
  rds_backup_retention_days      = 30
  rds_deletion_protection        = true
  redis_node_type                = "cache.r7g.large"
  redis_num_nodes                = 3
  redis_snapshot_retention_days  = 7
  anchor_retention_days          = 2555
  lake_noncurrent_version_days   = 30
  lake_replica_bucket_arn        = aws_s3_bucket.lake_replica.arn
  lake_replica_kms_key_arn       = aws_kms_key.dr.arn
  emr_create_cluster             = true
  emr_tls_certificates_s3_object = var.emr_tls_certificates_s3_object
}
