# What helm/ecap-portal/values-prod.yaml and Vault need (docs/deployment.md, "Wire the outputs").

output "cluster_name" {
  description = "EKS cluster (aws eks update-kubeconfig --name <this>)."
  value       = module.eks.cluster_name
}

output "vpc_cidr" {
  description = "Helm: networkPolicy.vpcCidr."
  value       = module.vpc.vpc_cidr
}

output "portal_role_arn" {
  description = "Helm: serviceAccount.roleArn."
  value       = module.iam.portal_role_arn
}

output "ecr_repository_url" {
  description = "Helm: image.repository."
  value       = aws_ecr_repository.portal.repository_url
}

output "lake_bucket" {
  description = "Helm: config.lake.root (s3://<this>) and config.spark.emr_bucket."
  value       = module.s3.lake_bucket
}

output "audit_anchor_bucket" {
  description = "Helm: config.audit.anchor_s3_bucket."
  value       = module.s3.anchor_bucket
}

output "emr_cluster_id" {
  description = "Helm: config.spark.emr_cluster_id (empty: the portal starts transient clusters)."
  value       = module.emr.cluster_id
}

output "emr_service_role" {
  description = "Helm: config.spark.emr_service_role."
  value       = module.emr.service_role_name
}

output "emr_job_flow_role" {
  description = "Helm: config.spark.emr_job_flow_role."
  value       = module.emr.instance_profile_name
}

output "database_endpoint" {
  description = "Vault ecap-bootstrap/production/database url: postgres://<user>:<password>@<this>/ecap?sslmode=verify-full."
  value       = module.rds.endpoint
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret of the master password (create the portal's own user with it)."
  value       = module.rds.master_user_secret_arn
}

output "redis_endpoint" {
  description = "Vault ecap-bootstrap/production/redis url: rediss://:<token>@<this>:6379/0."
  value       = module.elasticache.primary_endpoint
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager secret of the Redis AUTH token."
  value       = module.elasticache.auth_secret_arn
}
