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
  ami_id                       = "ami-0123456789abcdef0"
  oidc_issuer                  = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
  oidc_audience                = "1example23456789abcdefghij"
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
    condition = (
      strcontains(base64decode(aws_launch_template.this.user_data), "\nFLASHSALE_OIDC_ISSUER=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123\n") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "\nFLASHSALE_OIDC_AUDIENCE=1example23456789abcdefghij\n")
    )
    error_message = "The containers must get the OpenID issuer and audience (issue 22) through the settings file."
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
    condition     = aws_launch_template.this.image_id == var.ami_id && output.ami_id == var.ami_id
    error_message = "The launch template must boot the pinned AMI, nothing resolved at apply time."
  }

  assert {
    condition     = output.ami_ssm_parameter_name == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    error_message = "t3 instances must be pointed at the x86_64 Amazon Linux 2023 parameter for the AMI lookup."
  }

  assert {
    condition = alltrue([
      for t in ["instance", "volume"] :
      contains([for s in aws_launch_template.this.tag_specifications : s.resource_type], t)
    ]) && alltrue([for s in aws_launch_template.this.tag_specifications : s.tags["Name"] == "fs-test-api"])
    error_message = "Instances and their volumes must be tagged at launch (tag_specifications)."
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
      aws_autoscaling_group.this.target_group_arns == toset([var.target_group_arn]) &&
      aws_autoscaling_group.this.min_size == 3 && aws_autoscaling_group.this.max_size == 12 && aws_autoscaling_group.this.desired_capacity == 3
    )
    error_message = "The group must register with the target group and use the size variables."
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
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].min_healthy_percentage == 100 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].max_healthy_percentage == 200 &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].auto_rollback == true &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].skip_matching == true
    )
    error_message = "An instance refresh must launch before it terminates (100 % / 200 %) and roll back on failure."
  }

  assert {
    condition = (
      aws_autoscaling_policy.cpu.policy_type == "TargetTrackingScaling" &&
      aws_autoscaling_policy.cpu.target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ASGAverageCPUUtilization" &&
      aws_autoscaling_policy.cpu.target_tracking_configuration[0].target_value == 50 &&
      aws_autoscaling_policy.cpu.autoscaling_group_name == aws_autoscaling_group.this.name
    )
    error_message = "CPU target tracking must run beside the request-count policy."
  }

  assert {
    condition     = length(aws_autoscaling_group.this.warm_pool) == 0 && length(aws_autoscaling_schedule.sale_scale_out) == 0
    error_message = "No warm pool and no schedule unless asked for."
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
      toset([var.redis_auth_token_secret_arn, aws_secretsmanager_secret.admin_token.arn, aws_secretsmanager_secret.admission_key.arn])
    )
    error_message = "Without a database the role may read exactly the three secrets."
  }

  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if s.Action == "autoscaling:SetInstanceHealth"]) == "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/fs-test-api"
    error_message = "The watchdog may report the health of this group's instances only."
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
    condition     = endswith(output.ami_ssm_parameter_name, "-arm64")
    error_message = "Graviton instances must be pointed at the arm64 AMI parameter."
  }
}

run "replace_on_liveness_never_on_readiness" {
  command = apply

  # Issue 14: the target group routes on /health/ready (needs Redis); the
  # group must not replace instances because of it, or a 30 s ElastiCache
  # failover would replace the whole fleet in the middle of a sale.
  assert {
    condition     = aws_autoscaling_group.this.health_check_type == "EC2" && output.health_check_type == "EC2"
    error_message = "The group must replace instances on EC2 status only, never on the readiness checks of the target group."
  }

  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.this.user_data), "curl -fsS -m 3 -o /dev/null 'http://127.0.0.1:8000/health/live'") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "systemctl enable --now flashsale-watchdog.timer") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "aws autoscaling set-instance-health --region 'eu-west-1' --instance-id \"$id\" --health-status Unhealthy") &&
      !strcontains(base64decode(aws_launch_template.this.user_data), "/health/ready")
    )
    error_message = "The on-instance watchdog must probe /health/live (no Redis), restart the API and only then report the instance Unhealthy."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "OnBootSec=300")
    error_message = "The watchdog must wait for the health check grace period after boot."
  }
}

