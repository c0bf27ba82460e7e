# The production environment (production): the portal's network, EKS, PostgreSQL, Redis, lake, EMR and IRSA.
# Outputs feed helm/ecap-portal/values-prod.yaml (docs/deployment.md).

data "aws_caller_identity" "current" {}

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

resource "aws_kms_key" "ecap" {
  description             = "ECAP production: EKS secrets, RDS, Redis, S3, EMR and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypt"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "ecap" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.ecap.key_id
}

module "vpc" {
  source                  = "../../modules/vpc"
  name                    = local.name
  cidr                    = "10.30.0.0/16"
  single_nat_gateway      = false
  cluster_name            = local.name
  region                  = var.region
  kms_key_arn             = aws_kms_key.ecap.arn
  flow_log_retention_days = 365
  tags                    = local.tags
}

module "eks" {
  source              = "../../modules/eks"
  name                = local.name
  kubernetes_version  = "1.33"
  vpc_id              = module.vpc.vpc_id
  vpc_cidr            = module.vpc.vpc_cidr
  private_subnet_ids  = module.vpc.private_subnet_ids
  public_access_cidrs = var.eks_public_access_cidrs
  kms_key_arn         = aws_kms_key.ecap.arn
  log_retention_days  = 365
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
  tags = local.tags
}

module "rds" {
  source                    = "../../modules/rds"
  name                      = "${local.name}-portal"
  instance_class            = "db.r6g.large"
  multi_az                  = true
  backup_retention_days     = 30
  deletion_protection       = true
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn               = aws_kms_key.ecap.arn
  tags                      = local.tags
}

module "elasticache" {
  source                    = "../../modules/elasticache"
  name                      = "${local.name}-redis"
  node_type                 = "cache.r7g.large"
  num_nodes                 = 3
  snapshot_retention_days   = 7
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn               = aws_kms_key.ecap.arn
  tags                      = local.tags
}

module "s3" {
  source                  = "../../modules/s3"
  name                    = local.name
  account_id              = data.aws_caller_identity.current.account_id
  kms_key_arn             = aws_kms_key.ecap.arn
  anchor_retention_days   = 2555
  noncurrent_version_days = 30
  replica_bucket_arn      = aws_s3_bucket.lake_replica.arn
  replica_kms_key_arn     = aws_kms_key.dr.arn
  tags                    = local.tags
}

module "emr" {
  source                     = "../../modules/emr"
  name                       = local.name
  create_cluster             = true
  release_label              = "emr-7.5.0"
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  lake_bucket                = module.s3.lake_bucket
  lake_bucket_arn            = module.s3.lake_bucket_arn
  kms_key_arn                = aws_kms_key.ecap.arn
  tls_certificates_s3_object = var.emr_tls_certificates_s3_object
  tags                       = local.tags
}

module "iam" {
  source                = "../../modules/iam"
  name                  = local.name
  region                = var.region
  account_id            = data.aws_caller_identity.current.account_id
  namespace             = var.namespace
  oidc_provider_arn     = module.eks.oidc_provider_arn
  oidc_issuer           = module.eks.oidc_issuer
  lake_bucket_arn       = module.s3.lake_bucket_arn
  anchor_bucket_arn     = module.s3.anchor_bucket_arn
  kms_key_arn           = aws_kms_key.ecap.arn
  emr_service_role_arn  = module.emr.service_role_arn
  emr_instance_role_arn = module.emr.instance_role_arn
  tags                  = local.tags
}

resource "aws_ecr_repository" "portal" {
  name                 = "${local.name}/ecap-portal"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.ecap.arn
  }
  tags = local.tags
}

# --- disaster recovery (prod): a lake replica and copies of RDS automated backups in var.dr_region -------------
resource "aws_kms_key" "dr" {
  provider                = aws.dr
  description             = "ECAP production DR: lake replica and RDS backup copies"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = local.tags
}

resource "aws_s3_bucket" "lake_replica" {
  #checkov:skip=CKV_AWS_144:This is the replication destination itself
  #checkov:skip=CKV2_AWS_62:No event consumer for the replica
  #checkov:skip=CKV_AWS_18:Access to the replica is logged by CloudTrail data events of the DR account trail
  provider = aws.dr
  bucket   = "${local.name}-lake-replica-${data.aws_caller_identity.current.account_id}"
  tags     = merge(local.tags, { DataClassification = "restricted" })
}

resource "aws_s3_bucket_versioning" "lake_replica" {
  provider = aws.dr
  bucket   = aws_s3_bucket.lake_replica.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake_replica" {
  provider = aws.dr
  bucket   = aws_s3_bucket.lake_replica.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.dr.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "lake_replica" {
  provider                = aws.dr
  bucket                  = aws_s3_bucket.lake_replica.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "lake_replica" {
  provider = aws.dr
  bucket   = aws_s3_bucket.lake_replica.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.lake_replica]
}

# Point-in-time recovery in the DR region as well: RDS copies every automated backup and its logs there.
resource "aws_db_instance_automated_backups_replication" "portal" {
  provider               = aws.dr
  source_db_instance_arn = module.rds.instance_arn
  kms_key_id             = aws_kms_key.dr.arn
  retention_period       = 14
}
