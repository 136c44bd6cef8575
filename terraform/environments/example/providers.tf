provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Application = "flashsale"
      Environment = var.name
      ManagedBy   = "terraform"
    })
  }
}
