output "instance_arn" {
  description = "ARN of the instance (cross-region backup replication)."
  value       = aws_db_instance.this.arn
}

output "endpoint" {
  description = "host:port of the instance (goes into DATABASE_URL in Vault)."
  value       = aws_db_instance.this.endpoint
}

output "database_name" {
  description = "The portal's database."
  value       = aws_db_instance.this.db_name
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master password (RDS rotates it)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}
