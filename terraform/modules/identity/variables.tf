variable "name" {
  description = "Prefix of the module's resources (lower case letters, digits and hyphens, 3-24 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lower case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "issuer_url" {
  description = "The shop's own OpenID provider: its issuer URL exactly as its tokens' `iss` spell it (trailing slash included if it has one), https, on port 443 (the instances' only egress). Set it together with `audience`; then the module creates no Cognito resource. null: a Cognito user pool is the provider."
  type        = string
  default     = null

  validation {
    condition     = var.issuer_url == null || can(regex("^https://[a-z0-9.-]+(:443)?(/[^\\s?#'\"$`\\\\]*)?$", var.issuer_url))
    error_message = "issuer_url must be null or an https URL on port 443 without query, fragment, whitespace, quotes, $, backquotes or backslashes."
  }
}

variable "audience" {
  description = "The `aud` the shop's provider puts into access tokens for the API (FLASHSALE_OIDC_AUDIENCE). Required with `issuer_url`, ignored without it (Cognito's audience is the app client id)."
  type        = string
  default     = null

  validation {
    condition     = var.audience == null || can(regex("^[^\\s'\"$`\\\\]{1,512}$", var.audience))
    error_message = "audience must be null or 1-512 characters without whitespace, quotes, $, backquotes or backslashes."
  }

  validation {
    condition     = (var.issuer_url == null) == (var.audience == null)
    error_message = "Set issuer_url and audience together (the shop's own provider), or neither (a Cognito user pool)."
  }
}

variable "callback_urls" {
  description = "Redirect URIs of the buyer page's sign-in (authorization code + PKCE), compared as exact strings: one fixed callback of the API's public URL, e.g. [\"https://shop.example/wait/signed-in\"]; the page returns to its sale through `state`. No wildcard (Cognito and OAuth 2.1 refuse them), https, or http://localhost for development. Required with Cognito (at most 100)."
  type        = list(string)
  default     = []

  validation {
    condition = length(var.callback_urls) <= 100 && alltrue([
      for u in var.callback_urls : can(regex("^(https://[a-z0-9.-]+(:[0-9]+)?|http://localhost(:[0-9]+)?)(/[^\\s*?#]*)?$", u))
    ])
    error_message = "callback_urls must hold at most 100 https URLs (or http://localhost ones) without wildcards, query or fragment."
  }

  validation {
    condition     = var.issuer_url != null || length(var.callback_urls) > 0
    error_message = "A Cognito user pool needs at least one callback URL for the buyer page."
  }
}

variable "logout_urls" {
  description = "Where Cognito's logout may send the buyer back to (exact strings, same rules as callback_urls)."
  type        = list(string)
  default     = []

  validation {
    condition = length(var.logout_urls) <= 100 && alltrue([
      for u in var.logout_urls : can(regex("^(https://[a-z0-9.-]+(:[0-9]+)?|http://localhost(:[0-9]+)?)(/[^\\s*?#]*)?$", u))
    ])
    error_message = "logout_urls must hold at most 100 https URLs (or http://localhost ones) without wildcards, query or fragment."
  }
}

variable "domain_prefix" {
  description = "Prefix of the Cognito sign-in domain https://PREFIX.auth.REGION.amazoncognito.com (unique in the region). null: NAME-buyers-<8 hex characters derived from the account and region>, so that the account id is not published."
  type        = string
  default     = null

  validation {
    condition     = var.domain_prefix == null || (can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.domain_prefix)) && !can(regex("aws|amazon|cognito", var.domain_prefix)))
    error_message = "domain_prefix must be 1-63 lower case letters, digits and hyphens (not at either end) and must not contain aws, amazon or cognito."
  }
}

