output "issuer_url" {
  description = "FLASHSALE_OIDC_ISSUER: https://cognito-idp.REGION.amazonaws.com/POOL_ID, or issuer_url. The API finds the keys through ISSUER/.well-known/openid-configuration."
  value       = local.cognito ? "https://cognito-idp.${local.region}.${data.aws_partition.current.dns_suffix}/${aws_cognito_user_pool.this[0].id}" : var.issuer_url
}

output "audience" {
  description = "FLASHSALE_OIDC_AUDIENCE: the app client id with Cognito (its access tokens carry it as client_id and have no aud), or audience."
  value       = local.cognito ? aws_cognito_user_pool_client.buyer_page[0].id : var.audience
}

output "client_id" {
  description = "client_id the buyer page signs in with (the Cognito app client); null with the shop's own provider, whose client the shop registers."
  value       = one(aws_cognito_user_pool_client.buyer_page[*].id)
}

output "sign_in_url" {
  description = "Base URL of the hosted sign-in page (its /oauth2/authorize and /oauth2/token); null with the shop's own provider."
  value       = local.sign_in_url
}

output "user_pool_id" {
  description = "ID of the Cognito user pool; null with the shop's own provider."
  value       = one(aws_cognito_user_pool.this[*].id)
}

output "user_pool_arn" {
  description = "ARN of the Cognito user pool; null with the shop's own provider."
  value       = one(aws_cognito_user_pool.this[*].arn)
}

output "custom_domain_cloudfront_distribution" {
  description = "CloudFront name to alias custom_domain to in DNS; null without a custom domain."
  value       = var.custom_domain == null ? null : one(aws_cognito_user_pool_domain.this[*].cloudfront_distribution)
}

output "groups_claim" {
  description = "Name of the access-token claim listing the buyer's groups, for group eligibility rules: cognito:groups with Cognito, null with the shop's own provider (its documentation names it)."
  value       = local.cognito ? "cognito:groups" : null
}
