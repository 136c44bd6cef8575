resource "aws_security_group" "this" {
  name_prefix = "${var.name}-api-"
  description = "${var.name}: API instances, traffic from the ALB only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-api" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  security_group_id            = aws_security_group.this.id
  description                  = "API requests and health checks from the load balancer"
  referenced_security_group_id = var.alb_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "to_redis" {
  security_group_id            = aws_security_group.this.id
  description                  = "Redis (TLS) to the cache"
  referenced_security_group_id = var.redis_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.redis_port
  to_port                      = var.redis_port

  tags = var.tags
}

# HTTPS out through the NAT gateway: image registry, OS packages, Secrets
# Manager, CloudWatch Logs, SSM. (DNS and NTP go to VPC link-local
# addresses that security groups do not filter.)
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to registries and AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "to_database" {
  count = local.database_enabled ? 1 : 0

  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL (TLS) to the orders database"
  referenced_security_group_id = var.database.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.database.port
  to_port                      = var.database.port

  tags = var.tags
}
