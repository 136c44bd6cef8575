# The buyers' OpenID provider (issue 22): a Cognito user pool whose hosted
# sign-in page the buyer page reaches with the authorization code flow and
# PKCE, or, when issuer_url is set, nothing at all (the shop's own provider).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  cognito = var.issuer_url == null
  region  = data.aws_region.current.name

  # Unique in the region without publishing the account id in the sign-in URL.
  domain_prefix = coalesce(
    var.domain_prefix,
    "${var.name}-buyers-${substr(sha256("${data.aws_caller_identity.current.account_id}/${local.region}"), 0, 8)}",
  )
  sign_in_url = !local.cognito ? null : (
    var.custom_domain != null ? "https://${var.custom_domain}" : "https://${local.domain_prefix}.auth.${local.region}.amazoncognito.com"
  )
}

resource "aws_cognito_user_pool" "this" {
  count = local.cognito ? 1 : 0

  name                = "${var.name}-buyers"
  user_pool_tier      = var.tier
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"

  # Buyers sign in with their e-mail address, verified before it counts; a
  # changed address keeps the old one until the new one is verified.
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  username_configuration {
    case_sensitive = false
  }

  user_attribute_update_settings {
    attributes_require_verification_before_update = ["email"]
  }

  schema {
    name                = "email"
    attribute_data_type = "String"
    required            = true
    mutable             = true

    string_attribute_constraints {
      min_length = 3
      max_length = 254
    }
  }

  admin_create_user_config {
    allow_admin_create_user_only = !var.allow_self_sign_up
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  mfa_configuration = var.mfa_configuration

  dynamic "software_token_mfa_configuration" {
    for_each = var.mfa_configuration == "OFF" ? [] : [true]
    content {
      enabled = true
    }
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  verification_message_template {
    default_email_option = "CONFIRM_WITH_CODE"
  }

  email_configuration {
    email_sending_account = var.email_sender == null ? "COGNITO_DEFAULT" : "DEVELOPER"
    source_arn            = try(var.email_sender.ses_identity_arn, null)
    from_email_address    = try(var.email_sender.from_address, null)
  }

  # PLUS: threat protection enforced (compromised credentials, adaptive
  # authentication); the lower tiers have none to configure.
  dynamic "user_pool_add_ons" {
    for_each = var.tier == "PLUS" ? [true] : []
    content {
      advanced_security_mode = "ENFORCED"
    }
  }

  dynamic "lambda_config" {
    for_each = var.pre_token_generation_lambda_arn == null ? [] : [true]
    content {
      pre_token_generation_config {
        lambda_arn     = var.pre_token_generation_lambda_arn
        lambda_version = "V2_0" # V1 can change ID tokens only
      }
    }
  }

  tags = var.tags
}

# The buyer page: a public client (no secret: a browser cannot keep one),
# authorization code flow only (PKCE is sent by the page; Cognito checks it
# whenever a code_challenge came with the request).
resource "aws_cognito_user_pool_client" "buyer_page" {
  count = local.cognito ? 1 : 0

  name         = "${var.name}-buyer-page"
  user_pool_id = aws_cognito_user_pool.this[0].id

  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = var.callback_urls
  logout_urls                          = var.logout_urls

  # Sign-in happens on the hosted page only; no password ever reaches an API
  # of this client.
  explicit_auth_flows           = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true

  access_token_validity  = var.access_token_validity_minutes
  id_token_validity      = var.access_token_validity_minutes
  refresh_token_validity = var.refresh_token_validity_hours

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "hours"
  }
}

resource "aws_cognito_user_pool_domain" "this" {
  count = local.cognito ? 1 : 0

  user_pool_id    = aws_cognito_user_pool.this[0].id
  domain          = coalesce(var.custom_domain, local.domain_prefix)
  certificate_arn = var.custom_domain_certificate_arn
}

resource "aws_lambda_permission" "pre_token_generation" {
  count = local.cognito && var.pre_token_generation_lambda_arn != null ? 1 : 0

  statement_id   = "${var.name}-cognito-pre-token-generation"
  action         = "lambda:InvokeFunction"
  function_name  = var.pre_token_generation_lambda_arn
  principal      = "cognito-idp.${data.aws_partition.current.dns_suffix}"
  source_arn     = aws_cognito_user_pool.this[0].arn
  source_account = data.aws_caller_identity.current.account_id
}
