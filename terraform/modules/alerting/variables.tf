variable "name" {
  description = "Name prefix of every resource (the environment's name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name must be 2-32 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "workspace_id" {
  description = "ID (ws-...) of the existing Amazon Managed Prometheus workspace the collectors remote-write to, in the provider's region; the rule groups and the alert manager definition are put on it."
  type        = string

  validation {
    condition     = can(regex("^ws-[A-Za-z0-9-]+$", var.workspace_id))
    error_message = "workspace_id must be an Amazon Managed Prometheus workspace ID such as ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789."
  }
}

variable "rule_files" {
  description = "Prometheus rule files, name => path, one rule group namespace each. Their content is sent as it is (file()), so AMP evaluates exactly what promtool tests and compose loads."
  type        = map(string)

  validation {
    condition     = length(var.rule_files) > 0 && alltrue([for k, p in var.rule_files : can(regex("^[A-Za-z0-9_.-]{1,64}$", k)) && fileexists(p)])
    error_message = "rule_files must name at least one existing file, with names of 1-64 letters, digits, '.', '_' or '-'."
  }
}

variable "alertmanager_config_file" {
  description = "Alertmanager configuration whose route and inhibit_rules are reused as they are (the compose stack's observability/alertmanager/alertmanager.yml); its receivers are replaced by receivers of the same names that publish to the SNS topic."
  type        = string

  validation {
    condition     = fileexists(var.alertmanager_config_file) && can(yamldecode(file(var.alertmanager_config_file)).route.receiver)
    error_message = "alertmanager_config_file must be an existing Alertmanager configuration with a route."
  }
}

variable "alert_email" {
  description = "E-mail address subscribed to the alert topic (AWS sends a confirmation first); null: no subscription, subscribe paging or chat to the topic_arn output instead."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@ ]+@[^@ ]+\\.[^@ ]+$", var.alert_email))
    error_message = "alert_email must be null or an e-mail address."
  }
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
