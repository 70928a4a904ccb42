# test/dropin/local.mk -- the drop-in build under LD_PRELOAD with real
# programs: `make check-dropin` (tools/test.sh runs it).
EXTRA_DIST += test/dropin/run.sh
check-dropin: libphdropin.la
	$(SHELL) $(top_srcdir)/test/dropin/run.sh $(abs_top_builddir)/.libs/libphdropin.so
.PHONY: check-dropin
