/*
 * summary.c -- Plan 9's reports: mallocsummary (the state of a heap in a
 * few lines) and malloctagreport (live bytes by malloc tag), and their
 * ph_heap_* forms.  A report is written a line at a time to a callback or
 * to stderr, without stdio and without allocating from the heap it
 * describes (it may be the process's malloc).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "phmalloc.h"

#define LINE_MAX_BYTES   512    /* one line of a report */
#define SUMMARY_PER_LINE 5      /* size classes per summary line */

struct qout {
	void (*cb)(void *, const char *);   /* NULL: stderr */
	void *opaque;                       /* the callback's argument */
};

/* One line to the callback, or to stderr with write(2): never stdio, which
 * may allocate, and we may be the process's malloc. */
static void qout_printf(struct qout *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void qout_printf(struct qout *o, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	va_list ap;
	va_start(ap, fmt);
	int n = report_format(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (o->cb != NULL) {
		o->cb(o->opaque, line);
		return;
	}
	for (int off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
		if (w <= 0)
			break;
		off += (int)w;
	}
}

struct tag_group {
	uint64_t tag;     /* malloc tag */
	uint64_t count;   /* blocks */
	uint64_t bytes;   /* their usable bytes */
};

static bool group_before(const struct tag_group *a, const struct tag_group *b,
                         bool by_bytes)
{
	if (by_bytes && a->bytes != b->bytes)
		return a->bytes > b->bytes;
	return a->tag < b->tag;
}

/* Shell sort: no allocation (qsort may call malloc, which may be us). */
static void groups_sort(struct tag_group *g, size_t n, bool by_bytes)
{
	static const size_t gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };
	for (size_t k = 0; k < sizeof(gaps) / sizeof(gaps[0]); k++) {
		size_t gap = gaps[k];
		for (size_t i = gap; i < n; i++) {
			struct tag_group x = g[i];
			size_t j = i;
			for (; j >= gap && group_before(&x, &g[j - gap],
			    by_bytes); j -= gap)
				g[j] = g[j - gap];
			g[j] = x;
		}
	}
}

/* Copies the live entries of h's table into a fresh mapping; the number in
 * *n.  NULL when there are none or no memory.  Needs lock. */
static struct tag_group *tag_collect(struct heap *h, size_t *n, size_t *map)
{
	uint64_t cap = tag_cap(h);
	*n = 0;
	if (tag_live(h) == 0)
		return NULL;
	*map = ALIGN_UP(cap * sizeof(struct tag_group), PAGE);
	struct tag_group *g = os_reserve(*map);
	if (g == NULL)
		return NULL;
	for (uint64_t i = 0; i < cap; i++) {
		uint64_t mtag;
		size_t bytes = tag_block_at(h, i, &mtag);
		if (bytes != 0)
			g[(*n)++] = (struct tag_group){ .tag = mtag,
			    .count = 1, .bytes = bytes };
	}
	return g;
}

static void heap_tag_report(struct heap *h, struct qout *o)
{
	size_t n = 0, map = 0;
	heap_lock(h);
	struct tag_group *g = tag_collect(h, &n, &map);
	size_t allocated = h->stats.allocated - cache_cached_bytes(h, NULL) -
	    depot_bytes(h);
	size_t table = tag_table_size(h);
	heap_unlock(h);

	groups_sort(g, n, false);
	size_t ng = 0, bytes = 0;
	for (size_t i = 0; i < n; i++) {
		bytes += g[i].bytes;
		if (ng > 0 && g[ng - 1].tag == g[i].tag) {
			g[ng - 1].count++;
			g[ng - 1].bytes += g[i].bytes;
		} else {
			g[ng++] = g[i];
		}
	}
	groups_sort(g, ng, true);
	qout_printf(o, "phmalloc tags of heap %p: %zu blocks, %zu bytes in "
	    "%zu tags\n", (void *)h, n, bytes, ng);
	for (size_t i = 0; i < ng; i++)
		qout_printf(o, "tag %#llx: %llu blocks, %llu bytes\n",
		    (unsigned long long)g[i].tag,
		    (unsigned long long)g[i].count,
		    (unsigned long long)g[i].bytes);
	size_t other = allocated > bytes + table ? allocated - bytes - table :
	    0;
	if (config_stats)
		qout_printf(o, "untagged: %zu bytes in live blocks\n", other);
	else   /* the byte count it comes from is not kept */
		qout_printf(o, "untagged: not counted (--disable-stats)\n");
	if (g != NULL)
		os_unmap(g, map);
}

/* Tagged blocks of h and the bytes of its tag table. */
static void heap_tag_count(struct heap *h, uint64_t *tagged, size_t *table)
{
	heap_lock(h);
	*tagged += tag_live(h);
	*table += tag_table_size(h);
	heap_unlock(h);
}

/* The summary of heap h or, when all, of the process heap's arenas as one
 * (h then names arena 0). */
static void heap_summary(struct heap *h, bool all, struct qout *o)
{
	struct stats_snapshot s;
	uint64_t tagged = 0;
	size_t table = 0;
	if (all) {
		heap_stats_read_default(&s);
		for (unsigned i = 0; i < ARENAS_MAX; i++) {
			struct heap *a = heap_arena_if_any(i);
			if (a != NULL)
				heap_tag_count(a, &tagged, &table);
		}
		qout_printf(o, "phmalloc process heap, %u arenas from %p:\n",
		    heap_narenas(), (void *)h);
	} else {
		heap_stats_read(h, &s);
		heap_tag_count(h, &tagged, &table);
	}

	qout_printf(o, "phmalloc heap %p: size %zu, used %zu, free %zu, "
	    "metadata %zu, largest free run %zu\n", (void *)h, s.size,
	    s.allocated, s.free, s.metadata, s.largest_free);
	qout_printf(o, "  active %zu, dirty %zu, backed %zu; large blocks "
	    "%llu live; epoch %llu, repairs %llu\n", s.active, s.dirty,
	    s.backed, (unsigned long long)s.cur_large,
	    (unsigned long long)s.epoch, (unsigned long long)s.nrepairs);
	qout_printf(o, "  thread caches: %zu, holding %zu bytes; tagged "
	    "blocks: %llu (table of %zu bytes, counted as used)\n",
	    s.ncaches, s.cached, (unsigned long long)tagged, table);
	/* Occupancy of each class that has slabs: size live/capacity. */
	char line[LINE_MAX_BYTES];
	size_t len = 0, k = 0;
	for (unsigned c = 0; c < NBINS; c++) {
		if (s.bins[c].nslabs == 0)
			continue;
		len += (size_t)snprintf(line + len, sizeof(line) - len,
		    " %6zu: %llu/%llu", s.bins[c].size,
		    (unsigned long long)s.bins[c].curblocks,
		    (unsigned long long)s.bins[c].nslabs * s.bins[c].nregs);
		if (++k % SUMMARY_PER_LINE == 0) {
			qout_printf(o, "  classes (live/blocks)%s\n", line);
			len = 0;
		}
	}
	if (len > 0)
		qout_printf(o, "  classes (live/blocks)%s\n", line);
	else if (k == 0)
		qout_printf(o, "  classes: no slabs\n");
}

/* ---- the calls, with the configured prefix ----------------------------------- */

PH_EXPORT void P(mallocsummary)(void)
{
	struct qout o = { .cb = NULL };
	struct heap *h = heap_for_malloc();
	if (h == NULL)
		return;   /* no address space: no heap to summarise */
	if (heap_is_process(h))
		heap_summary(heap_process(), true, &o);
	else
		heap_summary(h, false, &o);
}

/* Blocks of the process heap are tagged in the arena that holds them:
 * the report has one section per arena made. */
PH_EXPORT void P(malloctagreport)(void (*write_cb)(void *, const char *),
                                  void *cbopaque)
{
	struct qout o = { .cb = write_cb, .opaque = cbopaque };
	struct heap *h = heap_for_malloc();
	if (h != NULL && !heap_is_process(h)) {
		heap_tag_report(h, &o);
		return;
	}
	for (unsigned i = 0; i < ARENAS_MAX; i++)
		if ((h = heap_arena_if_any(i)) != NULL)
			heap_tag_report(h, &o);
}

/* ---- heap handles -------------------------------------------------------------- */

PH_EXPORT void ph_heap_tag_report(ph_heap_t *hp,
                                  void (*write_cb)(void *, const char *),
                                  void *cbopaque)
{
	struct qout o = { .cb = write_cb, .opaque = cbopaque };
	heap_tag_report(heap_handle(hp), &o);
}

PH_EXPORT void ph_heap_summary(ph_heap_t *hp,
                               void (*write_cb)(void *, const char *),
                               void *cbopaque)
{
	struct qout o = { .cb = write_cb, .opaque = cbopaque };
	heap_summary(heap_handle(hp), false, &o);
}
