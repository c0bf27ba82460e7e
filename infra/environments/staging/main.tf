# The staging environment (staging): the portal's stack (infra/modules/portal) between dev and prod, no DR.
# Outputs feed helm/ecap-portal/values-staging.yaml (docs/deployment.md).

locals {
  name        = "ecap-staging"
  environment = "staging"
  tags = {
    Project     = "ecap"
    Environment = "staging"
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
  vpc_cidr                = "10.20.0.0/16"
  single_nat_gateway      = true
  log_retention_days      = 90
  eks_public_access_cidrs = var.eks_public_access_cidrs
  node_groups = {
    general = {
      instance_types = ["m6i.large"]
      capacity_type  = "ON_DEMAND"
      min_size       = 2
      max_size       = 4
      desired_size   = 2
    }
  }
  rds_instance_class             = "db.t4g.large"
  rds_multi_az                   = false
  rds_backup_retention_days      = 14
  rds_deletion_protection        = true
  redis_node_type                = "cache.t4g.medium"
  redis_num_nodes                = 2
  redis_snapshot_retention_days  = 3
  anchor_retention_days          = 365
  lake_noncurrent_version_days   = 30
  emr_create_cluster             = false
  emr_tls_certificates_s3_object = var.emr_tls_certificates_s3_object
}
