/*
 * refuge.c -- the blocks a signal handler gets when it interrupts its own
 * thread inside a locked section.
 *
 * Heap locks are held without blocking signals (no system call per
 * section).  A thread counts the heap locks it holds or is taking
 * (base.h: tsection); a call that finds the count non-zero runs in a
 * signal handler that interrupted its thread inside a locked section: the
 * heap may be half changed and its lock is this very thread's.  Such a
 * call takes no heap lock (alloc.c):
 *   - it allocates from the heap's refuge: pages between the page map and
 *     the data pages that only this file touches, under a lock of their
 *     own (struct heap.refuge_lock) held with signals blocked, so no
 *     handler ever finds its thread inside a refuge section and the rare
 *     path alone pays the two system calls;
 *   - it gives an ordinary block back on the heap's block stack
 *     (struct heap.remote), which the next holder of the heap lock drains;
 *   - it gives a refuge block back here, as any other caller does.
 * The argument in full: doc/design.md, "Signals".
 *
 * Layout: pages [refuge_page, first_page) of the heap:
 *   map: uint32_t per granule | data: refuge_gran granules of REFUGE_GRAN
 * map[g] is REFUGE_FREE, REFUGE_CONT (granule g continues the block
 * before it), or a block's start: its granule count n (1 <= n <=
 * refuge_gran - g) and, shifted by REFUGE_LEAD_SHIFT, the bytes from the
 * granule to the pointer handed out (lead < REFUGE_GRAN: offset and
 * aligned allocations).  Invariant: a start is followed by exactly n - 1
 * REFUGE_CONT; nothing else is.  Zero pages are an empty refuge, so a heap
 * formats none of it and a process touches it only when it needs it.
 *
 * Crash rule: a block is taken by writing its continuations, then its
 * start; given back by clearing its start, then its continuations.  A
 * holder killed in between leaves continuations that follow no start:
 * refuge_repair clears them.  Every entry is written whole, so a reader
 * without the lock (image.c) sees only values that are each valid.
 */
#include <stdio.h>
#include <string.h>

#include "parts.h"
#include "valgrind.h"

#define REFUGE_GRAN        64u           /* bytes per granule */
#define REFUGE_FREE        0u
#define REFUGE_CONT        0xffffffffu
#define REFUGE_LEAD_SHIFT  16
#define REFUGE_COUNT_MASK  0xffffu
#define REFUGE_MIN_PAGES   4u
#define REFUGE_MAX_PAGES   256u          /* granule counts fit 16 bits */
#define REFUGE_SHARE       64u           /* 1/64 of a heap's pages */

_Static_assert(PAGE / REFUGE_GRAN * REFUGE_MAX_PAGES <= REFUGE_COUNT_MASK,
    "a block's granule count fits its field");

/* ---- geometry: a pure function of the heap's size --------------------------- */

uint32_t refuge_pages(size_t npages)
{
	size_t n = npages / REFUGE_SHARE;
	return (uint32_t)(n < REFUGE_MIN_PAGES ? REFUGE_MIN_PAGES :
	    n > REFUGE_MAX_PAGES ? REFUGE_MAX_PAGES : n);
}

/* Pages of map in a refuge of `pages`: the fewest that map the rest. */
static uint32_t refuge_map_pages(uint32_t pages)
{
	uint32_t per_page = PAGE / sizeof(uint32_t);   /* entries */
	uint32_t gran_per_page = PAGE / REFUGE_GRAN;
	uint32_t m = 1;
	while ((pages - m) * gran_per_page > m * per_page)
		m++;
	return m;
}

uint32_t refuge_granules(uint32_t pages)
{
	return (pages - refuge_map_pages(pages)) * (PAGE / REFUGE_GRAN);
}

static uint32_t *refuge_map(struct heap *h)
{
	return (uint32_t *)((char *)h + ((size_t)h->refuge_page << LG_PAGE));
}

static char *refuge_data(struct heap *h)
{
	uint32_t pages = h->first_page - h->refuge_page;
	return (char *)h + ((size_t)(h->refuge_page +
	    refuge_map_pages(pages)) << LG_PAGE);
}

static inline uint32_t entry_count(uint32_t e)
{
	return e & REFUGE_COUNT_MASK;
}
static inline uint32_t entry_lead(uint32_t e)
{
	return e >> REFUGE_LEAD_SHIFT;
}
/* A start entry that fits the map from granule g. */
static inline bool entry_is_start(const struct heap *h, uint32_t g,
                                  uint32_t e)
{
	return e != REFUGE_FREE && e != REFUGE_CONT && entry_count(e) != 0 &&
	    entry_count(e) <= h->refuge_gran - g &&
	    entry_lead(e) < REFUGE_GRAN;
}

