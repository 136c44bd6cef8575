data "aws_availability_zones" "available" {
  count = var.azs == null ? 1 : 0

  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs = var.azs != null ? var.azs : slice(sort(data.aws_availability_zones.available[0].names), 0, 3)

  # The Amazon Managed Prometheus workspace the collectors write to, from its
  # remote-write URL (https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-ID/api/v1/remote_write);
  # null for any other remote-write target, which then evaluates its own rules.
  amp_workspace_id = try(regex("^https://aps-workspaces\\.[a-z0-9-]+\\.amazonaws\\.com(?:\\.cn)?/workspaces/(ws-[A-Za-z0-9-]+)/api/v1/remote_write$", var.prometheus_remote_write_url)[0], null)
  rules_dir        = "${path.module}/../../../observability/prometheus/rules"

  # The buyer page signs in with one fixed callback (redirect URIs are matched
  # as exact strings: /sales/{id}/wait cannot be registered per sale) and
  # returns to its sale through `state`. Over plain HTTP the page is no secure
  # context (no WebCrypto for PKCE) and Cognito takes http callbacks on
  # localhost only: the demo signs in through a local port forward.
  public_url       = var.public_url != null ? var.public_url : (var.certificate_arn != null ? "https://${module.alb.dns_name}" : null)
  sign_in_callback = local.public_url != null ? "${local.public_url}/wait/signed-in" : "http://localhost:8080/wait/signed-in"
}

module "network" {
  source = "../../modules/network"

  name             = var.name
  vpc_cidr         = var.vpc_cidr
  azs              = local.azs
  nat_gateway_mode = var.nat_gateway_mode
  enable_flow_logs = var.enable_flow_logs
}

module "alb" {
  source = "../../modules/alb"

  name                       = var.name
  vpc_id                     = module.network.vpc_id
  public_subnet_ids          = module.network.public_subnet_ids
  target_cidr_blocks         = module.network.private_subnet_cidrs
  certificate_arn            = var.certificate_arn
  allow_plain_http           = var.allow_plain_http
  ingress_cidr_blocks        = var.ingress_cidr_blocks
  target_port                = 8000
  health_check_path          = "/health/ready"
  enable_deletion_protection = var.enable_deletion_protection
  access_logs_force_destroy  = true # so that `terraform destroy` removes the bucket with its logs
  enable_waf                 = var.enable_waf
  waf_rate_limit             = var.waf_rate_limit
  idle_timeout               = var.alb_idle_timeout_s
}

module "redis" {
  source = "../../modules/redis"

  name                    = var.name
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids
  app_security_group_id   = module.app.security_group_id
  engine                  = var.redis_engine
  engine_version          = var.redis_engine_version
  node_type               = var.redis_node_type
  cluster_mode_enabled    = var.redis_cluster_mode_enabled
  num_node_groups         = var.redis_num_node_groups
  replicas_per_node_group = var.redis_replicas_per_node_group
  apply_immediately       = true

  # Destroy leaves a snapshot of the last state (stock, holds, unexported ledger entries).
  final_snapshot_identifier = "${var.name}-redis-final"
  alarm_emails              = var.alarm_emails
}

module "postgres" {
  source = "../../modules/postgres"

  name                  = var.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  app_security_group_id = module.app.security_group_id
  instance_class        = var.db_instance_class
  backup_retention_days = var.db_backup_retention_days
  deletion_protection   = var.db_deletion_protection
  apply_immediately     = true
}

# Who the buyers are (issue 22): a Cognito user pool with the buyer page as
# its public client, or the shop's own provider when identity_issuer_url is set.
module "identity" {
  source = "../../modules/identity"

  name                = var.name
  issuer_url          = var.identity_issuer_url
  audience            = var.identity_audience
  callback_urls       = var.identity_issuer_url == null ? [local.sign_in_callback] : []
  deletion_protection = var.identity_deletion_protection
}

module "app" {
  source = "../../modules/app"

  name                    = var.name
  vpc_id                  = module.network.vpc_id
  private_subnet_ids      = module.network.private_subnet_ids
  alb_security_group_id   = module.alb.security_group_id
  target_group_arn        = module.alb.target_group_arn
  alb_arn_suffix          = module.alb.lb_arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffix

  image            = var.image
  ami_id           = var.ami_id
  container_port   = 8000
  instance_type    = var.instance_type
  min_size         = var.min_size
  max_size         = var.max_size
  desired_capacity = var.desired_capacity

  target_requests_per_instance = var.target_requests_per_instance
  target_cpu_utilization       = var.target_cpu_utilization
  sale_windows                 = var.sale_windows
  warm_pool                    = var.warm_pool

  keepalive_timeout_s = var.api_keepalive_s
  alb_idle_timeout_s  = var.alb_idle_timeout_s

  redis_host                   = module.redis.endpoint_address
  redis_port                   = module.redis.port
  redis_cluster_mode           = module.redis.cluster_mode_enabled
  redis_security_group_id      = module.redis.security_group_id
  redis_auth_token_secret_arn  = module.redis.auth_token_secret_arn
  redis_auth_token_kms_key_arn = module.redis.kms_key_arn
  redis_timeout_ms             = var.redis_timeout_ms
  durability                   = var.durability
  log_level                    = var.log_level

  oidc_issuer   = module.identity.issuer_url
  oidc_audience = module.identity.audience
  # The buyer page's public client: Cognito's app client, or none with the shop's own provider.
  oidc_page_client_id = module.identity.client_id

  database = {
    host                   = module.postgres.address
    port                   = module.postgres.port
    name                   = module.postgres.database_name
    master_user_secret_arn = module.postgres.master_user_secret_arn
    secret_kms_key_arn     = module.postgres.kms_key_arn
    security_group_id      = module.postgres.security_group_id
  }

  otlp_traces_endpoint        = var.otlp_traces_endpoint
  prometheus_remote_write_url = var.prometheus_remote_write_url
}

# The alert rules of observability/prometheus/rules (the files compose loads
# and promtool tests) on the AMP workspace, and its alert manager publishing
# to an encrypted SNS topic. Only with an AMP workspace: without one nothing
# in AWS evaluates rules.
module "alerting" {
  source = "../../modules/alerting"
  count  = local.amp_workspace_id != null ? 1 : 0

  name                     = var.name
  workspace_id             = local.amp_workspace_id
  rule_files               = { for f in fileset(local.rules_dir, "*.yml") : trimsuffix(f, ".yml") => "${local.rules_dir}/${f}" }
  alertmanager_config_file = "${path.module}/../../../observability/alertmanager/alertmanager.yml"
  alert_email              = var.alert_email
}
