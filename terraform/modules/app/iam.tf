resource "aws_iam_role" "instance" {
  name_prefix = "${var.name}-api-"
  description = "${var.name}: API instances"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "${var.name}-api-"
  role        = aws_iam_role.instance.name

  tags = var.tags
}

# Session Manager instead of SSH: no inbound port, no key pair.
resource "aws_iam_role_policy_attachment" "ssm" {
  count = var.enable_ssm_session_manager ? 1 : 0

  role       = aws_iam_role.instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

locals {
  # Redis AUTH token, admin token and (with a database) its RDS-managed secret.
  secret_arns         = concat([var.redis_auth_token_secret_arn, aws_secretsmanager_secret.admin_token.arn, aws_secretsmanager_secret.admission_key.arn], local.database_enabled ? [var.database.master_user_secret_arn] : [])
  secret_kms_key_arns = distinct(concat([var.redis_auth_token_kms_key_arn, aws_kms_key.this.arn], local.database_enabled ? [var.database.secret_kms_key_arn] : []))
  # Known before the group exists (its ARN carries a generated ID).
  asg_arn_pattern = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.name}-api"
}

# Everything else the instance may do, each statement scoped to its resource.
resource "aws_iam_role_policy" "instance" {
  name = "flashsale-api"
  role = aws_iam_role.instance.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ReadTheSecrets"
          Effect   = "Allow"
          Action   = "secretsmanager:GetSecretValue"
          Resource = local.secret_arns
        },
        {
          Sid      = "DecryptThoseSecretsThroughSecretsManagerOnly"
          Effect   = "Allow"
          Action   = "kms:Decrypt"
          Resource = local.secret_kms_key_arns
          Condition = {
            StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" }
          }
        },
        {
          Sid      = "WriteContainerLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = [aws_cloudwatch_log_group.api.arn, "${aws_cloudwatch_log_group.api.arn}:*"]
        },
        {
          # The liveness watchdog hands an instance whose API cannot be
          # restarted back to the group; this group only.
          Sid      = "ReportOwnHealth"
          Effect   = "Allow"
          Action   = "autoscaling:SetInstanceHealth"
          Resource = local.asg_arn_pattern
        },
      ],
      [for statement in [
        {
          Sid      = "RemoteWriteMetrics"
          Effect   = "Allow"
          Action   = "aps:RemoteWrite"
          Resource = local.amp_workspace_arn
        },
      ] : statement if local.amp_workspace_arn != null],
      [for statement in [
        {
          # GetAuthorizationToken has no resource-level permissions.
          Sid      = "EcrLogin"
          Effect   = "Allow"
          Action   = "ecr:GetAuthorizationToken"
          Resource = "*"
        },
        {
          Sid      = "EcrPullTheApiImage"
          Effect   = "Allow"
          Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
          Resource = local.ecr_repository
        },
      ] : statement if local.ecr_repository != null],
    )
  })
}
