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

variables {
  image           = "ghcr.io/example/flashsale:1.0.0"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0d4f4a8e-1b2c-4d3e-9f40-5a6b7c8d9e0f"
}

run "full_stack" {
  command = apply

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
    condition     = module.app.container_settings["FLASHSALE_REDIS_CLUSTER"] == "false" && module.app.container_settings["FLASHSALE_DURABILITY"] == "replicated"
    error_message = "The API settings must match the cache and the variables."
  }

  assert {
    condition     = output.alb_dns_name != "" && startswith(output.url, "https://") && endswith(output.redis_endpoint, ":6379") && output.asg_name == "flashsale-api"
    error_message = "The outputs must give the ALB DNS name, the Redis endpoint and the ASG name."
  }
}

run "cluster_mode_reaches_the_api" {
  command = apply

  variables {
    redis_cluster_mode_enabled = true
    nat_gateway_mode           = "single"
  }

  assert {
    condition     = module.redis.cluster_mode_enabled && module.app.container_settings["FLASHSALE_REDIS_CLUSTER"] == "true"
    error_message = "Cluster mode must be passed to the API as FLASHSALE_REDIS_CLUSTER=true."
  }

  assert {
    condition     = startswith(output.redis_endpoint, "clustercfg.")
    error_message = "In cluster mode the API must use the configuration endpoint."
  }

  assert {
    condition     = length(module.network.nat_gateway_ids) == 1
    error_message = "nat_gateway_mode must reach the network module."
  }
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
