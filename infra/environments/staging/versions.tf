terraform {
  required_version = ">= 1.6.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
  # State in S3 with locking; bucket, key and table are given at init (docs/deployment.md):
  #   terraform init -backend-config=bucket=<state bucket> -backend-config=key=ecap/staging.tfstate \
  #     -backend-config=region=<region> -backend-config=dynamodb_table=<lock table>
  backend "s3" {
    encrypt = true
  }
}

provider "aws" {
  region = var.region
  # Every resource is tagged through default_tags (modules add Name and data classification on top).
  default_tags {
    tags = local.tags
  }
}
