mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                  = "fs-test"
  vpc_id                = "vpc-0a1b2c3d4e5f60718"
  subnet_ids            = ["subnet-0000000000000000d", "subnet-0000000000000000e", "subnet-0000000000000000f"]
  app_security_group_id = "sg-0app00000000000001"
}

run "multi_az_encrypted_private" {
  command = apply

  assert {
    condition     = aws_db_instance.this.multi_az && aws_db_instance.this.engine == "postgres" && aws_db_instance.this.engine_version == "16"
    error_message = "The database must be PostgreSQL with a Multi-AZ standby."
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.kms_key_id == aws_kms_key.this.arn && aws_kms_key.this.enable_key_rotation
    error_message = "Storage must be encrypted with the module's rotating customer managed key."
  }

  assert {
    condition = (
      !aws_db_instance.this.publicly_accessible &&
      aws_db_instance.this.db_subnet_group_name == aws_db_subnet_group.this.name &&
      toset(aws_db_subnet_group.this.subnet_ids) == toset(var.subnet_ids)
    )
    error_message = "The database must live in the private subnets, without a public address."
  }

  assert {
    condition = (
      aws_db_instance.this.vpc_security_group_ids == toset([aws_security_group.this.id]) &&
      aws_vpc_security_group_ingress_rule.from_app.referenced_security_group_id == var.app_security_group_id &&
      aws_vpc_security_group_ingress_rule.from_app.cidr_ipv4 == null &&
      aws_vpc_security_group_ingress_rule.from_app.from_port == 5432 && aws_vpc_security_group_ingress_rule.from_app.to_port == 5432 &&
      output.ingress_source_security_group_ids == [var.app_security_group_id]
    )
    error_message = "Only the application's security group may reach 5432."
  }

  assert {
    condition     = length(aws_security_group.this.egress) == 0 && length(aws_security_group.this.ingress) == 0
    error_message = "The database group has no inline rules and no egress."
  }

  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"]) && aws_db_parameter_group.this.family == "postgres16"
    error_message = "Clients must be forced to use TLS."
  }
}

run "password_managed_in_secrets_manager" {
  command = apply

  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.master_user_secret_kms_key_id == aws_kms_key.this.arn
    error_message = "RDS must generate and keep the master password in Secrets Manager, encrypted with the module's key."
  }

  assert {
    condition     = aws_db_instance.this.password == null
    error_message = "No password may pass through Terraform."
  }

  assert {
    condition     = startswith(output.master_user_secret_arn, "arn:aws:secretsmanager:") && !strcontains(output.url_without_password, ":@") && startswith(output.url_without_password, "postgresql://flashsale@")
    error_message = "The outputs give the secret's ARN and a URL without password."
  }

  assert {
    condition     = aws_db_instance.this.iam_database_authentication_enabled
    error_message = "IAM database authentication is on by default."
  }
}

run "backups_protection_and_monitoring" {
  command = apply

  assert {
    condition = (
      aws_db_instance.this.backup_retention_period == 14 &&
      aws_db_instance.this.copy_tags_to_snapshot &&
      aws_db_instance.this.deletion_protection &&
      !aws_db_instance.this.skip_final_snapshot &&
      aws_db_instance.this.final_snapshot_identifier == "fs-test-final"
    )
    error_message = "Backups kept 14 days, deletion protection on by default, a final snapshot on destroy."
  }

  assert {
    condition = (
      aws_db_instance.this.performance_insights_enabled &&
      aws_db_instance.this.performance_insights_kms_key_id == aws_kms_key.this.arn &&
      aws_db_instance.this.monitoring_interval == 30 &&
      aws_db_instance.this.monitoring_role_arn == aws_iam_role.monitoring.arn &&
      endswith(aws_iam_role_policy_attachment.monitoring.policy_arn, "service-role/AmazonRDSEnhancedMonitoringRole")
    )
    error_message = "Performance Insights (encrypted) and enhanced monitoring must be on."
  }

  assert {
    condition = (
      aws_db_instance.this.enabled_cloudwatch_logs_exports == toset(["postgresql", "upgrade"]) &&
      alltrue([for g in aws_cloudwatch_log_group.exports : g.kms_key_id == aws_kms_key.this.arn && g.retention_in_days == 365 && startswith(g.name, "/aws/rds/instance/fs-test/")])
    )
    error_message = "Database logs go to encrypted log groups created (and expired) by the module."
  }

  assert {
    condition     = aws_db_instance.this.auto_minor_version_upgrade && !aws_db_instance.this.allow_major_version_upgrade
    error_message = "Minor versions upgrade automatically, major ones only deliberately."
  }
}

run "throw_away_environment" {
  command = plan

  variables {
    deletion_protection                 = false
    iam_database_authentication_enabled = false
    final_snapshot_identifier           = "fs-test-last"
    backup_retention_days               = 7
  }

  assert {
    condition     = !aws_db_instance.this.deletion_protection && !aws_db_instance.this.iam_database_authentication_enabled && aws_db_instance.this.final_snapshot_identifier == "fs-test-last"
    error_message = "Deletion protection and IAM authentication follow their variables."
  }
}

run "rejects_short_backup_retention" {
  command = plan
  variables {
    backup_retention_days = 1
  }
  expect_failures = [var.backup_retention_days]
}

run "rejects_postgres_13" {
  command = plan
  variables {
    engine_version = "13.9"
  }
  expect_failures = [var.engine_version]
}

run "rejects_single_subnet" {
  command = plan
  variables {
    subnet_ids = ["subnet-0000000000000000d"]
  }
  expect_failures = [var.subnet_ids]
}

run "rejects_reserved_username" {
  command = plan
  variables {
    master_username = "postgres"
  }
  expect_failures = [var.master_username]
}

run "rejects_storage_ceiling_below_start" {
  command = plan
  variables {
    allocated_storage     = 100
    max_allocated_storage = 50
  }
  expect_failures = [var.max_allocated_storage]
}

run "rejects_bad_performance_insights_retention" {
  command = plan
  variables {
    performance_insights_retention_days = 30
  }
  expect_failures = [var.performance_insights_retention_days]
}
