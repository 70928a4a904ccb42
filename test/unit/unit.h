/*
 * unit.h -- helpers for the unit tests, which see the engine's internals.
 */
#ifndef PH_UNIT_H
#define PH_UNIT_H

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "valgrind.h"

/* The tests link the engine directly, as malloc.c and heapapi.c do: name
 * the constructors (the fork handler) so the static link keeps them. */
INSTALLERS_LINK;

/* A fresh heap of `size` bytes on its own anonymous mapping. */
static inline struct heap *unit_heap(size_t size, unsigned hflags)
{
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	return heap_format(base, size, hflags, true);
}

/* For heaps whose runs were made by hand (no blocks announced). */
static inline void unit_heap_unmap(struct heap *h)
{
	munmap(h, h->size);
}

static inline void unit_heap_free(struct heap *h)
{
	if (vg_on())
		slab_vg_forget(h);
	munmap(h, h->size);
}

#define unit_validate(h) do {                                            \
	char why_[256] = "";                                             \
	int bad_ = heap_validate((h), why_, sizeof(why_));               \
	ck_assert_msg(bad_ == 0, "heap_validate: %s", why_);             \
} while (0)

/* Blocks of class c out of their slabs (with the user, in caches, on
 * remote lists not yet drained), by walking h's runs: what
 * h->bins[c].curblocks counts, but also in a --disable-stats build, which
 * has no counters.  At a quiet moment (no thread changes h meanwhile). */
static inline uint64_t unit_class_live(struct heap *h, unsigned c)
{
	const struct page *pm = heap_pages(h);
	uint64_t n = 0;
	for (uint32_t i = h->first_page; i < h->hwm && pm[i].span != 0;
	    i += pm[i].span)
		if (pm[i].kind == PAGE_SLAB && pm[i].cls == c)
			n += sizeclasses[c].nblocks - pm[i].nfree;
	return n;
}

static inline uint64_t unit_live(struct heap *h)
{
	uint64_t n = 0;
	for (unsigned c = 0; c < NBINS; c++)
		n += unit_class_live(h, c);
	return n;
}

/* Pages of [p, p + n) the kernel holds (mincore), whatever else the
 * process (a sanitizer's shadow, Check) maps or touches; p page-aligned. */
static inline size_t unit_resident_pages(const void *p, size_t n)
{
	size_t np = (n + PAGE - 1) / PAGE, in = 0;
	unsigned char *vec = malloc(np);
	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)p, n, vec), 0);
	for (size_t i = 0; i < np; i++)
		in += vec[i] & 1;
	free(vec);
	return in;
}

/* h->stats.allocated is v, in a build with statistics (without, it reads
 * 0 and there is nothing to compare). */
#define unit_assert_allocated(h, v) do {                                 \
	if (config_stats)                                                \
		ck_assert_uint_eq((h)->stats.allocated, (v));            \
} while (0)

#include "../run_suite.h"
#define unit_run run_suite

#endif
