/*
 * stats.c -- malloc_stats_print: the default heap's state as readable text
 * or, with the 'J' option, as JSON.
 *
 * Output goes through a stack buffer to write_cb, or to stderr with
 * write(2) when write_cb is NULL: never stdio, which may allocate, and we
 * may be the process's malloc.  Option letters as jemalloc's: 'J' JSON,
 * 'g' no general information, 'm' no totals, 'b' no bins, 'l' no large.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct out {
	void (*cb)(void *, const char *);
	void *opaque;
	char buf[1024];
	size_t len;
};

static void out_flush(struct out *o)
{
	if (o->len == 0)
		return;
	o->buf[o->len] = '\0';
	if (o->cb != NULL) {
		o->cb(o->opaque, o->buf);
	} else {
		for (size_t off = 0; off < o->len;) {
			ssize_t w = write(STDERR_FILENO, o->buf + off,
			    o->len - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	o->len = 0;
}

static void out_printf(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = report_format(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (o->len + (size_t)n >= sizeof(o->buf) - 1)
		out_flush(o);
	memcpy(o->buf + o->len, line, (size_t)n);
	o->len += (size_t)n;
}

static void print_text(struct out *o, const struct stats_snapshot *s,
                       bool general, bool totals, bool bins, bool large)
{
	out_printf(o, "___ Begin phmalloc statistics ___\n");
	if (general) {
		out_printf(o, "Version: %s, prefix \"%s\"\n", PACKAGE_VERSION,
		    PH_STR(PH_PREFIX));
		out_printf(o, "Config: debug %d, stats %d, fill %d, tcache %d\n",
		    config_debug, config_stats, config_fill, config_tcache);
		out_printf(o, "Options: tcache %d, junk %d, zero %d, decay_ms "
		    "%lld, reserve %zu\n", opts.tcache, opts.junk, opts.zero,
		    (long long)opts.decay_ms, opts.reserve);
		out_printf(o, "Heap: %zu bytes, epoch %llu, %llu repairs\n",
		    s->size, (unsigned long long)s->epoch,
		    (unsigned long long)s->nrepairs);
	}
	if (totals) {
		out_printf(o, "Allocated: %zu, active: %zu, metadata: %zu, "
		    "resident: %zu, mapped: %zu, dirty: %zu\n", s->allocated,
		    s->active, s->metadata, s->resident, s->mapped, s->dirty);
		out_printf(o, "Free: %zu, largest free run: %zu\n", s->free,
		    s->largest_free);
		out_printf(o, "Purged: %llu pages in %llu calls\n",
		    (unsigned long long)s->npurged_pages,
		    (unsigned long long)s->npurge_calls);
	}
	if (bins) {
		out_printf(o, "bins:     size  regs  pages  slabs   curregs"
		    "      nmalloc      ndalloc\n");
		for (unsigned c = 0; c < NBINS; c++) {
			if (s->bins[c].nmalloc == 0 && s->bins[c].nslabs == 0)
				continue;
			out_printf(o, "%4u %9zu %5u %6u %6u %9llu %12llu "
			    "%12llu\n", c, s->bins[c].size, s->bins[c].nregs,
			    s->bins[c].npages, s->bins[c].nslabs,
			    (unsigned long long)s->bins[c].curblocks,
			    (unsigned long long)s->bins[c].nmalloc,
			    (unsigned long long)s->bins[c].ndalloc);
		}
	}
	if (large)
		out_printf(o, "large: %llu allocated, %llu freed, %llu live\n",
		    (unsigned long long)s->nmalloc_large,
		    (unsigned long long)s->ndalloc_large,
		    (unsigned long long)s->cur_large);
	out_printf(o, "--- End phmalloc statistics ---\n");
}

static void print_json(struct out *o, const struct stats_snapshot *s,
                       bool general, bool totals, bool bins, bool large)
{
	const char *sep = "";
	out_printf(o, "{\"phmalloc\": {");
	if (general) {
		out_printf(o, "\"version\": \"%s\", \"prefix\": \"%s\", "
		    "\"config\": {\"debug\": %s, \"stats\": %s, \"fill\": %s, "
		    "\"tcache\": %s}, \"opt\": {\"tcache\": %s, \"junk\": %s, "
		    "\"zero\": %s, \"decay_ms\": %lld, \"reserve\": %zu}, "
		    "\"heap\": {\"size\": %zu, \"epoch\": %llu, "
		    "\"repairs\": %llu}", PACKAGE_VERSION, PH_STR(PH_PREFIX),
		    config_debug ? "true" : "false",
		    config_stats ? "true" : "false",
		    config_fill ? "true" : "false",
		    config_tcache ? "true" : "false",
		    opts.tcache ? "true" : "false",
		    opts.junk ? "true" : "false", opts.zero ? "true" : "false",
		    (long long)opts.decay_ms, opts.reserve, s->size,
		    (unsigned long long)s->epoch,
		    (unsigned long long)s->nrepairs);
		sep = ", ";
	}
	if (totals) {
		out_printf(o, "%s\"stats\": {\"allocated\": %zu, \"active\": %zu, "
		    "\"metadata\": %zu, \"resident\": %zu, \"mapped\": %zu, "
		    "\"dirty\": %zu, \"free\": %zu, \"largest_free\": %zu, "
		    "\"purged_pages\": %llu}", sep, s->allocated, s->active,
		    s->metadata, s->resident, s->mapped, s->dirty, s->free,
		    s->largest_free, (unsigned long long)s->npurged_pages);
		sep = ", ";
	}
	if (bins) {
		out_printf(o, "%s\"bins\": [", sep);
		for (unsigned c = 0; c < NBINS; c++)
			out_printf(o, "%s{\"size\": %zu, \"nregs\": %u, "
			    "\"slabs\": %u, \"curregs\": %llu, \"nmalloc\": %llu, "
			    "\"ndalloc\": %llu}", c ? ", " : "",
			    s->bins[c].size, s->bins[c].nregs, s->bins[c].nslabs,
			    (unsigned long long)s->bins[c].curblocks,
			    (unsigned long long)s->bins[c].nmalloc,
			    (unsigned long long)s->bins[c].ndalloc);
		out_printf(o, "]");
		sep = ", ";
	}
	if (large)
		out_printf(o, "%s\"large\": {\"nmalloc\": %llu, \"ndalloc\": %llu, "
		    "\"curlextents\": %llu}", sep,
		    (unsigned long long)s->nmalloc_large,
		    (unsigned long long)s->ndalloc_large,
		    (unsigned long long)s->cur_large);
	out_printf(o, "}}\n");
}

PH_EXPORT void P(malloc_stats_print)(void (*write_cb)(void *, const char *),
                                     void *cbopaque, const char *opts_str)
{
	struct out o = { .cb = write_cb, .opaque = cbopaque };
	const char *f = opts_str ? opts_str : "";
	struct stats_snapshot s;
	heap_stats_read_default(&s);
	bool general = !strchr(f, 'g'), totals = !strchr(f, 'm'),
	    bins = !strchr(f, 'b'), large = !strchr(f, 'l');
	if (strchr(f, 'J'))
		print_json(&o, &s, general, totals, bins, large);
	else
		print_text(&o, &s, general, totals, bins, large);
	out_flush(&o);
}

/* Adds snapshot b into a: the process heap seen as one heap. */
static void stats_add(struct stats_snapshot *a, const struct stats_snapshot *b)
{
	a->allocated += b->allocated;
	a->foreign_cached += b->foreign_cached;
	a->cached += b->cached;
	a->ncaches += b->ncaches;
	a->active += b->active;
	a->dirty += b->dirty;
	a->metadata += b->metadata;
	a->mapped += b->mapped;
	a->resident += b->resident;
	a->size += b->size;
	a->backed += b->backed;
	a->free += b->free;
	if (b->largest_free > a->largest_free)
		a->largest_free = b->largest_free;
	a->nmalloc_large += b->nmalloc_large;
	a->ndalloc_large += b->ndalloc_large;
	a->cur_large += b->cur_large;
	a->npurged_pages += b->npurged_pages;
	a->npurge_calls += b->npurge_calls;
	a->nrepairs += b->nrepairs;
	for (unsigned c = 0; c < NBINS; c++) {
		a->bins[c].nslabs += b->bins[c].nslabs;
		a->bins[c].nmalloc += b->bins[c].nmalloc;
		a->bins[c].ndalloc += b->bins[c].ndalloc;
		a->bins[c].curblocks += b->bins[c].curblocks;
	}
}