variable "custom_domain" {
  description = "Optional sign-in domain of the shop's own (e.g. login.shop.example) instead of the prefix domain; needs custom_domain_certificate_arn and a DNS alias to the output `custom_domain_cloudfront_distribution`."
  type        = string
  default     = null

  validation {
    condition     = var.custom_domain == null || can(regex("^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.custom_domain))
    error_message = "custom_domain must be null or a fully qualified domain name in lower case."
  }
}

variable "custom_domain_certificate_arn" {
  description = "ACM certificate of custom_domain, in us-east-1 (Cognito serves custom domains through CloudFront)."
  type        = string
  default     = null

  validation {
    condition     = var.custom_domain_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.custom_domain_certificate_arn))
    error_message = "custom_domain_certificate_arn must be null or an ACM certificate ARN in us-east-1."
  }

  validation {
    condition     = (var.custom_domain == null) == (var.custom_domain_certificate_arn == null)
    error_message = "Set custom_domain and custom_domain_certificate_arn together."
  }
}

variable "access_token_validity_minutes" {
  description = "Lifetime of access tokens (and ID tokens) in minutes, 5-1440. A sale's buyer signs in once before it: longer than the longest wait in the waiting room, short enough that a leaked token dies soon."
  type        = number
  default     = 60

  validation {
    condition     = var.access_token_validity_minutes == floor(var.access_token_validity_minutes) && var.access_token_validity_minutes >= 5 && var.access_token_validity_minutes <= 1440
    error_message = "access_token_validity_minutes must be a whole number from 5 to 1440."
  }
}

variable "refresh_token_validity_hours" {
  description = "Lifetime of refresh tokens in hours (1 to 87600, i.e. 10 years): how long the buyer page may renew an access token without a new sign-in."
  type        = number
  default     = 24

  validation {
    condition     = var.refresh_token_validity_hours == floor(var.refresh_token_validity_hours) && var.refresh_token_validity_hours >= 1 && var.refresh_token_validity_hours <= 87600
    error_message = "refresh_token_validity_hours must be a whole number from 1 to 87600."
  }
}

variable "mfa_configuration" {
  description = "Multi-factor authentication of the buyers: OPTIONAL (each buyer may add an authenticator app), ON (required of everyone) or OFF."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OPTIONAL", "ON", "OFF"], var.mfa_configuration)
    error_message = "mfa_configuration must be OPTIONAL, ON or OFF."
  }
}

variable "allow_self_sign_up" {
  description = "Let buyers create their own account on the sign-in page (false: only an administrator creates accounts)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to delete the user pool (and with it every buyer account). Turn it off only for throw-away environments."
  type        = bool
  default     = true
}

variable "tier" {
  description = "Feature plan of the user pool: LITE, ESSENTIALS (needed by pre_token_generation_lambda_arn) or PLUS (adds threat protection, enforced here: compromised-credential and adaptive-authentication checks). Priced per monthly active user, PLUS highest."
  type        = string
  default     = "ESSENTIALS"

  validation {
    condition     = contains(["LITE", "ESSENTIALS", "PLUS"], var.tier)
    error_message = "tier must be LITE, ESSENTIALS or PLUS."
  }
}

variable "email_sender" {
  description = "Amazon SES identity that sends the sign-up and recovery e-mails ({ ses_identity_arn, from_address }). null: Cognito's own sender, limited to 50 e-mails a day: enough to try, not for a shop's buyers."
  type = object({
    ses_identity_arn = string
    from_address     = string
  })
  default = null

  validation {
    condition     = var.email_sender == null || try(can(regex("^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/\\S+$", var.email_sender.ses_identity_arn)) && can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.email_sender.from_address)), false)
    error_message = "email_sender must be null or an SES identity ARN with a from address."
  }
}

variable "pre_token_generation_lambda_arn" {
  description = "Optional Lambda (event version V2_0) that adds claims to access tokens, e.g. email_verified, phone_number_verified or an account-creation instant for eligibility rules (Cognito's access tokens carry only sub, username, cognito:groups, scope and client_id). Needs tier ESSENTIALS or PLUS; the module grants Cognito the invoke permission."
  type        = string
  default     = null

  validation {
    condition     = var.pre_token_generation_lambda_arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?$", var.pre_token_generation_lambda_arn))
    error_message = "pre_token_generation_lambda_arn must be null or a Lambda function ARN."
  }

  validation {
    condition     = var.pre_token_generation_lambda_arn == null || var.tier != "LITE"
    error_message = "Access-token claims from a pre-token-generation Lambda (V2_0) need tier ESSENTIALS or PLUS."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
