# What helm/ecap-portal/values-prod.yaml and Vault need (docs/deployment.md, "Wire the outputs").

output "cluster_name" {
  description = "EKS cluster (aws eks update-kubeconfig --name <this>)."
  value       = module.portal.cluster_name
}

output "vpc_cidr" {
  description = "Helm: networkPolicy.vpcCidr."
  value       = module.portal.vpc_cidr
}

output "portal_role_arn" {
  description = "Helm: serviceAccount.roleArn."
  value       = module.portal.portal_role_arn
}

output "ecr_repository_url" {
  description = "Helm: image.repository."
  value       = module.portal.ecr_repository_url
}

output "lake_bucket" {
  description = "Helm: config.lake.root (s3://<this>) and config.spark.emr_bucket."
  value       = module.portal.lake_bucket
}

output "audit_anchor_bucket" {
  description = "Helm: config.audit.anchor_s3_bucket."
  value       = module.portal.audit_anchor_bucket
}

output "emr_cluster_id" {
  description = "Helm: config.spark.emr_cluster_id (empty: the portal starts transient clusters)."
  value       = module.portal.emr_cluster_id
}

output "emr_service_role" {
  description = "Helm: config.spark.emr_service_role."
  value       = module.portal.emr_service_role
}

output "emr_job_flow_role" {
  description = "Helm: config.spark.emr_job_flow_role."
  value       = module.portal.emr_job_flow_role
}

output "database_endpoint" {
  description = "Vault ecap-bootstrap/production/database url: postgres://<user>:<password>@<this>/ecap?sslmode=verify-full."
  value       = module.portal.database_endpoint
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret of the master password (create the portal's own user with it)."
  value       = module.portal.database_master_secret_arn
}

output "redis_endpoint" {
  description = "Vault ecap-bootstrap/production/redis url: rediss://:<token>@<this>:6379/0."
  value       = module.portal.redis_endpoint
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager secret of the Redis AUTH token."
  value       = module.portal.redis_auth_secret_arn
}
