# test/dropin/local.mk -- the drop-in build under LD_PRELOAD with real
# programs: `make check-dropin` (tools/test.sh runs it).
EXTRA_DIST += test/dropin/run.sh
check_PROGRAMS += test/dropin/fork_stdio
test_dropin_fork_stdio_SOURCES = test/dropin/fork_stdio.c
check-dropin: libphdropin.la test/dropin/fork_stdio
	$(SHELL) $(top_srcdir)/test/dropin/run.sh $(abs_top_builddir)/.libs/libphdropin.so \
		$(abs_top_builddir)/test/dropin/fork_stdio
.PHONY: check-dropin
