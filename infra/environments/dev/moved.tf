# State addresses from before the stack moved into infra/modules/portal: `terraform plan` moves them instead of
# replacing the resources. Keep until every state has been applied with the module, then delete this file.

moved {
  from = aws_kms_key.ecap
  to   = module.portal.aws_kms_key.ecap
}

moved {
  from = aws_kms_alias.ecap
  to   = module.portal.aws_kms_alias.ecap
}

moved {
  from = aws_ecr_repository.portal
  to   = module.portal.aws_ecr_repository.portal
}

moved {
  from = module.vpc
  to   = module.portal.module.vpc
}

moved {
  from = module.eks
  to   = module.portal.module.eks
}

moved {
  from = module.rds
  to   = module.portal.module.rds
}

moved {
  from = module.elasticache
  to   = module.portal.module.elasticache
}

moved {
  from = module.s3
  to   = module.portal.module.s3
}

moved {
  from = module.emr
  to   = module.portal.module.emr
}

moved {
  from = module.iam
  to   = module.portal.module.iam
}
