# What the environments pass through to helm/ecap-portal/values-<env>.yaml and Vault (docs/deployment.md).

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "vpc_cidr" {
  description = "CIDR of the VPC."
  value       = module.vpc.vpc_cidr
}

output "portal_role_arn" {
  description = "IRSA role of the portal's service account."
  value       = module.iam.portal_role_arn
}

output "ecr_repository_url" {
  description = "Repository of the portal image."
  value       = aws_ecr_repository.portal.repository_url
}

output "lake_bucket" {
  description = "Lake bucket name."
  value       = module.s3.lake_bucket
}

output "audit_anchor_bucket" {
  description = "Audit anchor bucket name (object lock)."
  value       = module.s3.anchor_bucket
}

output "emr_cluster_id" {
  description = "Long-running EMR cluster id (empty without one)."
  value       = module.emr.cluster_id
}

output "emr_service_role" {
  description = "EMR service role name."
  value       = module.emr.service_role_name
}

output "emr_job_flow_role" {
  description = "EMR instance profile name."
  value       = module.emr.instance_profile_name
}

output "database_endpoint" {
  description = "host:port of the portal's PostgreSQL."
  value       = module.rds.endpoint
}

output "database_instance_arn" {
  description = "ARN of the database instance (cross-region backup replication in prod)."
  value       = module.rds.instance_arn
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret of the master password."
  value       = module.rds.master_user_secret_arn
}

output "redis_endpoint" {
  description = "Primary endpoint of Redis."
  value       = module.elasticache.primary_endpoint
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager secret of the Redis AUTH token."
  value       = module.elasticache.auth_secret_arn
}
