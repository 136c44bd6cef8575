mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name          = "fs-test"
  callback_urls = ["https://shop.example/wait/signed-in"]
}

run "cognito_pool_and_public_client_by_default" {
  command = apply

  assert {
    condition     = output.issuer_url == "https://cognito-idp.eu-west-1.amazonaws.com/${aws_cognito_user_pool.this[0].id}" && output.issuer_url == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    error_message = "The issuer must be https://cognito-idp.REGION.amazonaws.com/POOL_ID: the iss of Cognito's tokens."
  }

  assert {
    condition     = output.audience == aws_cognito_user_pool_client.buyer_page[0].id && output.client_id == output.audience
    error_message = "With Cognito the audience is the app client id (its access tokens carry it as client_id)."
  }

  assert {
    condition = (
      aws_cognito_user_pool_client.buyer_page[0].generate_secret == false &&
      aws_cognito_user_pool_client.buyer_page[0].allowed_oauth_flows == toset(["code"]) &&
      aws_cognito_user_pool_client.buyer_page[0].allowed_oauth_flows_user_pool_client &&
      aws_cognito_user_pool_client.buyer_page[0].supported_identity_providers == toset(["COGNITO"]) &&
      aws_cognito_user_pool_client.buyer_page[0].callback_urls == toset(var.callback_urls)
    )
    error_message = "The buyer page is a public client (no secret) of the authorization code flow, returning to the given callback only."
  }

  assert {
    condition = (
      aws_cognito_user_pool_client.buyer_page[0].explicit_auth_flows == toset(["ALLOW_REFRESH_TOKEN_AUTH"]) &&
      aws_cognito_user_pool_client.buyer_page[0].prevent_user_existence_errors == "ENABLED" &&
      aws_cognito_user_pool_client.buyer_page[0].enable_token_revocation &&
      aws_cognito_user_pool_client.buyer_page[0].access_token_validity == 60 &&
      aws_cognito_user_pool_client.buyer_page[0].token_validity_units[0].access_token == "minutes"
    )
    error_message = "No password flow on the client, no account enumeration, revocable tokens, 60-minute access tokens."
  }

  assert {
    condition = (
      aws_cognito_user_pool.this[0].deletion_protection == "ACTIVE" &&
      aws_cognito_user_pool.this[0].mfa_configuration == "OPTIONAL" &&
      aws_cognito_user_pool.this[0].software_token_mfa_configuration[0].enabled &&
      aws_cognito_user_pool.this[0].password_policy[0].minimum_length >= 12 &&
      aws_cognito_user_pool.this[0].auto_verified_attributes == toset(["email"]) &&
      aws_cognito_user_pool.this[0].admin_create_user_config[0].allow_admin_create_user_only == false
    )
    error_message = "The pool is protected from deletion, offers TOTP, wants 12+ character passwords, verifies e-mail and lets buyers sign up."
  }

  assert {
    condition = (
      can(regex("^fs-test-buyers-[0-9a-f]{8}$", aws_cognito_user_pool_domain.this[0].domain)) &&
      !strcontains(aws_cognito_user_pool_domain.this[0].domain, "123456789012") &&
      output.sign_in_url == "https://${aws_cognito_user_pool_domain.this[0].domain}.auth.eu-west-1.amazoncognito.com"
    )
    error_message = "The default sign-in domain is NAME-buyers-<hash>, without the account id."
  }

  assert {
    condition     = output.groups_claim == "cognito:groups" && length(aws_lambda_permission.pre_token_generation) == 0 && length(aws_cognito_user_pool.this[0].lambda_config) == 0
    error_message = "No Lambda unless one is given."
  }
}

run "the_shops_own_provider_creates_nothing" {
  command = apply

  variables {
    issuer_url    = "https://login.shop.example/"
    audience      = "https://api.shop.example"
    callback_urls = []
  }

  assert {
    condition = (
      length(aws_cognito_user_pool.this) == 0 &&
      length(aws_cognito_user_pool_client.buyer_page) == 0 &&
      length(aws_cognito_user_pool_domain.this) == 0 &&
      length(aws_lambda_permission.pre_token_generation) == 0
    )
    error_message = "With the shop's own issuer the module must create no Cognito resource."
  }

  assert {
    condition     = output.issuer_url == "https://login.shop.example/" && output.audience == "https://api.shop.example"
    error_message = "The issuer (trailing slash kept: iss is compared as a string) and the audience must pass through unchanged."
  }

  assert {
    condition     = output.client_id == null && output.user_pool_id == null && output.sign_in_url == null && output.groups_claim == null
    error_message = "Cognito outputs must be null with the shop's own issuer."
  }
}

