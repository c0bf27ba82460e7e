# The portal's IRSA role: assumed only by the release's ServiceAccounts (web/workers/beat and the migration Job)
# through the cluster's OIDC provider. It may add, describe and cancel steps on the portal's EMR cluster (and start
# transient clusters tagged for the portal, passing only the EMR roles), read and write the lake, and write audit
# anchors (object lock retention included) — nothing else.

locals {
  subjects = [for sa in var.service_accounts : "system:serviceaccount:${var.namespace}:${sa}"]
}

data "aws_iam_policy_document" "trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = local.subjects
    }
  }
}

resource "aws_iam_role" "portal" {
  name                 = "${var.name}-portal"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "portal" {
  statement {
    sid       = "EmrStepsOnThePortalsClusters"
    effect    = "Allow"
    actions   = ["elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeStep", "elasticmapreduce:ListSteps", "elasticmapreduce:CancelSteps", "elasticmapreduce:DescribeCluster"]
    resources = ["arn:aws:elasticmapreduce:${var.region}:${var.account_id}:cluster/*"]
    condition {
      test     = "StringEquals"
      variable = "elasticmapreduce:ResourceTag/Project"
      values   = ["ecap"]
    }
  }

  statement {
    sid       = "StartTransientClustersTaggedForThePortal"
    effect    = "Allow"
    actions   = ["elasticmapreduce:RunJobFlow", "elasticmapreduce:AddTags"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = ["ecap"]
    }
  }

  statement {
    sid       = "PassOnlyTheEmrRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [var.emr_service_role_arn, var.emr_instance_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["elasticmapreduce.amazonaws.com", "ec2.amazonaws.com"]
    }
  }

  statement {
    sid       = "ListTheLake"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn]
  }

  statement {
    sid       = "ReadWriteTheLake"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.lake_bucket_arn}/*"]
  }

  statement {
    sid       = "WriteAndReadAuditAnchors"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetObjectRetention"]
    resources = ["${var.anchor_bucket_arn}/*"]
  }

  statement {
    sid       = "ListAuditAnchors"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.anchor_bucket_arn]
  }

  statement {
    sid       = "UseTheDataKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_policy" "portal" {
  name        = "${var.name}-portal"
  description = "What the ECAP portal's pods may do in AWS"
  policy      = data.aws_iam_policy_document.portal.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "portal" {
  role       = aws_iam_role.portal.name
  policy_arn = aws_iam_policy.portal.arn
}
