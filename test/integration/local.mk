# test/integration/local.mk
