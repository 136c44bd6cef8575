output "replication_group_id" {
  description = "ID of the ElastiCache replication group."
  value       = aws_elasticache_replication_group.this.id
}

output "replication_group_arn" {
  description = "ARN of the ElastiCache replication group."
  value       = aws_elasticache_replication_group.this.arn
}

output "endpoint_address" {
  description = "Address clients connect to: the primary endpoint, or the configuration endpoint in cluster mode."
  value = (var.cluster_mode_enabled
    ? aws_elasticache_replication_group.this.configuration_endpoint_address
  : aws_elasticache_replication_group.this.primary_endpoint_address)
}

output "reader_endpoint_address" {
  description = "Reader endpoint (cluster mode disabled only, otherwise null)."
  value       = var.cluster_mode_enabled ? null : aws_elasticache_replication_group.this.reader_endpoint_address
}

output "port" {
  description = "Port of the cache."
  value       = var.port
}

output "cluster_mode_enabled" {
  description = "Whether the cache runs in cluster mode (set FLASHSALE_REDIS_CLUSTER to match)."
  value       = var.cluster_mode_enabled
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.this.id
}

output "ingress_source_security_group_ids" {
  description = "Security groups allowed to reach the cache port (exactly the application's)."
  value       = [aws_vpc_security_group_ingress_rule.from_app.referenced_security_group_id]
}

output "auth_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the AUTH token (a plain string)."
  value       = aws_secretsmanager_secret.auth_token.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the cache at rest and the auth-token secret."
  value       = aws_kms_key.this.arn
}

output "parameter_group_name" {
  description = "Name of the parameter group (maxmemory-policy noeviction)."
  value       = aws_elasticache_parameter_group.this.name
}

output "at_rest_encryption_enabled" {
  description = "Whether the cache is encrypted at rest (always true, with the module's KMS key)."
  value       = tostring(aws_elasticache_replication_group.this.at_rest_encryption_enabled) == "true"
}

output "transit_encryption_mode" {
  description = "TLS mode of the cache (\"required\": clients must use TLS)."
  value       = aws_elasticache_replication_group.this.transit_encryption_enabled ? aws_elasticache_replication_group.this.transit_encryption_mode : "disabled"
}

output "maxmemory_policy" {
  description = "maxmemory-policy of the parameter group (noeviction)."
  value       = one([for p in aws_elasticache_parameter_group.this.parameter : p.value if p.name == "maxmemory-policy"])
}

output "alarm_topic_arn" {
  description = "SNS topic (KMS-encrypted) the cache alarms publish to: subscribe e-mail, chat or paging to it."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "CloudWatch alarms per node: memory, engine CPU, replication lag and connections."
  value       = sort([for a in aws_cloudwatch_metric_alarm.cache : a.alarm_name])
}

output "node_ids" {
  description = "IDs of the cache nodes the alarms watch (derived from the group name, shards and replicas)."
  value       = local.node_ids
}

output "log_group_names" {
  description = "CloudWatch Logs groups receiving the slow log and the engine log."
  value       = { for k, g in aws_cloudwatch_log_group.cache : k => g.name }
}

output "final_snapshot_identifier" {
  description = "Snapshot taken when the group is destroyed (null: none)."
  value       = aws_elasticache_replication_group.this.final_snapshot_identifier
}
