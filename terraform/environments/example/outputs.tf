output "alb_dns_name" {
  description = "DNS name of the load balancer: point your domain (CNAME or alias) at it."
  value       = module.alb.dns_name
}

output "url" {
  description = "Base URL of the API."
  value       = "${var.certificate_arn != null ? "https" : "http"}://${module.alb.dns_name}"
}

output "redis_endpoint" {
  description = "ElastiCache endpoint (primary, or configuration endpoint in cluster mode), TLS and AUTH required."
  value       = "${module.redis.endpoint_address}:${module.redis.port}"
}

output "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret with the Redis AUTH token."
  value       = module.redis.auth_token_secret_arn
}

output "admin_token_secret_arn" {
  description = "Secrets Manager secret with FLASHSALE_ADMIN_TOKEN."
  value       = module.app.admin_token_secret_arn
}

output "asg_name" {
  description = "Name of the Auto Scaling group of the API instances."
  value       = module.app.autoscaling_group_name
}

output "app_log_group" {
  description = "CloudWatch Logs group of the API containers."
  value       = module.app.log_group_name
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "nat_public_ips" {
  description = "Egress addresses of the private subnets."
  value       = module.network.nat_public_ips
}

output "database_endpoint" {
  description = "PostgreSQL endpoint of the orders database (TLS required, private subnets only)."
  value       = "${module.postgres.address}:${module.postgres.port}"
}

output "database_secret_arn" {
  description = "RDS-managed Secrets Manager secret with the database master user and password."
  value       = module.postgres.master_user_secret_arn
}

output "redis_alarm_topic_arn" {
  description = "SNS topic of the ElastiCache alarms (subscribe paging or chat to it)."
  value       = module.redis.alarm_topic_arn
}

output "ami_ssm_parameter_name" {
  description = "SSM parameter to look the next Amazon Linux 2023 AMI up from (then set ami_id and apply)."
  value       = module.app.ami_ssm_parameter_name
}

output "alert_topic_arn" {
  description = "SNS topic the Amazon Managed Prometheus alert manager publishes every alert to (subscribe paging or chat to it); null without an AMP workspace."
  value       = one(module.alerting[*].topic_arn)
}

output "oidc_issuer" {
  description = "FLASHSALE_OIDC_ISSUER of the instances: the Cognito user pool's issuer, or identity_issuer_url."
  value       = module.identity.issuer_url
}

output "oidc_audience" {
  description = "FLASHSALE_OIDC_AUDIENCE of the instances: the Cognito app client id, or identity_audience."
  value       = module.identity.audience
}

output "oidc_client_id" {
  description = "client_id of the buyer page at Cognito (null with the shop's own provider)."
  value       = module.identity.client_id
}

output "sign_in_url" {
  description = "Base URL of Cognito's hosted sign-in page (/oauth2/authorize, /oauth2/token); null with the shop's own provider."
  value       = module.identity.sign_in_url
}

output "sign_in_callback" {
  description = "The buyer page's sign-in callback registered with Cognito."
  value       = var.identity_issuer_url == null ? local.sign_in_callback : null
}
