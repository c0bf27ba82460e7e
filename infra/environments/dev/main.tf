# The development environment ($100-150/month): the portal's stack (infra/modules/portal) at its smallest.
# Outputs feed helm/ecap-portal/values-dev.yaml (docs/deployment.md).

locals {
  name        = "ecap-dev"
  environment = "development"
  tags = {
    Project     = "ecap"
    Environment = "development"
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
  vpc_cidr                = "10.10.0.0/16"
  single_nat_gateway      = true
  log_retention_days      = 30
  eks_public_access_cidrs = var.eks_public_access_cidrs
  node_groups = {
    general = {
      instance_types = ["t3.large"]
      capacity_type  = "SPOT"
      min_size       = 1
      max_size       = 3
      desired_size   = 2
    }
  }
  rds_instance_class             = "db.t4g.medium"
  rds_multi_az                   = false
  rds_backup_retention_days      = 7
  rds_deletion_protection        = false
  redis_node_type                = "cache.t4g.small"
  redis_num_nodes                = 1
  redis_snapshot_retention_days  = 1
  anchor_retention_days          = 30
  lake_noncurrent_version_days   = 7
  emr_create_cluster             = false
  emr_tls_certificates_s3_object = var.emr_tls_certificates_s3_object
}
