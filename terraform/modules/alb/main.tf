locals {
  https_enabled = var.certificate_arn != null
  # Port 80 forwards to the targets only in demo mode; otherwise it redirects.
  http_forwards  = var.allow_plain_http
  listener_ports = local.https_enabled ? [80, 443] : [80]

  # Listeners that forward to the application, and so need the blocked paths.
  forwarding_listeners = merge(
    local.https_enabled ? { https = aws_lb_listener.https[0].arn } : {},
    local.http_forwards ? { http = aws_lb_listener.http.arn } : {},
  )
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_150:Deletion protection is the enable_deletion_protection variable (default true); the example turns it off so that `terraform destroy` removes everything.
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.this.id]
  subnets            = var.public_subnet_ids

  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  enable_http2               = true
  idle_timeout               = var.idle_timeout
  enable_deletion_protection = var.enable_deletion_protection

  access_logs {
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = local.access_logs_prefix
    enabled = true
  }

  tags = merge(var.tags, { Name = var.name })

  # The load balancer checks that it may write to the bucket when logging is enabled.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "app" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; the hop to the instances stays in the private subnets, limited by security groups to the ALB, and the API serves plain HTTP on port 8000.
  # The port is part of the name so that a port change can create the new
  # group before the old one is destroyed.
  name                 = "${var.name}-${var.target_port}"
  port                 = var.target_port
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check_path
    matcher             = "200"
    interval            = var.health_check_interval
    timeout             = min(5, var.health_check_interval - 1)
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  tags = merge(var.tags, { Name = "${var.name}-${var.target_port}" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  count = local.https_enabled ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }

  tags = var.tags
}

# Port 80: a permanent redirect to HTTPS, or (demo only) the application itself.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.http_forwards ? "forward" : "redirect"
    target_group_arn = local.http_forwards ? aws_lb_target_group.app.arn : null

    dynamic "redirect" {
      for_each = local.http_forwards ? [] : [1]
      content {
        protocol    = "HTTPS"
        port        = "443"
        status_code = "HTTP_301"
      }
    }
  }

  tags = var.tags
}

# The API's own /metrics (per-sale counters, process internals) is not for the
# internet: the collector on each instance scrapes it on the loopback
# interface. The load balancer answers these paths itself.
resource "aws_lb_listener_rule" "blocked_paths" {
  for_each = local.forwarding_listeners

  listener_arn = each.value
  priority     = 1

  condition {
    path_pattern {
      values = var.blocked_paths
    }
  }

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "application/json"
      status_code  = "404"
      message_body = jsonencode({ type = "about:blank", title = "Not Found", status = 404 })
    }
  }

  tags = var.tags
}