run "keepalive_outlives_the_alb_idle_timeout" {
  command = apply

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "FLASHSALE_KEEPALIVE_S=75") && output.container_settings["FLASHSALE_KEEPALIVE_S"] == "75"
    error_message = "The API keep-alive (75 s by default) must reach the container."
  }

  assert {
    condition     = var.keepalive_timeout_s > var.alb_idle_timeout_s
    error_message = "The default keep-alive must exceed the default ALB idle timeout."
  }
}

run "rejects_keepalive_not_above_idle_timeout" {
  command = plan
  variables {
    alb_idle_timeout_s  = 75
    keepalive_timeout_s = 75
  }
  expect_failures = [var.keepalive_timeout_s]
}

run "rejects_keepalive_below_a_raised_idle_timeout" {
  command = plan
  variables {
    alb_idle_timeout_s = 120
  }
  expect_failures = [var.keepalive_timeout_s]
}

run "sale_windows_scale_out_before_and_back_after" {
  command = apply

  variables {
    sale_windows = [
      { name = "black-friday", start = "2030-11-29T09:00:00Z", end = "2030-11-29T10:00:00Z", desired_capacity = 9 },
      { name = "xmas", start = "2030-12-24T18:00:00Z", end = "2030-12-24T18:30:00Z", desired_capacity = 6, min_size = 4, max_size = 20, lead_minutes = 30, cooldown_minutes = 0 },
    ]
  }

  assert {
    condition = (
      aws_autoscaling_schedule.sale_scale_out["black-friday"].start_time == "2030-11-29T08:45:00Z" &&
      aws_autoscaling_schedule.sale_scale_out["black-friday"].desired_capacity == 9 &&
      aws_autoscaling_schedule.sale_scale_out["black-friday"].min_size == 9 &&
      aws_autoscaling_schedule.sale_scale_out["black-friday"].max_size == 12 &&
      aws_autoscaling_schedule.sale_scale_out["black-friday"].autoscaling_group_name == aws_autoscaling_group.this.name
    )
    error_message = "A window must scale out 15 minutes before its start, holding at least desired_capacity."
  }

  assert {
    condition = (
      aws_autoscaling_schedule.sale_scale_in["black-friday"].start_time == "2030-11-29T10:30:00Z" &&
      aws_autoscaling_schedule.sale_scale_in["black-friday"].min_size == 3 &&
      aws_autoscaling_schedule.sale_scale_in["black-friday"].desired_capacity == 3 &&
      aws_autoscaling_schedule.sale_scale_in["black-friday"].max_size == 12
    )
    error_message = "A window must give the capacity back 30 minutes after its end."
  }

  assert {
    condition = (
      aws_autoscaling_schedule.sale_scale_out["xmas"].start_time == "2030-12-24T17:30:00Z" &&
      aws_autoscaling_schedule.sale_scale_out["xmas"].min_size == 4 &&
      aws_autoscaling_schedule.sale_scale_out["xmas"].max_size == 20 &&
      aws_autoscaling_schedule.sale_scale_in["xmas"].start_time == "2030-12-24T18:30:00Z" &&
      output.sale_schedules["xmas"].desired_capacity == 6
    )
    error_message = "Per-window lead, cooldown and sizes must be honoured."
  }
}

run "past_sale_windows_schedule_nothing" {
  command = plan

  variables {
    sale_windows = [
      { name = "last-year", start = "2020-11-27T09:00:00Z", end = "2020-11-27T10:00:00Z", desired_capacity = 9 },
      { name = "next", start = "2030-11-29T09:00:00Z", end = "2030-11-29T10:00:00Z", desired_capacity = 9 },
    ]
  }

  assert {
    condition     = keys(aws_autoscaling_schedule.sale_scale_out) == ["next"] && keys(aws_autoscaling_schedule.sale_scale_in) == ["next"] && length(output.sale_schedules["last-year"].scheduled) == 0
    error_message = "Actions in the past must not be created (AWS would refuse them); future ones must."
  }
}

run "rejects_sale_window_ending_before_it_starts" {
  command = plan
  variables {
    sale_windows = [{ name = "oops", start = "2030-11-29T10:00:00Z", end = "2030-11-29T09:00:00Z", desired_capacity = 6 }]
  }
  expect_failures = [var.sale_windows]
}

