mock_provider "aws" {
  source = "../../tests/mocks"
}

# The repository's own files: the test fails if a rule file is added without
# its namespace, or if a namespace carries anything but its file.
variables {
  name         = "fs-test"
  workspace_id = "ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
  rule_files = {
    for f in fileset("../../../observability/prometheus/rules", "*.yml") :
    trimsuffix(f, ".yml") => "../../../observability/prometheus/rules/${f}"
  }
  alertmanager_config_file = "../../../observability/alertmanager/alertmanager.yml"
}

run "a_namespace_per_rule_file_with_the_file_as_data" {
  command = apply

  assert {
    condition     = length(var.rule_files) == 3 && keys(aws_prometheus_rule_group_namespace.this) == ["alerts", "recording", "slo"]
    error_message = "Every rule file of observability/prometheus/rules (alerts, recording, slo) needs its own rule group namespace."
  }

  assert {
    condition = alltrue([
      for f in fileset("../../../observability/prometheus/rules", "*.yml") :
      aws_prometheus_rule_group_namespace.this[trimsuffix(f, ".yml")].data == file("../../../observability/prometheus/rules/${f}")
    ])
    error_message = "A namespace's data must be its rule file, byte for byte."
  }

  assert {
    condition     = alltrue([for ns in aws_prometheus_rule_group_namespace.this : ns.workspace_id == var.workspace_id])
    error_message = "The namespaces must be on the given workspace."
  }

  assert {
    condition     = strcontains(aws_prometheus_rule_group_namespace.this["alerts"].data, "alert: FlashSaleOversold") && strcontains(aws_prometheus_rule_group_namespace.this["slo"].data, "FastBurn")
    error_message = "FlashSaleOversold and the SLO burn-rate alerts must be deployed."
  }
}

run "alert_manager_publishes_to_the_encrypted_topic" {
  command = apply

  assert {
    condition     = aws_prometheus_alert_manager_definition.this.workspace_id == var.workspace_id
    error_message = "The alert manager definition must be on the given workspace."
  }

  assert {
    condition = alltrue([
      for r in yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this.definition).alertmanager_config).receivers :
      length(r.sns_configs) == 1 && r.sns_configs[0].topic_arn == aws_sns_topic.alerts.arn && r.sns_configs[0].sigv4.region == "eu-west-1"
    ]) && output.topic_arn == aws_sns_topic.alerts.arn
    error_message = "Every receiver must publish to the module's SNS topic (SigV4 with a region, as AMP requires)."
  }

  assert {
    condition = (
      toset([for r in yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this.definition).alertmanager_config).receivers : r.name]) == toset(["page", "ticket"]) &&
      yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this.definition).alertmanager_config).route == yamldecode(file(var.alertmanager_config_file)).route &&
      yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this.definition).alertmanager_config).inhibit_rules == yamldecode(file(var.alertmanager_config_file)).inhibit_rules
    )
    error_message = "The route and inhibitions must be the compose stack's, with its receivers page and ticket."
  }

  assert {
    condition     = aws_sns_topic.alerts.kms_master_key_id == aws_kms_key.alerts.arn && aws_kms_key.alerts.enable_key_rotation
    error_message = "The topic must be encrypted with the module's rotating customer managed key."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.alerts.policy).Statement : s
      if try(s.Principal.Service, "") == "aps.amazonaws.com"
    ]).Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "The key policy must let AMP of this account (and only it) use the key."
  }

  assert {
    condition = (
      one(jsondecode(aws_sns_topic_policy.alerts.policy).Statement).Principal.Service == "aps.amazonaws.com" &&
      contains(one(jsondecode(aws_sns_topic_policy.alerts.policy).Statement).Action, "sns:Publish") &&
      one(jsondecode(aws_sns_topic_policy.alerts.policy).Statement).Condition.StringEquals["aws:SourceAccount"] == "123456789012" &&
      one(jsondecode(aws_sns_topic_policy.alerts.policy).Statement).Condition.ArnEquals["aws:SourceArn"] == "arn:aws:aps:eu-west-1:123456789012:workspace/${var.workspace_id}"
    )
    error_message = "The topic policy must let aps.amazonaws.com publish, for this account's workspace only."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.email) == 0
    error_message = "Without alert_email nothing is subscribed."
  }
}

run "email_subscription" {
  command = plan

  variables {
    alert_email = "oncall@example.com"
  }

  assert {
    condition     = aws_sns_topic_subscription.email[0].endpoint == "oncall@example.com" && aws_sns_topic_subscription.email[0].protocol == "email"
    error_message = "alert_email must be subscribed to the topic."
  }
}

run "rejects_a_bad_workspace_id_and_email" {
  command = plan

  variables {
    workspace_id = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1"
    alert_email  = "not-an-address"
  }

  expect_failures = [var.workspace_id, var.alert_email]
}

run "rejects_a_missing_rule_file" {
  command = plan

  variables {
    rule_files = { alerts = "../../../observability/prometheus/rules/no-such-file.yml" }
  }

  expect_failures = [var.rule_files]
}
