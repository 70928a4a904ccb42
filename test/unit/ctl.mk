# test/unit/ctl.mk