run "rejects_sale_window_in_local_time" {
  command = plan
  variables {
    sale_windows = [{ name = "paris", start = "2030-11-29T10:00:00+01:00", end = "2030-11-29T11:00:00+01:00", desired_capacity = 6 }]
  }
  expect_failures = [var.sale_windows]
}

run "rejects_overlapping_sale_windows" {
  command = plan
  variables {
    sale_windows = [
      { name = "first", start = "2030-11-29T09:00:00Z", end = "2030-11-29T10:00:00Z", desired_capacity = 6 },
      # Its scale-out (10:05) falls before the first window's scale-in (10:30).
      { name = "second", start = "2030-11-29T10:20:00Z", end = "2030-11-29T11:00:00Z", desired_capacity = 6 },
    ]
  }
  expect_failures = [var.sale_windows]
}

run "rejects_sale_window_above_max" {
  command = plan
  variables {
    sale_windows = [{ name = "huge", start = "2030-11-29T09:00:00Z", end = "2030-11-29T10:00:00Z", desired_capacity = 50 }]
  }
  expect_failures = [var.sale_windows]
}

run "warm_pool" {
  command = apply

  variables {
    warm_pool = { min_size = 3 }
  }

  assert {
    condition = (
      aws_autoscaling_group.this.warm_pool[0].pool_state == "Stopped" &&
      aws_autoscaling_group.this.warm_pool[0].min_size == 3 &&
      aws_autoscaling_group.this.warm_pool[0].instance_reuse_policy[0].reuse_on_scale_in == true
    )
    error_message = "The warm pool must keep pre-booted, stopped instances when asked for."
  }
}

run "rejects_unknown_warm_pool_state" {
  command = plan
  variables {
    warm_pool = { pool_state = "Frozen" }
  }
  expect_failures = [var.warm_pool]
}

run "rejects_refresh_that_terminates_first" {
  command = plan
  variables {
    refresh_max_healthy_percentage = 100
  }
  expect_failures = [var.refresh_max_healthy_percentage]
}

run "database_and_exporter" {
  command = apply

  variables {
    database = {
      host                   = "fs-test.abcdefghijkl.eu-west-1.rds.amazonaws.com"
      name                   = "flashsale"
      master_user_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf"
      secret_kms_key_arn     = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"
      security_group_id      = "sg-0db0000000000001"
    }
  }

  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.this.user_data), "secret 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf' | python3") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "FLASHSALE_DATABASE_URL=postgresql://%s@%s:%s/%s\\n'") &&
      output.container_settings["PGSSLMODE"] == "verify-full" &&
      output.container_settings["PGSSLROOTCERT"] == "/etc/flashsale/rds-ca.pem" &&
      strcontains(base64decode(aws_launch_template.this.user_data), "curl -fsS --retry 5 -o /etc/flashsale/rds-ca.pem.tmp 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem'") &&
      length(regexall("--volume /etc/flashsale/rds-ca.pem:/etc/flashsale/rds-ca.pem:ro", base64decode(aws_launch_template.this.user_data))) == 2 &&
      strcontains(base64decode(aws_launch_template.this.user_data), "'fs-test.abcdefghijkl.eu-west-1.rds.amazonaws.com' '5432' 'flashsale'")
    )
    error_message = "FLASHSALE_DATABASE_URL must be assembled on the instance (password from the RDS-managed secret), and TLS must verify the RDS certificate."
  }

  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.this.user_data), "ghcr.io/example/flashsale:1.0.0 flashsale export") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "systemctl enable --now flashsale-export.service") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "--publish 127.0.0.1:9465:9465") &&
      output.exporter_enabled
    )
    error_message = "Every instance must run the exporter beside the API, its metrics on loopback only."
  }

  assert {
    condition     = !strcontains(base64decode(aws_launch_template.this.user_data), "password\": ") && !can(regex("postgresql://[^%]", base64decode(aws_launch_template.this.user_data)))
    error_message = "No database credential may be written into user data."
  }

  assert {
    condition = (
      contains(flatten([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if s.Action == "secretsmanager:GetSecretValue"]), var.database.master_user_secret_arn) &&
      contains(flatten([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if s.Action == "kms:Decrypt"]), var.database.secret_kms_key_arn)
    )
    error_message = "The role must read the database secret (and decrypt it through Secrets Manager)."
  }

  assert {
    condition = (
      aws_vpc_security_group_egress_rule.to_database[0].referenced_security_group_id == "sg-0db0000000000001" &&
      aws_vpc_security_group_egress_rule.to_database[0].from_port == 5432 &&
      aws_vpc_security_group_egress_rule.to_database[0].to_port == 5432
    )
    error_message = "Instances must reach PostgreSQL through its security group on 5432."
  }
}