run "custom_domain_and_plus_tier" {
  command = apply

  variables {
    custom_domain                 = "login.shop.example"
    custom_domain_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    tier                          = "PLUS"
    mfa_configuration             = "ON"
    allow_self_sign_up            = false
  }

  assert {
    condition = (
      aws_cognito_user_pool_domain.this[0].domain == "login.shop.example" &&
      aws_cognito_user_pool_domain.this[0].certificate_arn == var.custom_domain_certificate_arn &&
      output.sign_in_url == "https://login.shop.example" &&
      output.custom_domain_cloudfront_distribution == aws_cognito_user_pool_domain.this[0].cloudfront_distribution
    )
    error_message = "A custom sign-in domain uses its us-east-1 certificate and gives the CloudFront name for DNS."
  }

  assert {
    condition = (
      aws_cognito_user_pool.this[0].user_pool_tier == "PLUS" &&
      aws_cognito_user_pool.this[0].user_pool_add_ons[0].advanced_security_mode == "ENFORCED" &&
      aws_cognito_user_pool.this[0].mfa_configuration == "ON" &&
      aws_cognito_user_pool.this[0].admin_create_user_config[0].allow_admin_create_user_only
    )
    error_message = "PLUS enforces threat protection; MFA ON and admin-only sign-up pass through."
  }
}

run "pre_token_generation_lambda_for_eligibility_claims" {
  command = apply

  variables {
    pre_token_generation_lambda_arn = "arn:aws:lambda:eu-west-1:123456789012:function:flashsale-claims" #checkov:skip=CKV_SECRET_6:A made-up Lambda ARN in a test; the scanner reads "token" in the variable name.
    email_sender = {
      ses_identity_arn = "arn:aws:ses:eu-west-1:123456789012:identity/shop.example"
      from_address     = "no-reply@shop.example"
    }
  }

  assert {
    condition = (
      aws_cognito_user_pool.this[0].lambda_config[0].pre_token_generation_config[0].lambda_version == "V2_0" &&
      aws_cognito_user_pool.this[0].lambda_config[0].pre_token_generation_config[0].lambda_arn == var.pre_token_generation_lambda_arn
    )
    error_message = "Access-token claims need the V2_0 pre-token-generation event."
  }

  assert {
    condition = (
      aws_lambda_permission.pre_token_generation[0].principal == "cognito-idp.amazonaws.com" &&
      aws_lambda_permission.pre_token_generation[0].source_arn == aws_cognito_user_pool.this[0].arn &&
      aws_lambda_permission.pre_token_generation[0].source_account == "123456789012"
    )
    error_message = "Only this pool may invoke the Lambda."
  }

  assert {
    condition = (
      aws_cognito_user_pool.this[0].email_configuration[0].email_sending_account == "DEVELOPER" &&
      aws_cognito_user_pool.this[0].email_configuration[0].source_arn == var.email_sender.ses_identity_arn
    )
    error_message = "An SES sender replaces Cognito's 50-a-day one."
  }
}

run "rejects_a_wildcard_callback" {
  command = plan

  variables {
    callback_urls = ["https://shop.example/sales/*/wait"]
  }

  expect_failures = [var.callback_urls]
}

run "rejects_a_plain_http_callback" {
  command = plan

  variables {
    callback_urls = ["http://shop.example/wait/signed-in"]
  }

  expect_failures = [var.callback_urls]
}

run "accepts_a_localhost_callback_for_development" {
  command = plan

  variables {
    callback_urls = ["https://shop.example/wait/signed-in", "http://localhost:8080/wait/signed-in"]
  }

  assert {
    condition     = length(aws_cognito_user_pool_client.buyer_page[0].callback_urls) == 2
    error_message = "http://localhost callbacks are allowed (Cognito accepts them for development)."
  }
}

run "rejects_cognito_without_a_callback" {
  command = plan

  variables {
    callback_urls = []
  }

  expect_failures = [var.callback_urls]
}

run "rejects_an_issuer_without_audience" {
  command = plan

  variables {
    issuer_url = "https://login.shop.example"
  }

  expect_failures = [var.audience]
}

run "rejects_a_plain_http_issuer" {
  command = plan

  variables {
    issuer_url = "http://login.shop.example"
    audience   = "shop-api"
  }

  expect_failures = [var.issuer_url]
}

run "rejects_an_issuer_off_port_443" {
  command = plan

  variables {
    issuer_url = "https://login.shop.example:8443/realms/shop"
    audience   = "shop-api"
  }

  expect_failures = [var.issuer_url]
}

run "rejects_a_domain_prefix_naming_aws" {
  command = plan

  variables {
    domain_prefix = "shop-aws-login"
  }

  expect_failures = [var.domain_prefix]
}

run "rejects_a_custom_domain_without_certificate" {
  command = plan

  variables {
    custom_domain = "login.shop.example"
  }

  expect_failures = [var.custom_domain_certificate_arn]
}

run "rejects_a_token_lambda_on_the_lite_tier" {
  command = plan

  variables {
    tier                            = "LITE"
    pre_token_generation_lambda_arn = "arn:aws:lambda:eu-west-1:123456789012:function:flashsale-claims" #checkov:skip=CKV_SECRET_6:A made-up Lambda ARN in a test; the scanner reads "token" in the variable name.
  }

  expect_failures = [var.pre_token_generation_lambda_arn]
}
