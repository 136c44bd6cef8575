data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Graviton families carry a "g" after the generation digit (t4g, c7g, m7gd, r8g, ...).
  architecture = can(regex("^[a-z]+[0-9]+[a-z]*g[a-z]*\\.", var.instance_type)) ? "arm64" : "x86_64"
  # Where to look the AMI up (once, by hand or in CI), never on every apply:
  #   aws ssm get-parameter --name <this> --query Parameter.Value --output text
  ami_ssm_parameter_name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${local.architecture}"

  # ECR images: log in at boot and scope the pull permission to that one repository.
  ecr_match      = regexall("^(([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?)/([^:@]+)", var.image)
  ecr_registry   = length(local.ecr_match) > 0 ? local.ecr_match[0][0] : ""
  ecr_repository = length(local.ecr_match) > 0 ? "arn:${local.partition}:ecr:${local.ecr_match[0][2]}:${local.ecr_match[0][1]}:repository/${local.ecr_match[0][4]}" : null

  log_group_name = "/flashsale/${var.name}/api"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  database_enabled = var.database != null
  # Where the containers find the RDS CA bundle (mounted read-only).
  database_ca_path = "/etc/flashsale/rds-ca.pem"
  exporter_enabled = local.database_enabled && var.run_exporter

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    region                      = local.region
    image                       = var.image
    ecr_registry                = local.ecr_registry
    container_port              = var.container_port
    log_group_name              = local.log_group_name
    redis_host                  = var.redis_host
    redis_port                  = var.redis_port
    redis_auth_token_secret_arn = var.redis_auth_token_secret_arn
    admin_token_secret_arn      = aws_secretsmanager_secret.admin_token.arn
    admission_key_secret_arn    = aws_secretsmanager_secret.admission_key.arn
    settings                    = local.settings
    database                    = var.database
    exporter_enabled            = local.exporter_enabled
    database_ca_bundle_url      = var.database_ca_bundle_url
    database_ca_path            = local.database_ca_path
    exporter_metrics_port       = local.exporter_metrics_port
    collector_enabled           = local.collector_enabled
    collector_image             = var.collector_image
    collector_config            = local.collector_config
    liveness_grace_seconds      = var.health_check_grace_period
    collector_host              = local.collector_host
  })

  # Non-secret container settings; the secrets (Redis AUTH token, admin token,
  # database password) are added on the instance at every start.
  settings = merge(
    var.extra_environment,
    {
      FLASHSALE_REDIS_CLUSTER    = var.redis_cluster_mode ? "true" : "false"
      FLASHSALE_REDIS_TIMEOUT_MS = tostring(var.redis_timeout_ms)
      FLASHSALE_DURABILITY       = var.durability
      FLASHSALE_LOG_LEVEL        = var.log_level
      FLASHSALE_KEEPALIVE_S      = tostring(var.keepalive_timeout_s)
      # Who the buyers are: public values (an issuer URL and a client id),
      # so they travel in the settings file, not through Secrets Manager.
      FLASHSALE_OIDC_ISSUER   = var.oidc_issuer
      FLASHSALE_OIDC_AUDIENCE = var.oidc_audience
      # Only the ALB reaches the container port (security group); it appends
      # the client's address to X-Forwarded-For from a private address of the
      # VPC. Believed from there, the per-address join limit counts clients.
      FLASHSALE_FORWARDED_ALLOW_IPS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    },
    var.oidc_page_client_id != null ? {
      FLASHSALE_OIDC_PAGE_CLIENT_ID = var.oidc_page_client_id
    } : {},
    local.exporter_enabled ? {
      FLASHSALE_EXPORT_METRICS_PORT = tostring(local.exporter_metrics_port)
    } : {},
    # TLS to PostgreSQL with the server's certificate and name verified
    # against the RDS CA bundle. libpq and asyncpg read these from the
    # environment, also where SQLAlchemy (alembic) builds the connection and
    # would reject an sslmode URL parameter.
    local.database_enabled ? {
      PGSSLMODE     = "verify-full"
      PGSSLROOTCERT = local.database_ca_path
    } : {},
    local.traces_enabled ? {
      OTEL_EXPORTER_OTLP_ENDPOINT = "http://${local.collector_host}:4318"
      OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf"
      OTEL_SERVICE_NAME           = "flashsale-api"
    } : {},
  )
}

# Customer managed key for the container logs and the admin-token secret.
resource "aws_kms_key" "this" {
  description             = "${var.name}: API logs and admin token"
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
        Sid       = "CloudWatchLogsUsesForTheApiGroupOnly"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arn }
        }
      },
    ]
  })

  tags = merge(var.tags, { Name = "${var.name}-api" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-api"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_cloudwatch_log_group" "api" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = var.tags
}

# Admin token of the API (FLASHSALE_ADMIN_TOKEN), generated once, read at boot.
data "aws_secretsmanager_random_password" "admin_token" {
  password_length     = 48
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "admin_token" {
  #checkov:skip=CKV2_AWS_57:Rotation needs a Lambda and a coordinated instance refresh; the token is rotated deliberately (README: replace the secret version, then refresh the instances).
  name_prefix             = "${var.name}/admin-token-"
  description             = "${var.name}: FLASHSALE_ADMIN_TOKEN of the API"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "admin_token" {
  secret_id     = aws_secretsmanager_secret.admin_token.id
  secret_string = data.aws_secretsmanager_random_password.admin_token.random_password

  # The data source draws a new value on every plan; keep the first one.
  # Rotate with `terraform apply -replace=<this address>` plus an instance refresh.
  lifecycle {
    ignore_changes = [secret_string]
  }
}

# Admission key of the waiting room (FLASHSALE_ADMISSION_KEY): signs tickets and
# admission tokens, the same on every instance, independent of the admin token.
# Required outside demo mode: the API does not start without it.
data "aws_secretsmanager_random_password" "admission_key" {
  password_length     = 48
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "admission_key" {
  #checkov:skip=CKV2_AWS_57:Rotation needs a Lambda and a coordinated instance refresh; the key is rotated deliberately (docs/queue.md: the old key goes to FLASHSALE_ADMISSION_KEYS_PREVIOUS for the grace period).
  name_prefix             = "${var.name}/admission-key-"
  description             = "${var.name}: FLASHSALE_ADMISSION_KEY of the API"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "admission_key" {
  secret_id     = aws_secretsmanager_secret.admission_key.id
  secret_string = data.aws_secretsmanager_random_password.admission_key.random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}

locals {
  # One entry per sale window, keyed by name, with the defaults applied.
  sale_windows = {
    for w in var.sale_windows : w.name => {
      scale_out_at     = timeadd(w.start, "-${w.lead_minutes}m")
      scale_in_at      = timeadd(w.end, "${w.cooldown_minutes}m")
      desired_capacity = w.desired_capacity
      min_size         = coalesce(w.min_size, w.desired_capacity)
      max_size         = coalesce(w.max_size, var.max_size)
    }
  }
}
