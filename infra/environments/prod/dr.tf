# Disaster recovery (prod only): a lake replica and copies of RDS automated backups in var.dr_region.

data "aws_caller_identity" "current" {}

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
  source_db_instance_arn = module.portal.database_instance_arn
  kms_key_id             = aws_kms_key.dr.arn
  retention_period       = 14
}
