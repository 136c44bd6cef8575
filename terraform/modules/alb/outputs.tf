output "lb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "lb_arn_suffix" {
  description = "ARN suffix of the load balancer (for CloudWatch metrics and scaling policies)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "Public DNS name of the load balancer (point a CNAME or alias record at it)."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 hosted zone ID of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "Security group of the load balancer (the application accepts traffic from it only)."
  value       = aws_security_group.this.id
}

output "listener_ports" {
  description = "Ports open on the load balancer."
  value       = local.listener_ports
}

output "target_group_arn" {
  description = "ARN of the target group of the application instances."
  value       = aws_lb_target_group.app.arn
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (for the requests-per-target scaling metric)."
  value       = aws_lb_target_group.app.arn_suffix
}

output "health_check_path" {
  description = "Path of the target health check."
  value       = aws_lb_target_group.app.health_check[0].path
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener, null without a certificate."
  value       = one(aws_lb_listener.https[*].arn)
}

output "http_listener_arn" {
  description = "ARN of the port-80 listener."
  value       = aws_lb_listener.http.arn
}

output "access_logs_bucket" {
  description = "S3 bucket holding the access logs."
  value       = aws_s3_bucket.access_logs.id
}

output "web_acl_arn" {
  description = "ARN of the WAFv2 web ACL, null when WAF is off."
  value       = one(aws_wafv2_web_acl.this[*].arn)
}

output "idle_timeout" {
  description = "Idle timeout of the load balancer in seconds (the application's keep-alive must exceed it)."
  value       = aws_lb.this.idle_timeout
}

output "blocked_paths" {
  description = "Path patterns answered 404 by the load balancer itself (never forwarded), per forwarding listener."
  value       = { for k in keys(aws_lb_listener_rule.blocked_paths) : k => var.blocked_paths }
}
