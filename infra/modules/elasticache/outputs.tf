output "primary_endpoint" {
  description = "Primary endpoint (REDIS_URL is rediss://:<token>@<this>:6379/0)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "auth_secret_arn" {
  description = "Secrets Manager secret holding the AUTH token."
  value       = aws_secretsmanager_secret.auth.arn
}
