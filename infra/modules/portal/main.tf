# The portal's stack in one environment: KMS key, network, EKS, PostgreSQL, Redis, lake, EMR, IRSA and the image
# registry. Every environment (infra/environments/*) calls this module once with its own sizes and retention; what
# differs between environments is an input here, nothing else is.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "ecap" {
  description             = "ECAP ${var.environment}: EKS secrets, RDS, Redis, S3, EMR and logs"
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
  tags = var.tags
}

resource "aws_kms_alias" "ecap" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.ecap.key_id
}

module "vpc" {
  source                  = "../vpc"
  name                    = var.name
  cidr                    = var.vpc_cidr
  single_nat_gateway      = var.single_nat_gateway
  cluster_name            = var.name
  region                  = var.region
  kms_key_arn             = aws_kms_key.ecap.arn
  flow_log_retention_days = var.log_retention_days
  tags                    = var.tags
}

module "eks" {
  source              = "../eks"
  name                = var.name
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.vpc.vpc_id
  vpc_cidr            = module.vpc.vpc_cidr
  private_subnet_ids  = module.vpc.private_subnet_ids
  public_access_cidrs = var.eks_public_access_cidrs
  kms_key_arn         = aws_kms_key.ecap.arn
  log_retention_days  = var.log_retention_days
  node_groups         = var.node_groups
  tags                = var.tags
}

module "rds" {
  source                    = "../rds"
  name                      = "${var.name}-portal"
  instance_class            = var.rds_instance_class
  multi_az                  = var.rds_multi_az
  backup_retention_days     = var.rds_backup_retention_days
  deletion_protection       = var.rds_deletion_protection
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn               = aws_kms_key.ecap.arn
  tags                      = var.tags
}

module "elasticache" {
  source                    = "../elasticache"
  name                      = "${var.name}-redis"
  node_type                 = var.redis_node_type
  num_nodes                 = var.redis_num_nodes
  snapshot_retention_days   = var.redis_snapshot_retention_days
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn               = aws_kms_key.ecap.arn
  tags                      = var.tags
}

module "s3" {
  source                  = "../s3"
  name                    = var.name
  account_id              = data.aws_caller_identity.current.account_id
  kms_key_arn             = aws_kms_key.ecap.arn
  anchor_retention_days   = var.anchor_retention_days
  noncurrent_version_days = var.lake_noncurrent_version_days
  replica_bucket_arn      = var.lake_replica_bucket_arn
  replica_kms_key_arn     = var.lake_replica_kms_key_arn
  tags                    = var.tags
}

module "emr" {
  source                     = "../emr"
  name                       = var.name
  create_cluster             = var.emr_create_cluster
  release_label              = var.emr_release_label
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  lake_bucket                = module.s3.lake_bucket
  lake_bucket_arn            = module.s3.lake_bucket_arn
  kms_key_arn                = aws_kms_key.ecap.arn
  tls_certificates_s3_object = var.emr_tls_certificates_s3_object
  tags                       = var.tags
}

module "iam" {
  source                = "../iam"
  name                  = var.name
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
  tags                  = var.tags
}

resource "aws_ecr_repository" "portal" {
  name                 = "${var.name}/ecap-portal"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.ecap.arn
  }
  tags = var.tags
}
