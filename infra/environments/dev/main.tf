# The development environment ($100-150/month): the portal's network, EKS, PostgreSQL, Redis, lake, EMR and IRSA.
# Outputs feed helm/ecap-portal/values-dev.yaml (docs/deployment.md).

data "aws_caller_identity" "current" {}

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

resource "aws_kms_key" "ecap" {
  description             = "ECAP development: EKS secrets, RDS, Redis, S3, EMR and logs"
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
  cidr                    = "10.10.0.0/16"
  single_nat_gateway      = true
  cluster_name            = local.name
  region                  = var.region
  kms_key_arn             = aws_kms_key.ecap.arn
  flow_log_retention_days = 30
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
  log_retention_days  = 30
  node_groups = {
    general = {
      instance_types = ["t3.large"]
      capacity_type  = "SPOT"
      min_size       = 1
      max_size       = 3
      desired_size   = 2
    }
  }
  tags = local.tags
}

module "rds" {
  source                    = "../../modules/rds"
  name                      = "${local.name}-portal"
  instance_class            = "db.t4g.medium"
  multi_az                  = false
  backup_retention_days     = 7
  deletion_protection       = false
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn               = aws_kms_key.ecap.arn
  tags                      = local.tags
}

module "elasticache" {
  source                    = "../../modules/elasticache"
  name                      = "${local.name}-redis"
  node_type                 = "cache.t4g.small"
  num_nodes                 = 1
  snapshot_retention_days   = 1
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
  anchor_retention_days   = 30
  noncurrent_version_days = 7
  tags                    = local.tags
}

module "emr" {
  source                     = "../../modules/emr"
  name                       = local.name
  create_cluster             = false
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