/* ---- the lock ---------------------------------------------------------------- */

static void refuge_repair(struct heap *h);

static void refuge_lock(struct heap *h)
{
	os_signals_block();
	if (!lock_try(&h->refuge_lock) && lock_acquire_slow(&h->refuge_lock,
	    heap_lock_gone, h))
		refuge_repair(h);
}

static void refuge_unlock(struct heap *h)
{
	lock_release(&h->refuge_lock);
	os_signals_restore();
}

/* ---- taking and giving back ---------------------------------------------- */

/* The first granule from g on where a block of size bytes whose pointer is
 * `at` modulo align can start, with its lead in *lead; refuge_gran if
 * none.  align is a power of two. */
static uint32_t refuge_fit(struct heap *h, uint32_t g, size_t size,
                           size_t align, size_t at, uint32_t *lead)
{
	uint32_t *map = refuge_map(h);
	char *data = refuge_data(h);
	while (g < h->refuge_gran) {
		uint32_t e = map[g];
		if (e != REFUGE_FREE) {
			g += entry_is_start(h, g, e) ? entry_count(e) : 1;
			continue;
		}
		uintptr_t a = (uintptr_t)(data + (size_t)g * REFUGE_GRAN);
		uint32_t l = (uint32_t)((at - a) & (align - 1));
		if (l >= REFUGE_GRAN) {
			g++;
			continue;
		}
		size_t need = (l + size + REFUGE_GRAN - 1) / REFUGE_GRAN;
		if (need > h->refuge_gran - g)
			return h->refuge_gran;
		uint32_t i = 1;
		while (i < need && map[g + i] == REFUGE_FREE)
			i++;
		if (i == need) {
			*lead = l;
			return g;
		}
		g += i;
	}
	return h->refuge_gran;
}

void *refuge_take(struct heap *h, size_t size, size_t align, size_t at,
                  size_t *usable)
{
	if (size == 0)
		size = 1;
	if (align < QUANTUM)
		align = QUANTUM;
	if (size > (size_t)h->refuge_gran * REFUGE_GRAN)
		return NULL;
	refuge_lock(h);
	uint32_t lead = 0;
	uint32_t g = refuge_fit(h, 0, size, align, at, &lead);
	void *p = NULL;
	if (g < h->refuge_gran) {
		uint32_t *map = refuge_map(h);
		uint32_t n = (uint32_t)((lead + size + REFUGE_GRAN - 1) /
		    REFUGE_GRAN);
		ph_assert(n != 0 && g + n <= h->refuge_gran &&
		    map[g] == REFUGE_FREE && lead < REFUGE_GRAN * n);
		for (uint32_t i = 1; i < n; i++)
			map[g + i] = REFUGE_CONT;
		atomic_signal_fence(memory_order_release);   /* crash rule */
		map[g] = n | lead << REFUGE_LEAD_SHIFT;
		h->refuge_nmalloc++;
		*usable = (size_t)n * REFUGE_GRAN - lead;
		h->refuge_bytes += *usable;
		p = refuge_data(h) + (size_t)g * REFUGE_GRAN + lead;
	}
	refuge_unlock(h);
	return p;
}

/* The granule of live refuge block p, or report_fatal. */
static uint32_t refuge_block(struct heap *h, const void *p, const char *op)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)refuge_data(h);
	uint32_t g = (uint32_t)(off / REFUGE_GRAN);
	if ((uintptr_t)p < (uintptr_t)refuge_data(h) || g >= h->refuge_gran)
		report_fatal("invalid %s of %p: heap %p metadata", op, p,
		    (void *)h);
	uint32_t e = refuge_map(h)[g];
	if (e == REFUGE_FREE)
		report_fatal("double free of %p in heap %p (%s)", p, (void *)h,
		    op);
	if (!entry_is_start(h, g, e) || off % REFUGE_GRAN != entry_lead(e))
		report_fatal("invalid %s of %p in heap %p (not an allocated "
		    "block)", op, p, (void *)h);
	return g;
}

size_t refuge_bytes_at(struct heap *h, const void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)refuge_data(h);
	uint32_t g = (uint32_t)(off / REFUGE_GRAN);
	if ((uintptr_t)p < (uintptr_t)refuge_data(h) || g >= h->refuge_gran)
		return 0;
	uint32_t e = __atomic_load_n(&refuge_map(h)[g], __ATOMIC_RELAXED);
	if (!entry_is_start(h, g, e) || off % REFUGE_GRAN != entry_lead(e))
		return 0;
	return (size_t)entry_count(e) * REFUGE_GRAN - entry_lead(e);
}

