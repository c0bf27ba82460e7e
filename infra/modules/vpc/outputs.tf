output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's CIDR (the chart's networkPolicy.vpcCidr)."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Private subnets: EKS nodes, EMR, RDS, ElastiCache."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets: internet-facing load balancers and NAT."
  value       = aws_subnet.public[*].id
}
