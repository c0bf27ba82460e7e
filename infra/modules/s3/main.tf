# The lake bucket (Parquet data, Spark job bundles, EMR and Spark logs) with versioning and lifecycle; the audit
# anchor bucket under Object Lock in compliance mode; an access-log bucket. All SSE-KMS, TLS only, never public.
# With replica_bucket_arn set (prod), the lake replicates to another region.

locals {
  buckets = {
    lake    = aws_s3_bucket.lake.id
    anchors = aws_s3_bucket.anchors.id
    logs    = aws_s3_bucket.logs.id
  }
}

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket itself; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:Access logs are not replicated; the lake they describe is
  #checkov:skip=CKV2_AWS_62:No event consumer for access logs
  bucket        = "${var.name}-access-logs-${var.account_id}"
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV2_AWS_62:Lake events are not consumed; jobs are started by the portal
  #checkov:skip=CKV_AWS_144:Cross-region replication is configured for prod only (replica_bucket_arn); dev and staging hold synthetic data
  bucket        = "${var.name}-lake-${var.account_id}"
  force_destroy = false
  tags          = merge(var.tags, { DataClassification = "restricted" })
}

resource "aws_s3_bucket" "anchors" {
  #checkov:skip=CKV2_AWS_62:Anchors are read back by the portal's verification, not by events
  #checkov:skip=CKV_AWS_144:Object Lock already makes anchors immutable; one region suffices for a hash per day
  bucket              = "${var.name}-audit-anchors-${var.account_id}"
  object_lock_enabled = true
  force_destroy       = false
  tags                = merge(var.tags, { DataClassification = "confidential" })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets
  bucket   = each.value
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = each.value
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets
  bucket   = each.value
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = { lake = aws_s3_bucket.lake.id, anchors = aws_s3_bucket.anchors.id }
  bucket        = each.value
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = {
    lake    = aws_s3_bucket.lake.arn
    anchors = aws_s3_bucket.anchors.arn
    logs    = aws_s3_bucket.logs.arn
  }
  bucket = local.buckets[each.key]
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [each.value, "${each.value}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Anchors: every object is locked in compliance mode (nobody, root included, shortens or removes it).
resource "aws_s3_bucket_object_lock_configuration" "anchors" {
  bucket = aws_s3_bucket.anchors.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.anchor_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  rule {
    id     = "raw-and-curated-tiering"
    status = "Enabled"
    filter {}
    transition {
      days          = var.lake_ia_after_days
      storage_class = "STANDARD_IA"
    }
    noncurrent_version_transition {
      noncurrent_days = 30
      storage_class   = "STANDARD_IA"
    }
    # Old versions are what an erasure leaves behind: they must go within the erasure deadline.
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "emr-and-yarn-logs"
    status = "Enabled"
    filter {
      prefix = "emr-logs/"
    }
    expiration {
      days = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "spark-event-logs"
    status = "Enabled"
    filter {
      prefix = "spark-events/"
    }
    expiration {
      days = 30
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "portal-job-bundles"
    status = "Enabled"
    filter {
      prefix = "ecap-portal/runs/"
    }
    expiration {
      days = 30
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "anchors" {
  bucket = aws_s3_bucket.anchors.id
  rule {
    id     = "abort-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

# --- cross-region replication of the lake (prod) ---------------------------------------------------------------
resource "aws_iam_role" "replication" {
  count = var.replica_bucket_arn == null ? 0 : 1
  name  = "${var.name}-lake-replication"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "replication" {
  count = var.replica_bucket_arn == null ? 0 : 1
  name  = "replicate-lake"
  role  = aws_iam_role.replication[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
        Resource = aws_s3_bucket.lake.arn
      },
      {
        Effect   = "Allow"
        Action   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
        Resource = "${aws_s3_bucket.lake.arn}/*"
      },
      {
        Effect   = "Allow"
        Action   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
        Resource = "${var.replica_bucket_arn}/*"
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = var.kms_key_arn
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Encrypt", "kms:GenerateDataKey"]
        Resource = var.replica_kms_key_arn
      },
    ]
  })
}

resource "aws_s3_bucket_replication_configuration" "lake" {
  count  = var.replica_bucket_arn == null ? 0 : 1
  bucket = aws_s3_bucket.lake.id
  role   = aws_iam_role.replication[0].arn

  rule {
    id     = "lake-to-dr-region"
    status = "Enabled"
    filter {}
    delete_marker_replication {
      # Erasures (deletes) must reach the replica too.
      status = "Enabled"
    }
    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }
    destination {
      bucket        = var.replica_bucket_arn
      storage_class = "STANDARD_IA"
      encryption_configuration {
        replica_kms_key_id = var.replica_kms_key_arn
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
