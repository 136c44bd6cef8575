# The whole stack, planned and "applied" against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/mocks"
}

# Distinct security-group IDs, so that "the cache accepts the app's group"
# cannot pass by accident (a plain mock would give every group the same kind
# of random ID).
override_resource {
  target = module.app.aws_security_group.this
  values = { id = "sg-0aaaaaaaaaaaaaaa1" }
}

override_resource {
  target = module.alb.aws_security_group.this
  values = { id = "sg-0bbbbbbbbbbbbbbb2" }
}

override_resource {
  target = module.redis.aws_security_group.this
  values = { id = "sg-0ccccccccccccccc3" }
}

override_resource {
  target = module.postgres.aws_security_group.this
  values = { id = "sg-0ddddddddddddddd4" }
}

variables {
  image           = "ghcr.io/example/flashsale:1.0.0"
  ami_id          = "ami-0123456789abcdef0"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0d4f4a8e-1b2c-4d3e-9f40-5a6b7c8d9e0f"
}

run "full_stack" {
  command = apply

  assert {
    condition = (
      module.app.container_settings["FLASHSALE_OIDC_ISSUER"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123" &&
      module.app.container_settings["FLASHSALE_OIDC_ISSUER"] == output.oidc_issuer &&
      module.app.container_settings["FLASHSALE_OIDC_AUDIENCE"] == module.identity.client_id &&
      output.oidc_audience == output.oidc_client_id
    )
    error_message = "The instances must get the Cognito pool's issuer and, as audience, the buyer page's app client id."
  }

  assert {
    condition     = output.sign_in_callback == "https://flashsale-1234567890.eu-west-1.elb.amazonaws.com/wait/signed-in" && startswith(output.sign_in_url, "https://flashsale-buyers-")
    error_message = "Without public_url the buyer page's callback is the load balancer's HTTPS URL + /wait/signed-in."
  }

  assert {
    condition     = toset(module.app.autoscaling_group_subnet_ids) == toset(module.network.private_subnet_ids) && length(module.app.autoscaling_group_subnet_ids) == 3
    error_message = "The Auto Scaling group must span the 3 private subnets."
  }

  assert {
    condition     = length(setintersection(toset(module.app.autoscaling_group_subnet_ids), toset(module.network.public_subnet_ids))) == 0
    error_message = "No instance may launch into a public subnet."
  }

  assert {
    condition     = length(distinct(module.network.private_subnet_azs)) == 3 && toset(module.network.private_subnet_azs) == toset(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    error_message = "The private subnets must cover 3 availability zones."
  }

  assert {
    condition     = module.redis.ingress_source_security_group_ids == [module.app.security_group_id] && module.app.security_group_id == "sg-0aaaaaaaaaaaaaaa1"
    error_message = "Redis must be reachable from the application's security group only."
  }

  assert {
    condition     = module.redis.security_group_id != module.alb.security_group_id && !contains(module.redis.ingress_source_security_group_ids, module.alb.security_group_id)
    error_message = "The load balancer must not reach Redis."
  }

  assert {
    condition     = module.redis.at_rest_encryption_enabled && module.redis.transit_encryption_mode == "required"
    error_message = "Redis must be encrypted at rest and require TLS in transit."
  }

  assert {
    condition     = module.redis.maxmemory_policy == "noeviction"
    error_message = "Redis must never evict keys (noeviction)."
  }

  assert {
    condition     = module.app.metadata_http_tokens == "required"
    error_message = "Instances must require IMDSv2."
  }

  assert {
    condition     = module.app.associate_public_ip_address == "false" && module.app.root_volume_encrypted == "true"
    error_message = "Instances get no public IP and an encrypted root volume."
  }

  assert {
    condition     = module.alb.health_check_path == "/health/ready"
    error_message = "The target group must check the readiness endpoint."
  }

  assert {
    condition     = toset(module.alb.listener_ports) == toset([80, 443])
    error_message = "The load balancer listens on 80 (redirect) and 443."
  }

  assert {
    condition     = module.redis.cluster_mode_enabled && module.app.container_settings["FLASHSALE_REDIS_CLUSTER"] == "true" && module.app.container_settings["FLASHSALE_DURABILITY"] == "replicated" && startswith(output.redis_endpoint, "clustercfg.")
    error_message = "The example runs ElastiCache in cluster mode, and the API must know it (configuration endpoint)."
  }

  assert {
    condition     = output.alb_dns_name != "" && startswith(output.url, "https://") && endswith(output.redis_endpoint, ":6379") && output.asg_name == "flashsale-api"
    error_message = "The outputs must give the ALB DNS name, the Redis endpoint and the ASG name."
  }

  # Issue 14: readiness (needs Redis) routes traffic; it never replaces instances.
  assert {
    condition     = module.alb.health_check_path == "/health/ready" && module.app.health_check_type == "EC2"
    error_message = "The ALB must route on /health/ready while the group replaces instances on EC2 status only."
  }

  assert {
    condition     = module.alb.idle_timeout == 60 && module.app.container_settings["FLASHSALE_KEEPALIVE_S"] == "75"
    error_message = "The API keep-alive (75 s) must outlive the ALB idle timeout (60 s)."
  }

  assert {
    condition     = module.alb.blocked_paths["https"] == tolist(["/metrics", "/metrics/*"])
    error_message = "/metrics must not be routed through the public load balancer."
  }

  assert {
    condition     = length(module.redis.alarm_names) == 36 && module.redis.final_snapshot_identifier == "flashsale-redis-final"
    error_message = "9 cache nodes x 4 alarms, and a final snapshot named after the deployment."
  }

  assert {
    condition     = module.postgres.ingress_source_security_group_ids == [module.app.security_group_id] && module.postgres.security_group_id == "sg-0ddddddddddddddd4"
    error_message = "PostgreSQL must be reachable from the application's security group only."
  }

  assert {
    condition     = module.app.exporter_enabled && output.database_endpoint == "flashsale.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432"
    error_message = "Every API instance runs the exporter against the example's database."
  }

  assert {
    condition     = !strcontains(jsonencode(module.app.container_settings), "postgresql://")
    error_message = "The database URL (with its password) is assembled on the instance, never in user data."
  }

  assert {
    condition     = output.database_secret_arn == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123abcd-AbCdEf"
    error_message = "The managed database secret must be exposed for operators."
  }

  assert {
    condition     = length(module.alerting) == 0 && output.alert_topic_arn == null
    error_message = "Without an AMP workspace no rule groups or alert topic are created."
  }
}

# The alert rules reach production: with an AMP remote-write URL, every rule
# file of observability/prometheus/rules becomes a namespace holding that file,
# and the workspace's alert manager publishes to the encrypted SNS topic.
run "alert_rules_on_managed_prometheus" {
  command = apply

  variables {
    prometheus_remote_write_url = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789/api/v1/remote_write"
    alert_email                 = "oncall@example.com"
  }

  assert {
    condition = (
      length(module.alerting) == 1 &&
      toset(keys(module.alerting[0].rule_group_data)) == toset([for f in fileset("../../../observability/prometheus/rules", "*.yml") : trimsuffix(f, ".yml")]) &&
      length(module.alerting[0].rule_group_data) == 3
    )
    error_message = "Every rule file (alerts, recording, slo) needs a rule group namespace on the workspace."
  }

  assert {
    condition = alltrue([
      for f in fileset("../../../observability/prometheus/rules", "*.yml") :
      module.alerting[0].rule_group_data[trimsuffix(f, ".yml")] == file("../../../observability/prometheus/rules/${f}")
    ])
    error_message = "Each namespace must hold its rule file unchanged."
  }

  assert {
    condition     = module.alerting[0].workspace_arn == "arn:aws:aps:eu-west-1:123456789012:workspace/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    error_message = "The rules must go on the workspace the collectors write to."
  }

  assert {
    condition = (
      output.alert_topic_arn == module.alerting[0].topic_arn &&
      strcontains(module.alerting[0].alert_manager_definition, output.alert_topic_arn) &&
      alltrue([for r in yamldecode(yamldecode(module.alerting[0].alert_manager_definition).alertmanager_config).receivers : r.sns_configs[0].topic_arn == output.alert_topic_arn])
    )
    error_message = "The alert manager definition must publish to the alert topic, which is an output."
  }
}

run "rejects_managed_prometheus_in_another_region" {
  command = plan
  variables {
    prometheus_remote_write_url = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0a1b2c3d/api/v1/remote_write"
  }
  expect_failures = [var.prometheus_remote_write_url]
}

run "without_cluster_mode" {
  command = apply

  variables {
    redis_cluster_mode_enabled = false
    nat_gateway_mode           = "single"
    sale_windows               = [{ name = "winter-drop", start = "2030-12-24T18:00:00Z", end = "2030-12-24T19:00:00Z", desired_capacity = 9 }]
    warm_pool                  = { min_size = 3 }
  }

  assert {
    condition     = module.app.sale_schedules["winter-drop"].scale_out_at == "2030-12-24T17:45:00Z" && module.app.sale_schedules["winter-drop"].scale_in_at == "2030-12-24T19:30:00Z" && length(module.app.sale_schedules["winter-drop"].scheduled) == 2
    error_message = "A sale window must reach the app module's schedules."
  }

  assert {
    condition     = !module.redis.cluster_mode_enabled && module.app.container_settings["FLASHSALE_REDIS_CLUSTER"] == "false" && startswith(output.redis_endpoint, "master.")
    error_message = "Without cluster mode the API must use the primary endpoint and FLASHSALE_REDIS_CLUSTER=false."
  }

  assert {
    condition     = length(module.network.nat_gateway_ids) == 1
    error_message = "nat_gateway_mode must reach the network module."
  }
}



run "rejects_keepalive_below_idle_timeout" {
  command = plan
  variables {
    alb_idle_timeout_s = 90
  }
  expect_failures = [var.api_keepalive_s]
}

run "rejects_unpinned_ami" {
  command = plan
  variables {
    ami_id = "al2023-latest"
  }
  expect_failures = [var.ami_id]
}

run "demo_plain_http" {
  command = apply

  variables {
    certificate_arn  = null
    allow_plain_http = true
  }

  assert {
    condition     = toset(module.alb.listener_ports) == toset([80]) && startswith(output.url, "http://")
    error_message = "Demo mode serves plain HTTP only."
  }

  assert {
    condition     = output.sign_in_callback == "http://localhost:8080/wait/signed-in"
    error_message = "Over plain HTTP Cognito takes a localhost callback only (the demo signs in through a port forward)."
  }
}

run "public_url_names_the_callback" {
  command = plan

  variables {
    public_url = "https://shop.example"
  }

  assert {
    condition     = output.sign_in_callback == "https://shop.example/wait/signed-in"
    error_message = "The callback must be public_url + /wait/signed-in."
  }
}

run "the_shops_own_identity_provider" {
  command = apply

  variables {
    identity_issuer_url = "https://login.shop.example/"
    identity_audience   = "https://api.shop.example"
  }

  assert {
    condition = (
      module.app.container_settings["FLASHSALE_OIDC_ISSUER"] == "https://login.shop.example/" &&
      module.app.container_settings["FLASHSALE_OIDC_AUDIENCE"] == "https://api.shop.example" &&
      module.identity.user_pool_id == null && output.oidc_client_id == null && output.sign_in_callback == null
    )
    error_message = "With the shop's own provider the instances get its issuer and audience, and no Cognito pool exists."
  }
}

run "rejects_an_identity_issuer_without_audience" {
  command = plan

  variables {
    identity_issuer_url = "https://login.shop.example/"
  }

  expect_failures = [var.identity_audience]
}

run "explicit_zones" {
  command = plan

  variables {
    azs = ["us-east-1a", "us-east-1b", "us-east-1d"]
  }

  assert {
    condition     = module.network.azs == tolist(["us-east-1a", "us-east-1b", "us-east-1d"])
    error_message = "Given zones must be used as they are."
  }
}

run "rejects_missing_certificate" {
  command = plan
  variables {
    certificate_arn = null
  }
  # Plain HTTP only with the demo switch on.
  expect_failures = [var.certificate_arn]
}

run "rejects_bad_region" {
  command = plan
  variables {
    region = "Ireland"
  }
  expect_failures = [var.region]
}

run "rejects_bad_vpc_cidr" {
  command = plan
  variables {
    vpc_cidr = "10.40.0.0/33"
  }
  expect_failures = [var.vpc_cidr]
}

run "rejects_two_zones" {
  command = plan
  variables {
    azs = ["eu-west-1a", "eu-west-1b"]
  }
  expect_failures = [var.azs]
}

run "rejects_desired_above_max" {
  command = plan
  variables {
    max_size         = 4
    desired_capacity = 5
  }
  expect_failures = [var.desired_capacity]
}

run "rejects_bad_instance_type" {
  command = plan
  variables {
    instance_type = "t3-small"
  }
  expect_failures = [var.instance_type]
}

run "rejects_redis_without_replica" {
  command = plan
  variables {
    redis_replicas_per_node_group = 0
  }
  expect_failures = [var.redis_replicas_per_node_group]
}

run "rejects_latest_image" {
  command = plan
  variables {
    image = "ghcr.io/example/flashsale:latest"
  }
  expect_failures = [var.image]
}
