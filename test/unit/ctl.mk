# test/unit/ctl.mk -- mallctl, malloc_stats_print and PHMALLOC_CONF.
check_PROGRAMS += test/unit/test_ctl
TESTS += test/unit/test_ctl
test_unit_test_ctl_SOURCES = test/unit/test_ctl.c
test_unit_test_ctl_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_ctl_CFLAGS = $(TEST_CFLAGS)
test_unit_test_ctl_LDADD = $(UNIT_LDADD)
