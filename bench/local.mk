# bench/local.mk -- `make bench`: phmalloc against glibc, jemalloc, mimalloc,
# tcmalloc (process mode) and Boost.Interprocess, OSSP mm (shared heaps).
# The drivers are EXTRA_PROGRAMS: built only by bench/run.sh, never by
# `make`, `make check` or `make distcheck`.  See bench/README.md.

EXTRA_PROGRAMS = bench/phb bench/phb_phshm bench/phb_boost bench/phb_mm \
	bench/phb_phmap

# process mode: plain malloc/free, the allocator comes from LD_PRELOAD
bench_phb_SOURCES = bench/phb.c bench/phb_common.h

# phmalloc's shared heap, through the public header only
bench_phb_phshm_SOURCES = bench/phb_phshm.c bench/phb_common.h
bench_phb_phshm_LDADD = libphmalloc.la -lrt
bench_phb_phshm_LDFLAGS = -no-install

# std::unordered_map with ph::shared_allocator (<phmalloc/allocator.hpp>)
bench_phb_phmap_SOURCES = bench/phb_phmap.cc bench/phb_map.h bench/phb_common.h
bench_phb_phmap_CXXFLAGS = -std=c++17
bench_phb_phmap_LDADD = libphmalloc.la
bench_phb_phmap_LDFLAGS = -no-install

# Boost.Interprocess managed_shared_memory (libboost-dev, header-only)
bench_phb_boost_SOURCES = bench/phb_boost.cc bench/phb_common.h bench/phb_map.h
bench_phb_boost_LDADD = -lrt

# OSSP mm (libmm-dev)
bench_phb_mm_SOURCES = bench/phb_mm.c bench/phb_common.h
bench_phb_mm_LDADD = -lmm

# Without a C++17 compiler (configure said so) the two C++ drivers stop
# before any compiler runs, and run.sh's report names the reason.
if !PH_HAVE_CXX17
$(bench_phb_phmap_OBJECTS) $(bench_phb_boost_OBJECTS): bench-no-cxx
bench-no-cxx:
	@echo "error: no C++17 compiler (configure found none): the C++ bench drivers are skipped" >&2; exit 1
endif

EXTRA_DIST += bench/run.sh bench/report.py bench/README.md

bench: libphmalloc.la libphdropin.la
	MAKE="$(MAKE)" $(SHELL) $(top_srcdir)/bench/run.sh $(abs_top_builddir)
.PHONY: bench

# `make clean` does not know EXTRA_PROGRAMS; this removes what bench made
bench-clean:
	-rm -rf $(EXTRA_PROGRAMS) bench/*.$(OBJEXT) bench/.libs bench/out
.PHONY: bench-clean
