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
