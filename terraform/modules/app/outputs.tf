output "autoscaling_group_name" {
  description = "Name of the Auto Scaling group."
  value       = aws_autoscaling_group.this.name
}

output "autoscaling_group_arn" {
  description = "ARN of the Auto Scaling group."
  value       = aws_autoscaling_group.this.arn
}

output "autoscaling_group_subnet_ids" {
  description = "Subnets the Auto Scaling group launches into."
  value       = aws_autoscaling_group.this.vpc_zone_identifier
}

output "security_group_id" {
  description = "Security group of the API instances (the cache accepts connections from it only)."
  value       = aws_security_group.this.id
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = aws_launch_template.this.id
}

output "launch_template_latest_version" {
  description = "Latest version of the launch template (a change triggers an instance refresh)."
  value       = aws_launch_template.this.latest_version
}

output "metadata_http_tokens" {
  description = "IMDS token mode of the instances (\"required\" means IMDSv2 only)."
  value       = aws_launch_template.this.metadata_options[0].http_tokens
}

output "associate_public_ip_address" {
  description = "Whether instances get a public address (always false)."
  value       = aws_launch_template.this.network_interfaces[0].associate_public_ip_address
}

output "root_volume_encrypted" {
  description = "Whether the root volume of the instances is encrypted."
  value       = aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted
}

output "iam_role_arn" {
  description = "ARN of the instance role."
  value       = aws_iam_role.instance.arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the container logs."
  value       = aws_cloudwatch_log_group.api.name
}

output "admin_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding FLASHSALE_ADMIN_TOKEN."
  value       = aws_secretsmanager_secret.admin_token.arn
}

output "scaling_policy_arn" {
  description = "ARN of the target-tracking policy on ALB requests per target."
  value       = aws_autoscaling_policy.requests_per_target.arn
}

output "container_settings" {
  description = "Non-secret FLASHSALE_* settings written into user data (FLASHSALE_REDIS_URL and FLASHSALE_ADMIN_TOKEN are assembled on the instance from Secrets Manager)."
  value       = local.settings
}

output "health_check_type" {
  description = "What makes the group replace an instance: \"EC2\" (status checks; the on-instance watchdog reports a dead API). Readiness only routes traffic, through the target group."
  value       = aws_autoscaling_group.this.health_check_type
}

output "cpu_scaling_policy_arn" {
  description = "ARN of the target-tracking policy on average CPU utilization."
  value       = aws_autoscaling_policy.cpu.arn
}

output "sale_schedules" {
  description = "Per sale window: scale-out time and capacity, scale-in time, and the scheduled actions that exist (those in the past are left out)."
  value = {
    for k, w in local.sale_windows : k => {
      scale_out_at     = w.scale_out_at
      scale_in_at      = w.scale_in_at
      min_size         = w.min_size
      desired_capacity = w.desired_capacity
      max_size         = w.max_size
      # Actions whose time has passed are not (re)created.
      scheduled = [for a in [aws_autoscaling_schedule.sale_scale_out, aws_autoscaling_schedule.sale_scale_in] : a[k].scheduled_action_name if contains(keys(a), k)]
    }
  }
}

output "ami_id" {
  description = "AMI the launch template boots (pinned by the ami_id variable)."
  value       = aws_launch_template.this.image_id
}

output "ami_ssm_parameter_name" {
  description = "Public SSM parameter of the current Amazon Linux 2023 AMI for the instance architecture: look it up once, set ami_id, apply (the fleet then rolls through an instance refresh)."
  value       = local.ami_ssm_parameter_name
}

output "exporter_enabled" {
  description = "Whether every instance runs `flashsale export` (flashsale-export.service) beside the API."
  value       = local.exporter_enabled
}

output "collector_enabled" {
  description = "Whether every instance runs the OpenTelemetry collector (flashsale-otel.service)."
  value       = local.collector_enabled
}
