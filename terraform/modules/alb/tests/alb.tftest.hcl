mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name               = "fs-test"
  vpc_id             = "vpc-0a1b2c3d4e5f60718"
  public_subnet_ids  = ["subnet-0000000000000000a", "subnet-0000000000000000b", "subnet-0000000000000000c"]
  target_cidr_blocks = ["10.40.48.0/20", "10.40.64.0/20", "10.40.80.0/20"]
  certificate_arn    = "arn:aws:acm:eu-west-1:123456789012:certificate/0d4f4a8e-1b2c-4d3e-9f40-5a6b7c8d9e0f"
}

run "metrics_not_routed_through_the_alb" {
  command = apply

  assert {
    condition = (
      length(aws_lb_listener_rule.blocked_paths) == 1 &&
      aws_lb_listener_rule.blocked_paths["https"].listener_arn == aws_lb_listener.https[0].arn &&
      aws_lb_listener_rule.blocked_paths["https"].priority == 1 &&
      toset(one(aws_lb_listener_rule.blocked_paths["https"].condition).path_pattern[0].values) == toset(["/metrics", "/metrics/*"])
    )
    error_message = "The HTTPS listener must stop /metrics before any forwarding rule."
  }

  assert {
    condition = (
      aws_lb_listener_rule.blocked_paths["https"].action[0].type == "fixed-response" &&
      aws_lb_listener_rule.blocked_paths["https"].action[0].fixed_response[0].status_code == "404" &&
      aws_lb_listener_rule.blocked_paths["https"].action[0].target_group_arn == null
    )
    error_message = "/metrics must get a 404 from the load balancer itself, never reach a target."
  }

  assert {
    condition     = output.idle_timeout == 60
    error_message = "The idle timeout (60 s) must be exposed for the keep-alive check of the app module."
  }
}

run "metrics_blocked_on_plain_http_too" {
  command = apply

  variables {
    certificate_arn  = null
    allow_plain_http = true
  }

  assert {
    condition     = keys(aws_lb_listener_rule.blocked_paths) == ["http"] && aws_lb_listener_rule.blocked_paths["http"].action[0].fixed_response[0].status_code == "404"
    error_message = "A forwarding port-80 listener (demo) must block /metrics as well."
  }
}

run "rejects_too_many_blocked_paths" {
  command = plan
  variables {
    blocked_paths = ["/a", "/b", "/c", "/d", "/e", "/f"]
  }
  expect_failures = [var.blocked_paths]
}

run "https_redirect_and_hardening" {
  command = apply

  assert {
    condition = (
      aws_lb_listener.https[0].port == 443 &&
      aws_lb_listener.https[0].protocol == "HTTPS" &&
      aws_lb_listener.https[0].certificate_arn == var.certificate_arn &&
      startswith(aws_lb_listener.https[0].ssl_policy, "ELBSecurityPolicy-TLS13-") &&
      aws_lb_listener.https[0].default_action[0].target_group_arn == aws_lb_target_group.app.arn
    )
    error_message = "The HTTPS listener must use the certificate, a TLS 1.3 policy and forward to the application."
  }

  assert {
    condition = (
      aws_lb_listener.http.port == 80 &&
      aws_lb_listener.http.default_action[0].type == "redirect" &&
      aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS" &&
      aws_lb_listener.http.default_action[0].redirect[0].port == "443" &&
      aws_lb_listener.http.default_action[0].redirect[0].status_code == "HTTP_301"
    )
    error_message = "Port 80 must permanently redirect to HTTPS."
  }

  assert {
    condition     = aws_lb_target_group.app.health_check[0].path == "/health/ready" && aws_lb_target_group.app.health_check[0].matcher == "200" && aws_lb_target_group.app.port == 8000
    error_message = "The target group must check /health/ready on the application port."
  }

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields && aws_lb.this.internal == false && aws_lb.this.load_balancer_type == "application"
    error_message = "The ALB must be internet-facing and drop invalid header fields."
  }

  assert {
    condition     = aws_lb.this.enable_deletion_protection
    error_message = "Deletion protection must be on by default."
  }

  assert {
    condition     = aws_lb.this.access_logs[0].enabled && aws_lb.this.access_logs[0].bucket == aws_s3_bucket.access_logs.id
    error_message = "Access logs must go to the module's bucket."
  }

  assert {
    condition     = toset(aws_lb.this.subnets) == toset(var.public_subnet_ids)
    error_message = "The ALB must sit in the public subnets."
  }

  assert {
    condition = (
      toset([for r in aws_vpc_security_group_ingress_rule.listeners : r.from_port]) == toset([80, 443]) &&
      alltrue([for r in aws_vpc_security_group_ingress_rule.listeners : r.from_port == r.to_port && r.ip_protocol == "tcp"]) &&
      length(aws_security_group.this.ingress) == 0
    )
    error_message = "The ALB security group must open TCP 80 and 443 only."
  }

  assert {
    condition     = alltrue([for r in aws_vpc_security_group_egress_rule.targets : r.from_port == 8000 && r.to_port == 8000 && contains(var.target_cidr_blocks, r.cidr_ipv4)])
    error_message = "The ALB may only send to the application port in the target subnets."
  }

  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.access_logs.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256" &&
      aws_s3_bucket_public_access_block.access_logs.block_public_acls &&
      aws_s3_bucket_public_access_block.access_logs.block_public_policy &&
      aws_s3_bucket_public_access_block.access_logs.ignore_public_acls &&
      aws_s3_bucket_public_access_block.access_logs.restrict_public_buckets &&
      aws_s3_bucket_versioning.access_logs.versioning_configuration[0].status == "Enabled"
    )
    error_message = "The log bucket must be encrypted, versioned and fully private."
  }

  assert {
    condition     = contains([for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement : s.Sid], "DenyInsecureTransport")
    error_message = "The log bucket must refuse requests without TLS."
  }

  assert {
    condition     = aws_wafv2_web_acl_association.this[0].resource_arn == aws_lb.this.arn && length(aws_wafv2_web_acl.this[0].rule) == 5
    error_message = "The WAF web ACL (4 managed groups + rate limit) must be attached to the ALB."
  }
}

