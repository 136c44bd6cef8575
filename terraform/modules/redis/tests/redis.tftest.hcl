mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                  = "fs-test"
  vpc_id                = "vpc-0a1b2c3d4e5f60718"
  subnet_ids            = ["subnet-0000000000000000a", "subnet-0000000000000000b", "subnet-0000000000000000c"]
  app_security_group_id = "sg-0app00000000000001"
}

run "encrypted_multi_az_noeviction" {
  command = apply

  assert {
    condition     = tostring(aws_elasticache_replication_group.this.at_rest_encryption_enabled) == "true" && aws_elasticache_replication_group.this.kms_key_id == aws_kms_key.this.arn
    error_message = "The cache must be encrypted at rest with the module's KMS key."
  }

  assert {
    condition     = aws_elasticache_replication_group.this.transit_encryption_enabled == true && aws_elasticache_replication_group.this.transit_encryption_mode == "required"
    error_message = "The cache must require TLS in transit."
  }

  assert {
    condition     = nonsensitive(aws_elasticache_replication_group.this.auth_token == aws_secretsmanager_secret_version.auth_token.secret_string && length(aws_elasticache_replication_group.this.auth_token) > 0)
    error_message = "The cache must require the AUTH token stored in Secrets Manager."
  }

  assert {
    condition     = aws_secretsmanager_secret.auth_token.kms_key_id == aws_kms_key.this.arn && aws_kms_key.this.enable_key_rotation
    error_message = "The auth-token secret must be encrypted with the rotating customer managed key."
  }

  assert {
    condition     = aws_elasticache_replication_group.this.multi_az_enabled && aws_elasticache_replication_group.this.automatic_failover_enabled && aws_elasticache_replication_group.this.replicas_per_node_group >= 1
    error_message = "Multi-AZ with automatic failover (and a replica to fail over to) is required."
  }

  assert {
    condition     = anytrue([for p in aws_elasticache_parameter_group.this.parameter : p.name == "maxmemory-policy" && p.value == "noeviction"])
    error_message = "The parameter group must set maxmemory-policy noeviction."
  }

  assert {
    condition     = aws_elasticache_parameter_group.this.family == "redis7" && aws_elasticache_replication_group.this.parameter_group_name == aws_elasticache_parameter_group.this.name
    error_message = "The group must use the custom redis7 parameter group."
  }

  assert {
    condition     = aws_elasticache_replication_group.this.cluster_mode == "disabled" && aws_elasticache_replication_group.this.num_node_groups == 1 && anytrue([for p in aws_elasticache_parameter_group.this.parameter : p.name == "cluster-enabled" && p.value == "no"])
    error_message = "Cluster mode must be off by default, with one shard."
  }

  assert {
    condition     = toset(aws_elasticache_subnet_group.this.subnet_ids) == toset(var.subnet_ids)
    error_message = "The subnet group must use the given private subnets."
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.from_app.referenced_security_group_id == var.app_security_group_id &&
      aws_vpc_security_group_ingress_rule.from_app.cidr_ipv4 == null &&
      aws_vpc_security_group_ingress_rule.from_app.cidr_ipv6 == null &&
      aws_vpc_security_group_ingress_rule.from_app.prefix_list_id == null &&
      aws_vpc_security_group_ingress_rule.from_app.from_port == 6379 &&
      aws_vpc_security_group_ingress_rule.from_app.to_port == 6379 &&
      aws_vpc_security_group_ingress_rule.from_app.ip_protocol == "tcp"
    )
    error_message = "The cache must accept TCP 6379 from the application's security group and nothing else."
  }

  assert {
    condition     = length(aws_security_group.this.ingress) == 0 && length(aws_security_group.this.egress) == 0 && aws_elasticache_replication_group.this.security_group_ids == toset([aws_security_group.this.id])
    error_message = "The cache security group must carry no inline rules and be the only group of the cache."
  }

  assert {
    condition     = output.endpoint_address == aws_elasticache_replication_group.this.primary_endpoint_address
    error_message = "Without cluster mode the endpoint is the primary endpoint."
  }
}

run "cluster_mode" {
  command = apply

  variables {
    cluster_mode_enabled    = true
    num_node_groups         = 3
    replicas_per_node_group = 1
  }

  assert {
    condition     = aws_elasticache_replication_group.this.cluster_mode == "enabled" && aws_elasticache_replication_group.this.num_node_groups == 3
    error_message = "Cluster mode must shard over num_node_groups."
  }

  assert {
    condition     = anytrue([for p in aws_elasticache_parameter_group.this.parameter : p.name == "cluster-enabled" && p.value == "yes"])
    error_message = "The parameter group must enable cluster mode."
  }

  assert {
    condition     = output.endpoint_address == aws_elasticache_replication_group.this.configuration_endpoint_address && output.cluster_mode_enabled
    error_message = "In cluster mode clients use the configuration endpoint."
  }
}

