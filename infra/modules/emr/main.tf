# EMR for the portal's Spark jobs: release 7.x with Spark, Hadoop, Hive and Livy; encryption at rest (SSE-KMS on
# S3, KMS on local disks) and in transit; logs to the lake bucket. The roles and security configuration are always
# created (the portal starts transient clusters with them); a long-running cluster with managed scaling, spot task
# nodes and a one-hour idle auto-termination is created when create_cluster is true.

data "aws_partition" "current" {}

resource "aws_iam_role" "service" {
  name = "${var.name}-emr-service"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "elasticmapreduce.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "service" {
  role       = aws_iam_role.service.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
}

resource "aws_iam_role" "instance" {
  name = "${var.name}-emr-instance"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

# The cluster nodes read and write the lake and its logs, and use the key; nothing else.
resource "aws_iam_role_policy" "instance" {
  name = "lake-access"
  role = aws_iam_role.instance.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = var.lake_bucket_arn
      },
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = "${var.lake_bucket_arn}/*"
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource = var.kms_key_arn
      },
    ]
  })
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.name}-emr-instance"
  role = aws_iam_role.instance.name
  tags = var.tags
}

resource "aws_emr_security_configuration" "this" {
  name = "${var.name}-emr"
  configuration = jsonencode({
    EncryptionConfiguration = {
      EnableAtRestEncryption    = true
      EnableInTransitEncryption = true
      AtRestEncryptionConfiguration = {
        S3EncryptionConfiguration = {
          EncryptionMode = "SSE-KMS"
          AwsKmsKey      = var.kms_key_arn
        }
        LocalDiskEncryptionConfiguration = {
          EncryptionKeyProviderType = "AwsKms"
          AwsKmsKey                 = var.kms_key_arn
          EnableEbsEncryption       = true
        }
      }
      InTransitEncryptionConfiguration = {
        TLSCertificateConfiguration = {
          CertificateProviderType = "PEM"
          S3Object                = var.tls_certificates_s3_object
        }
      }
    }
    InstanceMetadataServiceConfiguration = {
      MinimumInstanceMetadataServiceVersion = 2
      HttpPutResponseHopLimit               = 1
    }
  })
}

resource "aws_security_group" "master" {
  #checkov:skip=CKV2_AWS_5:Attached by EMR to the cluster it launches (managed security group)
  name                   = "${var.name}-emr-master"
  description            = "EMR primary nodes of ${var.name} (rules managed by EMR)"
  vpc_id                 = var.vpc_id
  revoke_rules_on_delete = true
  tags                   = merge(var.tags, { Name = "${var.name}-emr-master" })
}

resource "aws_security_group" "core" {
  #checkov:skip=CKV2_AWS_5:Attached by EMR to the cluster it launches (managed security group)
  name                   = "${var.name}-emr-core"
  description            = "EMR core and task nodes of ${var.name} (rules managed by EMR)"
  vpc_id                 = var.vpc_id
  revoke_rules_on_delete = true
  tags                   = merge(var.tags, { Name = "${var.name}-emr-core" })
}

resource "aws_security_group" "service" {
  #checkov:skip=CKV2_AWS_5:Attached by EMR to the cluster it launches (service access group)
  name                   = "${var.name}-emr-service"
  description            = "EMR service access of ${var.name} in private subnets (rules managed by EMR)"
  vpc_id                 = var.vpc_id
  revoke_rules_on_delete = true
  tags                   = merge(var.tags, { Name = "${var.name}-emr-service" })
}

resource "aws_emr_cluster" "this" {
  count         = var.create_cluster ? 1 : 0
  name          = "${var.name}-spark"
  release_label = var.release_label
  applications  = ["Spark", "Hadoop", "Hive", "Livy"]
  service_role  = aws_iam_role.service.arn
  log_uri       = "s3://${var.lake_bucket}/emr-logs/"

  security_configuration            = aws_emr_security_configuration.this.name
  termination_protection            = false
  keep_job_flow_alive_when_no_steps = true
  visible_to_all_users              = true
  step_concurrency_level            = 4

  auto_termination_policy {
    idle_timeout = var.idle_timeout_seconds
  }

  ec2_attributes {
    subnet_ids                        = var.subnet_ids
    instance_profile                  = aws_iam_instance_profile.instance.arn
    emr_managed_master_security_group = aws_security_group.master.id
    emr_managed_slave_security_group  = aws_security_group.core.id
    service_access_security_group     = aws_security_group.service.id
  }

  master_instance_fleet {
    name                      = "primary"
    target_on_demand_capacity = 1
    instance_type_configs {
      instance_type = var.master_instance_type
    }
  }

  core_instance_fleet {
    name                      = "core"
    target_on_demand_capacity = var.core_instance_count
    instance_type_configs {
      instance_type     = var.core_instance_type
      weighted_capacity = 1
      ebs_config {
        size                 = 64
        type                 = "gp3"
        volumes_per_instance = 1
      }
    }
  }

  configurations_json = jsonencode([
    {
      Classification = "spark-defaults"
      Properties = {
        "spark.dynamicAllocation.enabled"               = "true"
        "spark.shuffle.service.enabled"                 = "true"
        "spark.sql.adaptive.enabled"                    = "true"
        "spark.sql.adaptive.coalescePartitions.enabled" = "true"
        "spark.serializer"                              = "org.apache.spark.serializer.KryoSerializer"
        "spark.eventLog.enabled"                        = "true"
        "spark.eventLog.dir"                            = "s3://${var.lake_bucket}/spark-events/"
        "spark.history.fs.logDirectory"                 = "s3://${var.lake_bucket}/spark-events/"
        "spark.sql.parquet.compression.codec"           = "snappy"
      }
    },
    {
      Classification = "yarn-site"
      Properties = {
        "yarn.log-aggregation-enable"         = "true"
        "yarn.log-aggregation.retain-seconds" = "604800"
        "yarn.nodemanager.remote-app-log-dir" = "s3://${var.lake_bucket}/emr-logs/yarn/"
      }
    },
  ])

  tags = var.tags
}

# Task nodes on spot, up to max_task_units; the core fleet stays on demand (it holds HDFS).
resource "aws_emr_instance_fleet" "task" {
  count                = var.create_cluster ? 1 : 0
  cluster_id           = aws_emr_cluster.this[0].id
  name                 = "task-spot"
  target_spot_capacity = 0

  dynamic "instance_type_configs" {
    for_each = var.task_instance_types
    content {
      instance_type                              = instance_type_configs.value
      weighted_capacity                          = 1
      bid_price_as_percentage_of_on_demand_price = 100
    }
  }

  launch_specifications {
    spot_specification {
      allocation_strategy      = "capacity-optimized"
      timeout_action           = "SWITCH_TO_ON_DEMAND"
      timeout_duration_minutes = 10
    }
  }
}

# Managed scaling: EMR adds and removes capacity from YARN's demand; everything above the on-demand ceiling
# (the core nodes) is spot task capacity.
resource "aws_emr_managed_scaling_policy" "this" {
  count      = var.create_cluster ? 1 : 0
  cluster_id = aws_emr_cluster.this[0].id
  compute_limits {
    unit_type                       = "InstanceFleetUnits"
    minimum_capacity_units          = var.core_instance_count
    maximum_capacity_units          = var.core_instance_count + var.max_task_units
    maximum_ondemand_capacity_units = var.core_instance_count
    maximum_core_capacity_units     = var.core_instance_count
  }
}