run "waf_lets_load_tests_from_clouds_through" {
  command = plan

  variables {
    waf_block_hosting_providers = false
    waf_rate_limit              = null
  }

  assert {
    condition = toset(flatten([
      for r in aws_wafv2_web_acl.this[0].rule : [
        for s in r.statement : [
          for m in s.managed_rule_group_statement : m.rule_action_override[*].name
        ]
      ] if r.name == "AWSManagedRulesAnonymousIpList"
    ])) == toset(["AnonymousIPList", "HostingProviderIPList"])
    error_message = "With waf_block_hosting_providers = false, hosting-provider addresses must only be counted."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.this[0].rule) == 4
    error_message = "waf_rate_limit = null must drop the rate rule."
  }
}

run "demo_plain_http" {
  command = apply

  variables {
    certificate_arn            = null
    allow_plain_http           = true
    enable_deletion_protection = false
    enable_waf                 = false
  }

  assert {
    condition     = length(aws_lb_listener.https) == 0 && aws_lb_listener.http.default_action[0].type == "forward" && aws_lb_listener.http.default_action[0].target_group_arn == aws_lb_target_group.app.arn
    error_message = "Demo mode without a certificate serves the application on port 80."
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.listeners : r.from_port]) == toset([80])
    error_message = "Without HTTPS only port 80 is open."
  }

  assert {
    condition     = aws_lb.this.enable_deletion_protection == false && length(aws_wafv2_web_acl.this) == 0
    error_message = "Deletion protection and WAF follow their variables."
  }
}

run "rejects_http_without_certificate" {
  command = plan
  variables {
    certificate_arn = null
  }
  expect_failures = [var.certificate_arn]
}

run "rejects_malformed_certificate_arn" {
  command = plan
  variables {
    certificate_arn = "arn:aws:iam::123456789012:server-certificate/flashsale"
  }
  expect_failures = [var.certificate_arn]
}

run "rejects_port_out_of_range" {
  command = plan
  variables {
    target_port = 70000
  }
  expect_failures = [var.target_port]
}

run "rejects_cidr_without_prefix" {
  command = plan
  variables {
    ingress_cidr_blocks = ["0.0.0.0"]
  }
  expect_failures = [var.ingress_cidr_blocks]
}

run "rejects_relative_health_path" {
  command = plan
  variables {
    health_check_path = "health/ready"
  }
  expect_failures = [var.health_check_path]
}

run "rejects_legacy_tls_policy" {
  command = plan
  variables {
    ssl_policy = "ELBSecurityPolicy-2016-08"
  }
  expect_failures = [var.ssl_policy]
}

run "rejects_long_name" {
  command = plan
  variables {
    name = "a-very-long-flash-sale-name-for-an-alb"
  }
  expect_failures = [var.name]
}

run "rejects_tiny_rate_limit" {
  command = plan
  variables {
    waf_rate_limit = 5
  }
  expect_failures = [var.waf_rate_limit]
}