run "alarms_logs_and_final_snapshot" {
  command = apply

  variables {
    cluster_mode_enabled      = true
    num_node_groups           = 2
    replicas_per_node_group   = 1
    final_snapshot_identifier = "fs-test-redis-final"
    alarm_emails              = ["oncall@example.com"]
  }

  assert {
    condition     = output.node_ids == tolist(["fs-test-0001-001", "fs-test-0001-002", "fs-test-0002-001", "fs-test-0002-002"])
    error_message = "In cluster mode the alarms must watch every node of every shard."
  }

  assert {
    condition = (
      length(aws_cloudwatch_metric_alarm.cache) == 16 &&
      toset([for a in aws_cloudwatch_metric_alarm.cache : a.metric_name]) == toset(["DatabaseMemoryUsagePercentage", "EngineCPUUtilization", "ReplicationLag", "CurrConnections"]) &&
      alltrue([for a in aws_cloudwatch_metric_alarm.cache : a.namespace == "AWS/ElastiCache" && contains(local.node_ids, a.dimensions["CacheClusterId"])])
    )
    error_message = "Each node needs a memory, engine CPU, replication lag and connections alarm."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.cache["fs-test-0002-001/memory"].threshold == 80 &&
      aws_cloudwatch_metric_alarm.cache["fs-test-0002-001/memory"].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.cache["fs-test-0001-002/replication-lag"].threshold == 1 &&
      aws_cloudwatch_metric_alarm.cache["fs-test-0001-001/connections"].threshold == 50000
    )
    error_message = "Alarm thresholds must follow the variables."
  }

  assert {
    condition = alltrue([
      for a in aws_cloudwatch_metric_alarm.cache :
      a.alarm_actions == toset([aws_sns_topic.alarms.arn]) && a.ok_actions == toset([aws_sns_topic.alarms.arn]) && a.treat_missing_data == "notBreaching"
    ])
    error_message = "Every alarm (and its recovery) must reach the SNS topic."
  }

  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.this.arn && aws_sns_topic_subscription.email["oncall@example.com"].protocol == "email"
    error_message = "The alarm topic must be encrypted and carry the e-mail subscriptions."
  }

  assert {
    condition = (
      toset([for l in aws_elasticache_replication_group.this.log_delivery_configuration : l.log_type]) == toset(["slow-log", "engine-log"]) &&
      alltrue([for l in aws_elasticache_replication_group.this.log_delivery_configuration : l.destination_type == "cloudwatch-logs" && l.destination == aws_cloudwatch_log_group.cache[l.log_type].name])
    )
    error_message = "The slow log and the engine log must be delivered to CloudWatch Logs."
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.cache : g.kms_key_id == aws_kms_key.this.arn && g.retention_in_days == 365])
    error_message = "The cache log groups must be encrypted with the module's key and kept a year."
  }

  assert {
    condition     = aws_elasticache_replication_group.this.final_snapshot_identifier == "fs-test-redis-final" && output.final_snapshot_identifier == "fs-test-redis-final"
    error_message = "Destroying the group must leave a named final snapshot."
  }
}

run "alarm_nodes_without_cluster_mode" {
  command = plan

  assert {
    condition     = output.node_ids == tolist(["fs-test-001", "fs-test-002", "fs-test-003"]) && length(aws_cloudwatch_metric_alarm.cache) == 12
    error_message = "Without cluster mode the alarms must watch the primary and both replicas."
  }
}

run "rejects_memory_alarm_at_100" {
  command = plan
  variables {
    alarm_memory_percent = 100
  }
  expect_failures = [var.alarm_memory_percent]
}

run "rejects_bad_alarm_email" {
  command = plan
  variables {
    alarm_emails = ["oncall"]
  }
  expect_failures = [var.alarm_emails]
}

run "valkey" {
  command = plan

  variables {
    engine         = "valkey"
    engine_version = "8.0"
  }

  assert {
    condition     = aws_elasticache_parameter_group.this.family == "valkey8" && aws_elasticache_replication_group.this.engine == "valkey"
    error_message = "Valkey 8 must use the valkey8 parameter family."
  }
}

run "rejects_privileged_port" {
  command = plan
  variables {
    port = 80
  }
  expect_failures = [var.port]
}

run "rejects_no_replica" {
  command = plan
  variables {
    replicas_per_node_group = 0
  }
  expect_failures = [var.replicas_per_node_group]
}

run "rejects_redis_6" {
  command = plan
  variables {
    engine_version = "6.2"
  }
  expect_failures = [var.engine_version]
}

run "rejects_ec2_instance_type" {
  command = plan
  variables {
    node_type = "t3.small"
  }
  expect_failures = [var.node_type]
}

run "rejects_memcached" {
  command = plan
  variables {
    engine = "memcached"
  }
  expect_failures = [var.engine]
}

run "rejects_single_subnet" {
  command = plan
  variables {
    subnet_ids = ["subnet-0000000000000000a"]
  }
  expect_failures = [var.subnet_ids]
}

run "rejects_zero_snapshots" {
  command = plan
  variables {
    snapshot_retention_limit = 0
  }
  expect_failures = [var.snapshot_retention_limit]
}

run "rejects_bad_maintenance_window" {
  command = plan
  variables {
    maintenance_window = "sunday 5am"
  }
  expect_failures = [var.maintenance_window]
}

run "rejects_short_recovery_window" {
  command = plan
  variables {
    secret_recovery_window_days = 3
  }
  expect_failures = [var.secret_recovery_window_days]
}
