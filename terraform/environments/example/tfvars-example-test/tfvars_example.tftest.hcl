# Run by tf-test.sh as
#   terraform test -test-directory=tfvars-example-test -var-file=terraform.tfvars.example
# to prove the example variables file passes every validation and plans.
mock_provider "aws" {
  source = "../../tests/mocks"
}

run "tfvars_example_plans" {
  command = plan

  assert {
    condition     = var.image != "" && var.certificate_arn != null
    error_message = "terraform.tfvars.example must set the image and a certificate."
  }
}
