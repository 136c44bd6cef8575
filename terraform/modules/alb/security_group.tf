resource "aws_security_group" "this" {
  name_prefix = "${var.name}-alb-"
  description = "${var.name}: internet-facing ALB, HTTP/HTTPS in, application port out"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "listeners" {
  for_each = { for pair in setproduct(local.listener_ports, var.ingress_cidr_blocks) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id = aws_security_group.this.id
  description       = each.value[0] == 443 ? "HTTPS from clients" : "HTTP from clients (redirected to HTTPS)"
  cidr_ipv4         = each.value[1]
  ip_protocol       = "tcp"
  from_port         = each.value[0]
  to_port           = each.value[0]

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  for_each = toset(var.target_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "Requests and health checks to the application instances"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.target_port
  to_port           = var.target_port

  tags = var.tags
}
