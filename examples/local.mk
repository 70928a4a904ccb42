# examples/local.mk
# Programs written against the compatibility headers the way an mmalloc or
# an AO_malloc user writes them; test/compat/test_demos runs them.
noinst_PROGRAMS += examples/mmalloc_demo examples/ao_demo
examples_mmalloc_demo_SOURCES = examples/mmalloc_demo.c
examples_mmalloc_demo_LDADD = libphmalloc.la
examples_mmalloc_demo_LDFLAGS = -no-install
examples_ao_demo_SOURCES = examples/ao_demo.c
examples_ao_demo_LDADD = libphmalloc.la
examples_ao_demo_LDFLAGS = -no-install
