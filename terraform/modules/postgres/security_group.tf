resource "aws_security_group" "this" {
  name_prefix = "${var.name}-postgres-"
  description = "${var.name}: orders database, reachable from the application instances only"
  vpc_id      = var.vpc_id

  # No egress rules: the database never opens connections.

  tags = merge(var.tags, { Name = "${var.name}-postgres" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_app" {
  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL (TLS) from the application instances (API and exporter)"
  referenced_security_group_id = var.app_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port

  tags = var.tags
}