void heap_stats_read_default(struct stats_snapshot *s)
{
	struct heap *h = atomic_load(&default_heap);
	if (h == NULL && (h = heap_process()) == NULL) {
		memset(s, 0, sizeof(*s));   /* no address space: nothing yet */
		return;
	}
	heap_stats_read(h, s);   /* arena 0's epoch stands for them all */
	if (!heap_is_process(h))
		return;
	for (unsigned i = 1; i < ARENAS_MAX; i++) {
		struct heap *a = heap_arena_if_any(i);
		if (a != NULL) {
			struct stats_snapshot more;
			heap_stats_read(a, &more);
			stats_add(s, &more);
		}
	}
	/* Cached blocks of one arena in another's caches are free too. */
	s->allocated -= s->foreign_cached < s->allocated ? s->foreign_cached :
	    s->allocated;
	s->cached += s->foreign_cached;
	s->foreign_cached = 0;
}

static void stats_at_exit(void)
{
	/* the process heap or a private one was made: something to print */
	if (atomic_load(&default_heap) != NULL)
		P(malloc_stats_print)(NULL, NULL, NULL);
}

/* PHMALLOC_CONF=stats_print:true prints the statistics at exit, as
 * jemalloc's opt.stats_print, if the process allocated from phmalloc at
 * all.  Registered before main (atexit may allocate); linked as
 * fork_install is (engine.h: INSTALLERS_LINK). */
void __attribute__((constructor)) stats_install(void)
{
	conf_init();
	if (opts.stats_print)
		atexit(stats_at_exit);
}
