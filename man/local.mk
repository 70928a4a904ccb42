# man/local.mk -- the manual pages (mdoc), installed with the library,
# and the test that mandoc finds nothing to say about them.
dist_man_MANS += man/phmalloc.3 man/ph_heap.3 man/phstat.1 \
	man/ph_allocator.3
TESTS += test/man/lint.sh
EXTRA_DIST += test/man/lint.sh