run "no_exporter_when_asked" {
  command = plan

  variables {
    run_exporter = false
    database = {
      host                   = "fs-test.abcdefghijkl.eu-west-1.rds.amazonaws.com"
      name                   = "flashsale"
      master_user_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf"
      secret_kms_key_arn     = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"
      security_group_id      = "sg-0db0000000000001"
    }
  }

  assert {
    condition     = !output.exporter_enabled && !strcontains(local.user_data, "flashsale-export.service") && strcontains(local.user_data, "FLASHSALE_DATABASE_URL=")
    error_message = "run_exporter = false keeps the database URL for the API but runs no exporter."
  }
}

run "collector_to_managed_prometheus_and_otlp" {
  command = apply

  variables {
    otlp_traces_endpoint        = "https://otlp.example.com/v1/traces"
    prometheus_remote_write_url = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789/api/v1/remote_write"
  }

  assert {
    condition = (
      one([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s.Resource if s.Action == "aps:RemoteWrite"]) ==
      "arn:aws:aps:eu-west-1:123456789012:workspace/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    )
    error_message = "With Amazon Managed Prometheus the role may remote-write to that workspace only."
  }

  assert {
    condition = (
      yamldecode(local.collector_config).exporters.prometheusremotewrite.auth.authenticator == "sigv4auth" &&
      yamldecode(local.collector_config).extensions.sigv4auth.service == "aps" &&
      yamldecode(local.collector_config).exporters["otlphttp/traces"].traces_endpoint == var.otlp_traces_endpoint &&
      yamldecode(local.collector_config).receivers.prometheus.config.scrape_configs[0].static_configs[0].targets == ["127.0.0.1:8000"]
    )
    error_message = "The collector must scrape the API on loopback, sign remote writes for AMP and forward spans."
  }

  assert {
    condition = (
      output.container_settings["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318" &&
      strcontains(base64decode(aws_launch_template.this.user_data), "--add-host otel-collector:host-gateway") &&
      strcontains(base64decode(aws_launch_template.this.user_data), "systemctl enable --now flashsale-otel.service") &&
      output.collector_enabled
    )
    error_message = "The API must send its spans to the collector on the instance."
  }
}

run "collector_off_by_default" {
  command = plan

  assert {
    condition = (
      !output.collector_enabled && local.collector_config == "" &&
      !strcontains(local.user_data, "flashsale-otel.service") &&
      !contains(keys(local.settings), "OTEL_EXPORTER_OTLP_ENDPOINT") &&
      length([for s in jsondecode(aws_iam_role_policy.instance.policy).Statement : s if s.Action == "aps:RemoteWrite"]) == 0
    )
    error_message = "Without destinations no collector runs, tracing stays off and the role gets no aps permission."
  }
}

run "rejects_plain_http_remote_write" {
  command = plan
  variables {
    prometheus_remote_write_url = "http://prometheus.internal:9090/api/v1/write"
  }
  expect_failures = [var.prometheus_remote_write_url]
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

run "rejects_demo_or_embedded_in_extra_environment" {
  command = plan
  variables {
    extra_environment = { FLASHSALE_DEMO = "true" }
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

run "rejects_a_plain_http_oidc_issuer" {
  command = plan

  variables {
    oidc_issuer = "http://login.shop.example"
  }

  expect_failures = [var.oidc_issuer]
}

run "rejects_an_oidc_issuer_the_instances_cannot_reach" {
  command = plan

  variables {
    oidc_issuer = "https://login.shop.example:8443/realms/shop"
  }

  expect_failures = [var.oidc_issuer]
}

run "rejects_an_oidc_audience_that_breaks_the_settings_file" {
  command = plan

  variables {
    oidc_audience = "shop-api\nFLASHSALE_DEMO=true"
  }

  expect_failures = [var.oidc_audience]
}

run "rejects_oidc_settings_through_extra_environment" {
  command = plan

  variables {
    extra_environment = { FLASHSALE_OIDC_ISSUER = "https://elsewhere.example" }
  }

  expect_failures = [var.extra_environment]
}
