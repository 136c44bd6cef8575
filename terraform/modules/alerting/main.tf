data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
  region        = data.aws_region.current.name
  workspace_arn = "arn:${local.partition}:aps:${local.region}:${local.account_id}:workspace/${var.workspace_id}"

  # The compose stack's routing (grouping, paging on critical, inhibitions) is
  # read from its file, not restated: one routing for both deployments. Only
  # the receivers differ: AMP can deliver to SNS alone, so every receiver of
  # the file gets a receiver of the same name publishing to the topic, with a
  # `receiver` message attribute subscriptions can filter on (page, ticket).
  compose_alertmanager = yamldecode(file(var.alertmanager_config_file))
  receiver_names = distinct(concat(
    [local.compose_alertmanager.route.receiver],
    [for r in try(local.compose_alertmanager.receivers, []) : r.name],
  ))
  alertmanager_config = merge(
    { route = local.compose_alertmanager.route },
    can(local.compose_alertmanager.inhibit_rules) ? { inhibit_rules = local.compose_alertmanager.inhibit_rules } : {},
    {
      receivers = [for r in local.receiver_names : {
        name = r
        sns_configs = [{
          topic_arn     = aws_sns_topic.alerts.arn
          sigv4         = { region = local.region }
          send_resolved = true
          subject       = "[${var.name}] {{ .Status | toUpper }} {{ .CommonLabels.alertname }}"
          attributes    = { receiver = r }
        }]
      }]
    },
  )
}

# One namespace per rule file, holding that file unchanged: recording rules,
# alerts and SLOs stay in one place (observability/prometheus/rules), tested
# by promtool and loaded by compose, and a change there is a change here.
resource "aws_prometheus_rule_group_namespace" "this" {
  for_each = var.rule_files

  name         = each.key
  workspace_id = var.workspace_id
  data         = file(each.value)

  tags = var.tags
}

resource "aws_prometheus_alert_manager_definition" "this" {
  workspace_id = var.workspace_id
  definition   = yamlencode({ alertmanager_config = yamlencode(local.alertmanager_config) })
}

# Customer managed key of the topic. AMP publishes to an encrypted topic only
# if the key lets it generate data keys; nothing else but the account uses it.
resource "aws_kms_key" "alerts" {
  description             = "${var.name}: Amazon Managed Prometheus alert topic"
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
        Sid       = "ManagedPrometheusPublishesToTheAlertTopic"
        Effect    = "Allow"
        Principal = { Service = "aps.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })

  tags = merge(var.tags, { Name = "${var.name}-alerts" })
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/${var.name}-alerts"
  target_key_id = aws_kms_key.alerts.key_id
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  display_name      = "${var.name}: Prometheus alerts"
  kms_master_key_id = aws_kms_key.alerts.arn

  tags = var.tags
}

# Only this account's workspace may publish: the source-account condition
# keeps another account's AMP (the confused deputy) out, the source ARN
# pins it to the one workspace.
resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "ManagedPrometheusPublishes"
        Effect    = "Allow"
        Principal = { Service = "aps.amazonaws.com" }
        Action    = ["sns:Publish", "sns:GetTopicAttributes"]
        Resource  = aws_sns_topic.alerts.arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnEquals    = { "aws:SourceArn" = local.workspace_arn }
        }
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alert_email != null ? 1 : 0

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}
