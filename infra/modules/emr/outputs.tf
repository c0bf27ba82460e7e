output "cluster_id" {
  description = "The long-running cluster's id (spark.emr_cluster_id), or empty for transient clusters."
  value       = var.create_cluster ? aws_emr_cluster.this[0].id : ""
}

output "cluster_arn" {
  description = "ARN of the long-running cluster, or null."
  value       = var.create_cluster ? aws_emr_cluster.this[0].arn : null
}

output "service_role_name" {
  description = "EMR service role (spark.emr_service_role)."
  value       = aws_iam_role.service.name
}

output "service_role_arn" {
  description = "EMR service role ARN."
  value       = aws_iam_role.service.arn
}

output "instance_profile_name" {
  description = "EC2 instance profile of the nodes (spark.emr_job_flow_role)."
  value       = aws_iam_instance_profile.instance.name
}

output "instance_role_arn" {
  description = "Role of the nodes."
  value       = aws_iam_role.instance.arn
}

output "security_configuration" {
  description = "Security configuration of every cluster."
  value       = aws_emr_security_configuration.this.name
}
