output "instance_id" {
  description = "Identifier of the DB instance."
  value       = aws_db_instance.this.identifier
}

output "arn" {
  description = "ARN of the DB instance."
  value       = aws_db_instance.this.arn
}

output "address" {
  description = "DNS name of the database (follows the primary through a Multi-AZ failover)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = var.port
}

output "database_name" {
  description = "Name of the database holding the orders."
  value       = var.database_name
}

output "master_username" {
  description = "Master user name (its password is only in the master_user_secret_arn secret)."
  value       = var.master_username
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret (JSON with username and password) the instances read at boot."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the storage, the master password secret, Performance Insights and the logs."
  value       = aws_kms_key.this.arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.this.id
}

output "ingress_source_security_group_ids" {
  description = "Security groups allowed to reach the database port (exactly the application's)."
  value       = [aws_vpc_security_group_ingress_rule.from_app.referenced_security_group_id]
}

output "url_without_password" {
  description = "postgresql:// URL without the password (for documentation and tools that add it themselves)."
  value       = "postgresql://${var.master_username}@${aws_db_instance.this.address}:${var.port}/${var.database_name}?sslmode=require"
}

output "log_group_names" {
  description = "CloudWatch Logs groups of the exported PostgreSQL and upgrade logs."
  value       = { for k, g in aws_cloudwatch_log_group.exports : k => g.name }
}
