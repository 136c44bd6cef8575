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
