output "topic_arn" {
  description = "SNS topic the workspace's alert manager publishes every alert to (subscribe paging or chat to it)."
  value       = aws_sns_topic.alerts.arn
}

output "kms_key_arn" {
  description = "Customer managed key of the alert topic."
  value       = aws_kms_key.alerts.arn
}

output "rule_group_namespaces" {
  description = "Rule group namespaces on the workspace, one per rule file (name => namespace ARN)."
  value       = { for k, ns in aws_prometheus_rule_group_namespace.this : k => ns.arn }
}

output "workspace_arn" {
  description = "ARN of the workspace the rules and the alert manager definition are on."
  value       = local.workspace_arn
}

output "rule_group_data" {
  description = "Content deployed in each rule group namespace (name => data): the rule files as they are."
  value       = { for k, ns in aws_prometheus_rule_group_namespace.this : k => ns.data }
}

output "alert_manager_definition" {
  description = "Alert manager definition put on the workspace (YAML: alertmanager_config)."
  value       = aws_prometheus_alert_manager_definition.this.definition
}
