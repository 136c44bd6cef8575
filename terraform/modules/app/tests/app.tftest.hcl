mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                         = "fs-test"
  vpc_id                       = "vpc-0a1b2c3d4e5f60718"
  private_subnet_ids           = ["subnet-0000000000000000d", "subnet-0000000000000000e", "subnet-0000000000000000f"]
  alb_security_group_id        = "sg-0alb00000000000001"
  target_group_arn             = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/fs-test-8000/943f017f100becff"
  alb_arn_suffix               = "app/fs-test/50dc6c495c0c9188"
  target_group_arn_suffix      = "targetgroup/fs-test-8000/943f017f100becff"
  image                        = "ghcr.io/example/flashsale:1.0.0"
  redis_host                   = "master.fs-test.abcdef.euw1.cache.amazonaws.com"
  redis_security_group_id      = "sg-0redis000000000001"
  redis_auth_token_secret_arn  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:fs-test/redis-auth-token-AbCdEf"
  redis_auth_token_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
}

run "launch_template_hardening" {
  command = apply

  assert {
    condition = (
      aws_launch_template.this.metadata_options[0].http_tokens == "required" &&
      aws_launch_template.this.metadata_options[0].http_endpoint == "enabled" &&
      aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1
    )
    error_message = "Instances must require IMDSv2 tokens, with the metadata service out of the container's reach (hop limit 1)."
  }

  assert {
    condition     = aws_launch_template.this.network_interfaces[0].associate_public_ip_address == "false" && aws_launch_template.this.network_interfaces[0].security_groups == toset([aws_security_group.this.id])
    error_message = "Instances must not get a public IP address."
  }

  assert {
    condition = (
      aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true" &&
      aws_launch_template.this.block_device_mappings[0].device_name == "/dev/xvda"
    )
    error_message = "The root volume must be encrypted."
  }

  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.this.user_data), "--secret-id \"$1\"") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "secret '${var.redis_auth_token_secret_arn}'") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "secret '${aws_secretsmanager_secret.admin_token.arn}'")
    )
    error_message = "User data must read both tokens from Secrets Manager at boot."
  }

  assert {
    condition = (
      !strcontains(base64decode(aws_launch_template.this.user_data), nonsensitive(data.aws_secretsmanager_random_password.admin_token.random_password)) &&
      !strcontains(base64decode(aws_launch_template.this.user_data), nonsensitive(aws_secretsmanager_secret_version.admin_token.secret_string))
    )
    error_message = "No token may be written into user data."
  }

  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.this.user_data), "FLASHSALE_REDIS_CLUSTER=false") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "FLASHSALE_DURABILITY=replicated") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "rediss://:%s@%s:%s/0") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "--publish 8000:8000") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "ghcr.io/example/flashsale:1.0.0")
    )
    error_message = "User data must start the image with the FLASHSALE_* settings and a TLS Redis URL."
  }

  assert {
    condition     = !strcontains(base64decode(aws_launch_template.this.user_data), "docker login")
    error_message = "A non-ECR image needs no registry login."
  }

  assert {
    condition     = aws_launch_template.this.iam_instance_profile[0].arn == aws_iam_instance_profile.instance.arn
    error_message = "Instances must use the module's instance profile."
  }

  assert {
    condition     = aws_launch_template.this.image_id == "ami-0123456789abcdef0"
    error_message = "Without ami_id the launch template must use the AMI published in SSM."
  }

  assert {
    condition     = data.aws_ssm_parameter.al2023[0].name == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    error_message = "t3 instances must boot the x86_64 Amazon Linux 2023 AMI."
  }
}

run "autoscaling_group" {
  command = apply

  assert {
    condition     = toset(aws_autoscaling_group.this.vpc_zone_identifier) == toset(var.private_subnet_ids)
    error_message = "The group must launch into the private subnets."
  }

  assert {
    condition = (
      aws_autoscaling_group.this.health_check_type == "ELB" &&
      aws_autoscaling_group.this.target_group_arns == toset([var.target_group_arn]) &&
      aws_autoscaling_group.this.min_size == 3 && aws_autoscaling_group.this.max_size == 12 && aws_autoscaling_group.this.desired_capacity == 3
    )
    error_message = "The group must use ELB health checks, the target group and the size variables."
  }

  assert {
    condition = (
      aws_autoscaling_group.this.instance_refresh[0].strategy == "Rolling" &&
      aws_autoscaling_group.this.launch_template[0].id == aws_launch_template.this.id &&
      aws_autoscaling_group.this.launch_template[0].version == tostring(aws_launch_template.this.latest_version)
    )
    error_message = "A new launch template version must roll the instances (instance refresh)."
  }

  assert {
    condition = (
      aws_autoscaling_policy.requests_per_target.policy_type == "TargetTrackingScaling" &&
      aws_autoscaling_policy.requests_per_target.target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ALBRequestCountPerTarget" &&
      aws_autoscaling_policy.requests_per_target.target_tracking_configuration[0].predefined_metric_specification[0].resource_label == "app/fs-test/50dc6c495c0c9188/targetgroup/fs-test-8000/943f017f100becff"
    )
    error_message = "Scaling must track ALB requests per target of this target group."
  }
}

