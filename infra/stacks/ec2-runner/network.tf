module "network" {
  source = "../../modules/network"

  name                       = var.name
  vpc_cidr                   = var.vpc_cidr
  availability_zones         = var.availability_zones
  public_subnet_cidrs        = var.public_subnet_cidrs
  private_subnet_cidrs       = var.private_subnet_cidrs
  nat_mode                   = var.nat_mode
  enable_interface_endpoints = var.enable_interface_endpoints
  enable_flow_logs           = var.enable_flow_logs
  flow_log_retention_days    = var.log_retention_days
  tags                       = var.tags
}

output "vpc_id" {
  description = "ID of the fleet's VPC."
  value       = module.network.vpc_id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = module.network.vpc_cidr
}

output "public_subnet_ids" {
  description = "Public subnet IDs, one per availability zone."
  value       = module.network.public_subnet_ids
}

output "private_subnet_ids" {
  description = "Private subnet IDs (runner hosts live here), one per availability zone."
  value       = module.network.private_subnet_ids
}

output "internet_gateway_id" {
  description = "Internet gateway ID."
  value       = module.network.internet_gateway_id
}

output "nat_gateway_ids" {
  description = "NAT gateway IDs (none with nat_mode = \"instance\")."
  value       = module.network.nat_gateway_ids
}

output "nat_public_ips" {
  description = "Elastic IPs of the NAT gateways or the NAT instance: the addresses GitHub sees."
  value       = module.network.nat_public_ips
}

output "nat_instance_autoscaling_group_name" {
  description = "Auto Scaling group of the NAT instance (nat_mode = \"instance\"), or null."
  value       = module.network.nat_instance_autoscaling_group_name
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint on the private route tables."
  value       = module.network.s3_endpoint_id
}
