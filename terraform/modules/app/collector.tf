# Metrics and traces on AWS: an ADOT (AWS Distro for OpenTelemetry) collector
# on each instance. It scrapes the API's /metrics (and the exporter's) on the
# loopback interface, so /metrics never has to pass the load balancer, and
# remote-writes them (SigV4 with the instance role for Amazon Managed
# Prometheus); it receives the API's OTLP/HTTP spans and forwards them to the
# trace endpoint. Nothing of it runs when neither destination is set.
locals {
  traces_enabled    = var.otlp_traces_endpoint != null
  metrics_enabled   = var.prometheus_remote_write_url != null
  collector_enabled = local.traces_enabled || local.metrics_enabled

  # The API container reaches the collector on the Docker bridge gateway,
  # under this name (docker run --add-host NAME:host-gateway).
  collector_host        = "otel-collector"
  exporter_metrics_port = 9465

  # https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-ID/api/v1/remote_write
  amp_match         = local.metrics_enabled ? regexall("^https://aps-workspaces\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?/workspaces/(ws-[A-Za-z0-9-]+)/api/v1/remote_write$", var.prometheus_remote_write_url) : []
  amp_workspace_arn = length(local.amp_match) > 0 ? "arn:${local.partition}:aps:${local.amp_match[0][0]}:${local.account_id}:workspace/${local.amp_match[0][2]}" : null
  amp_region        = length(local.amp_match) > 0 ? local.amp_match[0][0] : null

  collector_config = !local.collector_enabled ? "" : yamlencode({
    extensions = merge(
      { health_check = { endpoint = "127.0.0.1:13133" } },
      local.amp_workspace_arn != null ? { sigv4auth = { region = local.amp_region, service = "aps" } } : {},
    )
    receivers = merge(
      local.traces_enabled ? {
        # __DOCKER_GATEWAY__ is replaced at boot by the bridge gateway address:
        # reachable from the containers, not from the network.
        otlp = { protocols = { http = { endpoint = "__DOCKER_GATEWAY__:4318" } } }
      } : {},
      local.metrics_enabled ? {
        prometheus = {
          config = {
            scrape_configs = concat(
              [{
                job_name        = "flashsale-api"
                scrape_interval = "15s"
                static_configs  = [{ targets = ["127.0.0.1:${var.container_port}"] }]
              }],
              local.exporter_enabled ? [{
                job_name        = "flashsale-exporter"
                scrape_interval = "15s"
                static_configs  = [{ targets = ["127.0.0.1:${local.exporter_metrics_port}"] }]
              }] : [],
            )
          }
        }
      } : {},
    )
    processors = {
      # Every instance scrapes 127.0.0.1: the EC2 attributes (instance id,
      # zone) tell the series of one instance from another's.
      resourcedetection = { detectors = ["env", "ec2"], timeout = "5s", override = false }
      batch             = {}
    }
    exporters = merge(
      local.traces_enabled ? {
        "otlphttp/traces" = { traces_endpoint = var.otlp_traces_endpoint }
      } : {},
      local.metrics_enabled ? {
        prometheusremotewrite = merge(
          {
            endpoint                         = var.prometheus_remote_write_url
            resource_to_telemetry_conversion = { enabled = true }
            external_labels                  = { deployment = var.name }
          },
          local.amp_workspace_arn != null ? { auth = { authenticator = "sigv4auth" } } : {},
        )
      } : {},
    )
    service = {
      extensions = concat(["health_check"], local.amp_workspace_arn != null ? ["sigv4auth"] : [])
      pipelines = merge(
        local.traces_enabled ? {
          traces = { receivers = ["otlp"], processors = ["resourcedetection", "batch"], exporters = ["otlphttp/traces"] }
        } : {},
        local.metrics_enabled ? {
          metrics = { receivers = ["prometheus"], processors = ["resourcedetection", "batch"], exporters = ["prometheusremotewrite"] }
        } : {},
      )
    }
  })
}