run "network_and_iam_least_privilege" {
  command = apply

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.from_alb.referenced_security_group_id == var.alb_security_group_id &&
      aws_vpc_security_group_ingress_rule.from_alb.cidr_ipv4 == null &&
      aws_vpc_security_group_ingress_rule.from_alb.from_port == 8000 &&
      aws_vpc_security_group_ingress_rule.from_alb.to_port == 8000
    )
    error_message = "Instances must accept the application port from the ALB security group only."
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.to_redis.referenced_security_group_id == var.redis_security_group_id && aws_vpc_security_group_egress_rule.to_redis.from_port == 6379
    error_message = "Instances must reach Redis through its security group."
  }

  assert {
    condition = (
      toset(flatten([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if s.Action == "secretsmanager:GetSecretValue"])) ==
      toset([var.redis_auth_token_secret_arn, aws_secretsmanager_secret.admin_token.arn])
    )
    error_message = "The role may read exactly the two secrets."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource != "*" && !contains(flatten([s.Action]), "*")])
    error_message = "Without an ECR image no statement may use a wildcard resource or action."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Effect == "Allow" && !anytrue([for a in flatten([s.Action]) : endswith(a, ":*")])])
    error_message = "The role must list individual actions, no service wildcards."
  }

  assert {
    condition     = length(aws_iam_role_policy_attachment.ssm) == 1 && endswith(aws_iam_role_policy_attachment.ssm[0].policy_arn, ":policy/AmazonSSMManagedInstanceCore")
    error_message = "Instances must be reachable through Session Manager."
  }
}

run "ecr_image_on_graviton" {
  command = apply

  variables {
    image         = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/flashsale:1.0.0"
    instance_type = "c7g.large"
  }

  assert {
    condition     = contains(flatten([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if s.Sid == "EcrPullTheApiImage"]), "arn:aws:ecr:eu-west-1:123456789012:repository/flashsale")
    error_message = "ECR pull permission must be scoped to the image's repository."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "docker login --username AWS --password-stdin '123456789012.dkr.ecr.eu-west-1.amazonaws.com'")
    error_message = "An ECR image needs a registry login at boot."
  }

  assert {
    condition     = endswith(data.aws_ssm_parameter.al2023[0].name, "-arm64")
    error_message = "Graviton instances must boot the arm64 AMI."
  }
}

run "rejects_desired_below_min" {
  command = plan
  variables {
    min_size         = 3
    desired_capacity = 2
  }
  expect_failures = [var.desired_capacity]
}

run "rejects_max_below_min" {
  command = plan
  variables {
    min_size         = 4
    max_size         = 2
    desired_capacity = 4
  }
  expect_failures = [var.max_size]
}

run "rejects_fractional_size" {
  command = plan
  variables {
    min_size = 1.5
  }
  expect_failures = [var.min_size]
}

run "rejects_bad_instance_type" {
  command = plan
  variables {
    instance_type = "large"
  }
  expect_failures = [var.instance_type]
}

run "rejects_latest_tag" {
  command = plan
  variables {
    image = "ghcr.io/example/flashsale:latest"
  }
  expect_failures = [var.image]
}

run "rejects_untagged_image" {
  command = plan
  variables {
    image = "flashsale"
  }
  expect_failures = [var.image]
}

run "rejects_unknown_durability" {
  command = plan
  variables {
    durability = "sync"
  }
  expect_failures = [var.durability]
}

run "rejects_unknown_log_level" {
  command = plan
  variables {
    log_level = "TRACE"
  }
  expect_failures = [var.log_level]
}

run "rejects_secret_in_extra_environment" {
  command = plan
  variables {
    extra_environment = { FLASHSALE_ADMIN_TOKEN = "hunter2" }
  }
  expect_failures = [var.extra_environment]
}

run "rejects_bad_ami" {
  command = plan
  variables {
    ami_id = "ami-123"
  }
  expect_failures = [var.ami_id]
}

run "rejects_privileged_container_port" {
  command = plan
  variables {
    container_port = 80
  }
  expect_failures = [var.container_port]
}

run "rejects_malformed_secret_arn" {
  command = plan
  variables {
    redis_auth_token_secret_arn = "not-an-arn"
  }
  expect_failures = [var.redis_auth_token_secret_arn]
}
