data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  major_version = split(".", var.engine_version)[0]
  # RDS creates /aws/rds/instance/ID/TYPE on first export; created here first,
  # they are encrypted and expire.
  log_types      = ["postgresql", "upgrade"]
  log_group_base = "/aws/rds/instance/${var.name}"
}

# One customer managed key for the storage, the managed master password,
# Performance Insights and the exported logs.
resource "aws_kms_key" "this" {
  description             = "${var.name}: orders database storage, master password, Performance Insights, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsUsesForTheDatabaseLogGroupsOnly"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_base}/*" }
        }
      },
    ]
  })

  tags = merge(var.tags, { Name = "${var.name}-postgres" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-postgres"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_cloudwatch_log_group" "exports" {
  for_each = toset(local.log_types)

  name              = "${local.log_group_base}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = var.tags
}

resource "aws_db_subnet_group" "this" {
  name        = "${var.name}-postgres"
  description = "${var.name}: private subnets of the orders database"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-postgres${local.major_version}-"
  family      = "postgres${local.major_version}"
  description = "${var.name}: TLS only, slow statements and connections logged"

  # Clients must use TLS (the instances set PGSSLMODE=verify-full).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Statements slower than this are logged (milliseconds).
  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_statement_ms)
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_293:Deletion protection is the deletion_protection variable (default true); the example turns it off so that `terraform destroy` works, and takes a final snapshot instead.
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name  = var.database_name
  username = var.master_username
  port     = var.port

  # RDS generates the master password, keeps it in Secrets Manager (encrypted
  # with this module's key) and rotates it; it never passes through Terraform.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.this.arn

  iam_database_authentication_enabled = var.iam_database_authentication_enabled

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name

  backup_retention_period  = var.backup_retention_days
  backup_window            = var.backup_window
  maintenance_window       = var.maintenance_window
  copy_tags_to_snapshot    = true
  delete_automated_backups = false

  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = coalesce(var.final_snapshot_identifier, "${var.name}-final")

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = var.apply_immediately

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = var.performance_insights_retention_days

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = aws_iam_role.monitoring.arn

  enabled_cloudwatch_logs_exports = local.log_types

  tags = merge(var.tags, { Name = var.name })

  depends_on = [aws_cloudwatch_log_group.exports]
}

# Enhanced monitoring (OS metrics every monitoring_interval seconds).
resource "aws_iam_role" "monitoring" {
  name_prefix = "${var.name}-rds-mon-"
  description = "${var.name}: RDS enhanced monitoring"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
