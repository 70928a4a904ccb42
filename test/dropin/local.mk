# test/dropin/local.mk
