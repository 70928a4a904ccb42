# test/integration/local.mk -- the public API through <phmalloc.h> only.
check_PROGRAMS += test/integration/test_api
TESTS += test/integration/test_api
test_integration_test_api_SOURCES = test/integration/test_api.c
test_integration_test_api_CFLAGS = $(TEST_CFLAGS)
test_integration_test_api_LDADD = libphmalloc.la $(TEST_LIBS)