size_t refuge_usable(struct heap *h, const void *p, const char *op)
{
	/* A live block's entry does not change under its owner. */
	uint32_t e = refuge_map(h)[refuge_block(h, p, op)];
	return (size_t)entry_count(e) * REFUGE_GRAN - entry_lead(e);
}

size_t refuge_give(struct heap *h, void *p, int junk)
{
	refuge_lock(h);
	uint32_t *map = refuge_map(h);
	uint32_t g = refuge_block(h, p, "free");
	uint32_t n = entry_count(map[g]);
	size_t usable = (size_t)n * REFUGE_GRAN - entry_lead(map[g]);
	for (uint32_t i = 1; i < n; i++)
		if (map[g + i] != REFUGE_CONT)
			report_fatal("refuge of heap %p broken at granule %u",
			    (void *)h, g + i);
	if (junk >= 0)
		memset(p, junk, usable);
	vg_free(h, p);
	map[g] = REFUGE_FREE;
	atomic_signal_fence(memory_order_release);   /* crash rule */
	for (uint32_t i = 1; i < n; i++)
		map[g + i] = REFUGE_FREE;
	h->refuge_bytes -= usable;
	refuge_unlock(h);
	return usable;
}

/* ---- checking, repair, reset ------------------------------------------------- */

/* Walks the map: 0 if every start is followed by its continuations and no
 * continuation follows none; with `fix`, clears what is wrong instead of
 * reporting it (the crash rule's leftovers) and recounts the bytes. */
static int refuge_walk(struct heap *h, bool fix, char *why, size_t whylen)
{
	uint32_t *map = refuge_map(h);
	uint64_t bytes = 0;
	for (uint32_t g = 0; g < h->refuge_gran;) {
		uint32_t e = map[g];
		if (e == REFUGE_FREE) {
			g++;
			continue;
		}
		uint32_t n = entry_is_start(h, g, e) ? entry_count(e) : 0, i = 1;
		while (i < n && map[g + i] == REFUGE_CONT)
			i++;
		if (n != 0 && i == n) {
			bytes += (uint64_t)n * REFUGE_GRAN - entry_lead(e);
			g += n;
			continue;
		}
		if (!fix) {
			return report_why(why, whylen, "refuge granule %u: %s",
			    g, n == 0 ? "entry follows no block" : "block "
			    "cut short");
		}
		map[g++] = REFUGE_FREE;
	}
	if (fix)
		h->refuge_bytes = bytes;
	else if (config_stats && bytes != h->refuge_bytes) {
		return report_why(why, whylen, "refuge holds %llu bytes, "
		    "counted %llu", (unsigned long long)bytes,
		    (unsigned long long)h->refuge_bytes);
	}
	return 0;
}

static void refuge_repair(struct heap *h)
{
	refuge_walk(h, true, NULL, 0);
}

PH_FORK_CHILD void refuge_fork_child(struct heap *h)
{
	if (!lock_held(&h->refuge_lock))
		return;
	lock_reset(&h->refuge_lock);
	refuge_lock(h);
	refuge_repair(h);
	refuge_unlock(h);
}

int refuge_validate(struct heap *h, char *why, size_t whylen)
{
	refuge_lock(h);
	int bad = refuge_walk(h, false, why, whylen);
	refuge_unlock(h);
	return bad;
}

int refuge_image_check(struct heap *h, char *why, size_t whylen)
{
	const uint32_t *map = refuge_map(h);
	for (uint32_t g = 0; g < h->refuge_gran; g++) {
		uint32_t e = __atomic_load_n(&map[g], __ATOMIC_RELAXED);
		if (e != REFUGE_FREE && e != REFUGE_CONT &&
		    !entry_is_start(h, g, e)) {
			return report_why(why, whylen, "refuge granule %u: "
			    "entry %#x", g, e);
		}
	}
	return 0;
}

void refuge_format(struct heap *h, size_t npages, bool zeroed)
{
	uint32_t pages = refuge_pages(npages);
	h->refuge_page = (uint32_t)(h->first_page - pages);
	h->refuge_gran = refuge_granules(pages);
	lock_init(&h->refuge_lock, (h->flags & HEAP_F_SHARED) != 0);
	h->refuge_nmalloc = 0;
	h->refuge_bytes = 0;
	if (!zeroed)
		memset(refuge_map(h), 0, (size_t)refuge_map_pages(pages) <<
		    LG_PAGE);
}

void refuge_reset(struct heap *h)
{
	/* Untouched map pages stay untouched. */
	if (h->refuge_nmalloc != 0)
		memset(refuge_map(h), 0, (size_t)h->refuge_gran *
		    sizeof(uint32_t));
	h->refuge_bytes = 0;
}
