provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "runnerfleet:fleet" = var.name
    })
  }
}
