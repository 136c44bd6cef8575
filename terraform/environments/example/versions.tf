terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 6.0.0"
    }
  }

  # State holds the Redis AUTH token (ElastiCache has no write-only
  # argument for it): use an encrypted, access-controlled remote backend, e.g.
  #
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "flashsale/example.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}
