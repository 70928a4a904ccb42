# examples/demo.mk -- the shared-heap demo, the README's main job.
noinst_PROGRAMS += examples/shm_demo
examples_shm_demo_SOURCES = examples/shm_demo.c
examples_shm_demo_LDADD = libphmalloc.la
examples_shm_demo_LDFLAGS = -no-install
