output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnet IDs, in the order of availability_zones."
  value       = [for az in var.availability_zones : aws_subnet.public[az].id]
}

output "private_subnet_ids" {
  description = "Private subnet IDs (runner hosts live here), in the order of availability_zones."
  value       = [for az in var.availability_zones : aws_subnet.private[az].id]
}

output "internet_gateway_id" {
  description = "ID of the internet gateway."
  value       = aws_internet_gateway.this.id
}

output "nat_gateway_ids" {
  description = "NAT gateway IDs: one for nat_mode \"single\", one per zone (in zone order) for \"per_az\", none for \"instance\"."
  value       = [for az in local.nat_gateway_azs : aws_nat_gateway.this[az].id]
}

output "nat_public_ips" {
  description = "Elastic IP addresses of the NAT (the addresses GitHub sees): one per NAT gateway, in the order of nat_gateway_ids, or the NAT instance's one."
  value       = [for az in local.nat_azs : aws_eip.nat[az].public_ip]
}

output "nat_instance_network_interface_id" {
  description = "The NAT instance's stable network interface (the private routes' target), or null unless nat_mode = \"instance\"."
  value       = try(aws_network_interface.nat[0].id, null)
}

output "nat_instance_autoscaling_group_name" {
  description = "The Auto Scaling group (of one) that keeps the NAT instance alive, or null unless nat_mode = \"instance\"."
  value       = try(aws_autoscaling_group.nat_instance[0].name, null)
}

output "public_route_table_id" {
  description = "ID of the public route table (0.0.0.0/0 to the internet gateway)."
  value       = aws_route_table.public.id
}

output "private_route_table_ids" {
  description = "IDs of the private route tables, one per zone in the order of availability_zones (0.0.0.0/0 to a NAT gateway)."
  value       = [for az in var.availability_zones : aws_route_table.private[az].id]
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint attached to the private route tables."
  value       = aws_vpc_endpoint.s3.id
}

output "availability_zones" {
  description = "Availability zones the subnets were made in."
  value       = var.availability_zones
}
