# What an operator must hear about before buyers do. With noeviction a full
# cache refuses every purchase; a saturated engine thread is every request's
# latency; replication lag is what an asynchronous failover loses.
locals {
  log_group_prefix = "/flashsale/${var.name}/redis"

  # ElastiCache names the nodes after the group: NAME-001.. without cluster
  # mode, NAME-0001-001.. (shard, node) with it. Known at plan time, so the
  # alarms can be keyed by node.
  node_ids = tolist(var.cluster_mode_enabled ? flatten([
    for shard in range(1, local.num_node_groups + 1) : [
      for node in range(1, var.replicas_per_node_group + 2) : format("%s-%04d-%03d", var.name, shard, node)
    ]
    ]) : [
    for node in range(1, var.replicas_per_node_group + 2) : format("%s-%03d", var.name, node)
  ])

  alarm_metrics = {
    memory = {
      metric      = "DatabaseMemoryUsagePercentage"
      threshold   = var.alarm_memory_percent
      periods     = 2
      description = "memory above ${var.alarm_memory_percent} % of maxmemory: with noeviction a full cache refuses every purchase"
    }
    engine-cpu = {
      metric      = "EngineCPUUtilization"
      threshold   = var.alarm_engine_cpu_percent
      periods     = 3
      description = "the Redis engine thread above ${var.alarm_engine_cpu_percent} %: every request waits for it"
    }
    replication-lag = {
      metric      = "ReplicationLag"
      threshold   = var.alarm_replication_lag_seconds
      periods     = 2
      description = "a replica more than ${var.alarm_replication_lag_seconds} s behind: a failover now would lose acknowledged writes (primaries report no lag)"
    }
    connections = {
      metric      = "CurrConnections"
      threshold   = var.alarm_connections
      periods     = 2
      description = "more than ${var.alarm_connections} client connections on one node (the limit is 65,000)"
    }
  }

  alarms = merge([
    for node in local.node_ids : {
      for key, m in local.alarm_metrics : "${node}/${key}" => merge(m, { node = node, key = key })
    }
  ]...)
}

resource "aws_cloudwatch_log_group" "cache" {
  for_each = toset(["slow-log", "engine-log"])

  name              = "${local.log_group_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = var.tags
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-redis-alarms"
  display_name      = "${var.name}: ElastiCache alarms"
  kms_master_key_id = aws_kms_key.this.arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "cache" {
  for_each = local.alarms

  alarm_name          = "${var.name}-redis-${each.value.key}-${trimprefix(each.value.node, "${var.name}-")}"
  alarm_description   = "${each.value.node}: ${each.value.description}. Runbook: docs/runbook.md"
  namespace           = "AWS/ElastiCache"
  metric_name         = each.value.metric
  dimensions          = { CacheClusterId = each.value.node }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = each.value.periods
  datapoints_to_alarm = each.value.periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  # A node that reports nothing (a primary has no replication lag, a node
  # being replaced has no data) is not an alarm.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]

  tags = var.tags
}
