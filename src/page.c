/*
 * page.c -- the page map and runs of pages.
 *
 * Every page of a heap has a struct page.  A run's head page says what the
 * run is and how long; its tail names the head, so that a freed run finds
 * its left neighbour in O(1) and coalesces with it.  Free runs sit on lists
 * by length class (four classes per doubling, like the size classes), with a
 * bitmap of non-empty lists, so finding a run is a bit scan (TLSF-style).
 *
 * A free run remembers how many of its first pages may be dirty (aux); the
 * rest are known to read as zero, so calloc skips the memset for them and
 * purge gives back exactly the dirty part.  Pages of an OS-backed heap that
 * stay free for opts.decay_ms are purged with madvise.
 *
 * Every function here needs heap->lock.
 */
#include <string.h>

#include "internal.h"

#define RUN_FIT_WALK 16   /* entries of the floor class tried before moving up */

/* ---- length classes ------------------------------------------------------ */

/* The class whose range holds n: 1..3 exactly, then four per doubling. */
static unsigned run_class(size_t n)
{
	if (n < 4)
		return (unsigned)n - 1;
	unsigned lg = 63u - (unsigned)__builtin_clzl(n);
	return 3 + (lg - 2) * 4 + (unsigned)((n >> (lg - 2)) & 3);
}

static size_t run_class_min(unsigned c)
{
	if (c < 3)
		return c + 1;
	unsigned lg = (c - 3) / 4 + 2, idx = (c - 3) % 4;
	return (size_t)(4 + idx) << (lg - 2);
}

size_t page_map_bytes(size_t npages)
{
	return npages * sizeof(struct page);
}

/* ---- free-run lists ------------------------------------------------------ */

static void run_insert(struct heap *h, uint32_t head)
{
	struct page *pm = heap_pages(h);
	unsigned c = run_class(pm[head].span);
	uint32_t first = h->runs[c];

	pm[head].prev = 0;
	pm[head].next = first;
	if (first)
		pm[first].prev = head;
	h->runs[c] = head;
	h->runmap[c / 64] |= UINT64_C(1) << (c % 64);
}

static void run_remove(struct heap *h, uint32_t head)
{
	struct page *pm = heap_pages(h);
	struct page *e = &pm[head];
	unsigned c = run_class(e->span);

	if (e->prev)
		pm[e->prev].next = e->next;
	else
		h->runs[c] = e->next;
	if (e->next)
		pm[e->next].prev = e->prev;
	if (h->runs[c] == 0)
		h->runmap[c / 64] &= ~(UINT64_C(1) << (c % 64));
	e->next = e->prev = 0;
}

/* A free run of at least n pages, or 0. */
static uint32_t run_find(struct heap *h, size_t n)
{
	struct page *pm = heap_pages(h);
	unsigned c = run_class(n);

	/* The floor class mixes runs shorter and longer than n. */
	uint32_t idx = h->runs[c];
	for (int i = 0; idx && i < RUN_FIT_WALK; i++, idx = pm[idx].next)
		if (pm[idx].span >= n)
			return idx;
	/* Any run of a higher class fits. */
	for (unsigned w = (c + 1) / 64; w < NRUNCLASSES / 64; w++) {
		uint64_t bits = h->runmap[w];
		if (w == (c + 1) / 64)
			bits &= ~UINT64_C(0) << ((c + 1) % 64);
		if (bits)
			return h->runs[w * 64 + (unsigned)__builtin_ctzll(bits)];
	}
	return 0;
}

/* ---- run entries --------------------------------------------------------- */

/* Writes the head and tail entries of a free run and lists it. */
static void run_make_free(struct heap *h, uint32_t head, size_t n,
                          size_t dirty, uint64_t stamp)
{
	struct page *pm = heap_pages(h);

	pm[head] = (struct page){ .kind = PAGE_FREE, .span = (uint32_t)n,
	    .aux = dirty, .stamp = stamp };
	if (n > 1)
		pm[head + n - 1] = (struct page){ .kind = PAGE_FREE_TAIL,
		    .span = head };
	run_insert(h, head);
}

/* Writes the entries of an allocated run of kind PAGE_LARGE or PAGE_SLAB. */
static void run_make_used(struct heap *h, uint32_t head, size_t n,
                          uint8_t kind)
{
	struct page *pm = heap_pages(h);

	pm[head] = (struct page){ .kind = kind, .span = (uint32_t)n };
	if (kind == PAGE_SLAB) {
		for (size_t i = 1; i < n; i++)
			pm[head + i] = (struct page){ .kind = PAGE_SLAB_BODY,
			    .span = head };
	} else if (n > 1) {
		pm[head + n - 1] = (struct page){ .kind = PAGE_LARGE_TAIL,
		    .span = head };
	}
}

/* Clears the entries of an allocated run back to PAGE_NONE. */
static void run_clear_used(struct heap *h, uint32_t head)
{
	struct page *pm = heap_pages(h);
	size_t n = pm[head].span;

	if (pm[head].kind == PAGE_SLAB)
		memset(&pm[head + 1], 0, (n - 1) * sizeof(struct page));
	else if (n > 1)
		memset(&pm[head + n - 1], 0, sizeof(struct page));
	memset(&pm[head], 0, sizeof(struct page));
}

/* ---- allocation ---------------------------------------------------------- */

/* Are pages below `end` backed?  A growable heap extends its file first. */
static inline bool page_backed(struct heap *h, size_t end)
{
	return end <= h->limit || heap_grow(h, end) == 0;
}

/* Takes the first n pages of free run `head` (already off its list) and
 * gives the rest back.  Returns how many of the n pages may be dirty. */
static size_t run_split(struct heap *h, uint32_t head, size_t n)
{
	struct page *pm = heap_pages(h);
	size_t len = pm[head].span, dirty = pm[head].aux;
	uint64_t stamp = pm[head].stamp;

	if (len > n)
		run_make_free(h, head + (uint32_t)n, len - n,
		    dirty > n ? dirty - n : 0, stamp);
	else if (len > 1)
		memset(&pm[head + len - 1], 0, sizeof(struct page));
	size_t taken_dirty = dirty < n ? dirty : n;
	h->stats.dirty_pages -= taken_dirty;
	h->stats.active_pages += n;
	if (head + n > h->hwm)
		h->hwm = (uint32_t)(head + n);
	return taken_dirty;
}

uint32_t page_run_alloc(struct heap *h, size_t n, uint8_t kind, bool *zero)
{
	if (n == 0 || n > h->npages)
		return 0;
	uint32_t head = run_find(h, n);
	if (head == 0 || !page_backed(h, head + n))
		return 0;
	run_remove(h, head);
	*zero = run_split(h, head, n) == 0;
	run_make_used(h, head, n, kind);
	return head;
}

uint32_t page_run_alloc_aligned(struct heap *h, size_t n, size_t align,
                                bool *zero)
{
	size_t extra = align / PAGE - 1;
	if (n == 0 || n > h->npages || extra > h->npages - n)
		return 0;
	size_t total = n + extra;
	uint32_t head = run_find(h, total);
	if (head == 0 || !page_backed(h, head + total))
		return 0;
	run_remove(h, head);
	size_t dirty = run_split(h, head, total);
	run_make_used(h, head, total, PAGE_LARGE);

	uintptr_t addr = (uintptr_t)page_addr(h, head);
	size_t lead = (ALIGN_UP(addr, align) - addr) >> LG_PAGE;
	if (lead > 0) {
		/* Cut the run in two and free the leading part. */
		run_clear_used(h, head);
		run_make_used(h, head, lead, PAGE_LARGE);
		run_make_used(h, head + (uint32_t)lead, total - lead,
		    PAGE_LARGE);
		page_run_free(h, head);
		head += (uint32_t)lead;
	}
	if (total - lead > n)
		page_run_shrink(h, head, n);
	*zero = dirty <= lead;
	return head;
}

/* ---- freeing ------------------------------------------------------------- */

static void run_purge(struct heap *h, uint32_t head)
{
	struct page *e = &heap_pages(h)[head];

	if (e->aux == 0)
		return;
	os_purge(page_addr(h, head), e->aux << LG_PAGE,
	    (h->flags & HEAP_F_SHARED) != 0);
	if (config_stats) {
		h->stats.npurged_pages += e->aux;
		h->stats.npurge_calls++;
	}
	h->stats.dirty_pages -= e->aux;
	e->aux = 0;
}

void page_run_free(struct heap *h, uint32_t head)
{
	struct page *pm = heap_pages(h);
	size_t n = pm[head].span, dirty;

	h->stats.active_pages -= n;
	h->stats.dirty_pages += n;
	run_clear_used(h, head);
	dirty = n;

	/* Coalesce with the free run on the left: its dirty prefix is
	 * absorbed into ours, since ours (all dirty) now follows it. */
	if (head > h->first_page) {
		struct page *l = &pm[head - 1];
		uint32_t lhead = l->kind == PAGE_FREE ? head - 1 :
		    l->kind == PAGE_FREE_TAIL ? l->span : 0;
		if (lhead) {
			size_t ln = pm[lhead].span;
			run_remove(h, lhead);
			memset(&pm[lhead], 0, sizeof(struct page));
			if (ln > 1)
				memset(&pm[head - 1], 0, sizeof(struct page));
			head = lhead;
			n += ln;
			dirty = n;
		}
	}
	/* Coalesce with the free run on the right. */
	uint32_t r = head + (uint32_t)n;
	if (r < h->npages && pm[r].kind == PAGE_FREE) {
		size_t rn = pm[r].span;
		dirty += pm[r].aux;
		run_remove(h, r);
		memset(&pm[r], 0, sizeof(struct page));
		if (rn > 1)
			memset(&pm[r + rn - 1], 0, sizeof(struct page));
		n += rn;
	}
	run_make_free(h, head, n, dirty, os_now_ms());
	if ((h->flags & HEAP_F_OSMEM) && opts.decay_ms == 0)
		run_purge(h, head);
}

void page_run_shrink(struct heap *h, uint32_t head, size_t n)
{
	struct page *pm = heap_pages(h);
	size_t len = pm[head].span;

	run_clear_used(h, head);
	run_make_used(h, head, n, PAGE_LARGE);
	run_make_used(h, head + (uint32_t)n, len - n, PAGE_LARGE);
	page_run_free(h, head + (uint32_t)n);
}

bool page_run_grow(struct heap *h, uint32_t head, size_t n, bool *zero)
{
	struct page *pm = heap_pages(h);
	size_t len = pm[head].span, need = n - len;
	uint32_t r = head + (uint32_t)len;

	if (r >= h->npages || pm[r].kind != PAGE_FREE || pm[r].span < need ||
	    !page_backed(h, r + need))
		return false;
	run_remove(h, r);
	*zero = run_split(h, r, need) == 0;
	memset(&pm[r], 0, sizeof(struct page));
	run_clear_used(h, head);
	run_make_used(h, head, n, PAGE_LARGE);
	return true;
}

/* The longest free run, in pages: the top non-empty class holds it. */
size_t page_largest_free(struct heap *h)
{
	struct page *pm = heap_pages(h);
	size_t best = 0;
	for (int c = NRUNCLASSES - 1; c >= 0 && best == 0; c--)
		for (uint32_t idx = h->runs[c]; idx; idx = pm[idx].next)
			if (pm[idx].span > best)
				best = pm[idx].span;
	return best;
}

/* ---- purging ------------------------------------------------------------- */

void page_purge(struct heap *h, bool force)
{
	if (!(h->flags & HEAP_F_OSMEM) || h->stats.dirty_pages == 0 ||
	    (!force && opts.decay_ms < 0))
		return;
	uint64_t now = os_now_ms();
	if (!force && now < h->purge_next_ms)
		return;
	uint64_t decay = opts.decay_ms < 0 ? 0 : (uint64_t)opts.decay_ms;
	struct page *pm = heap_pages(h);
	for (unsigned c = 0; c < NRUNCLASSES; c++)
		for (uint32_t idx = h->runs[c]; idx; idx = pm[idx].next)
			if (force || now - pm[idx].stamp >= decay)
				run_purge(h, idx);
	/* Look again when the youngest dirty run may have aged. */
	h->purge_next_ms = now + (decay / 4 > 10 ? decay / 4 : 10);
}

/* ---- formatting and checking ---------------------------------------------- */

void page_map_init(struct heap *h, size_t dirty)
{
	struct page *pm = heap_pages(h);
	size_t n = h->npages - h->first_page;

	memset(pm, 0, page_map_bytes(h->first_page));
	memset(h->runs, 0, sizeof(h->runs));
	memset(h->runmap, 0, sizeof(h->runmap));
	h->hwm = h->first_page;
	h->stats.active_pages = 0;
	h->stats.dirty_pages = dirty;
	run_make_free(h, h->first_page, n, dirty, os_now_ms());
}

#define FAIL(...) do { report_format_str(why, whylen, __VA_ARGS__); \
	return 1; } while (0)

static void report_format_str(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report_format_str(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report_format(why, len, fmt, ap);
	va_end(ap);
}

/* Walks the runs from first_page to npages and the free-run lists, and
 * checks every invariant written above struct page. */
int page_validate(struct heap *h, char *why, size_t whylen)
{
	struct page *pm = heap_pages(h);
	uint64_t active = 0, dirty = 0, nfree = 0, listed = 0;
	bool prev_free = false;

	for (uint32_t i = 0; i < h->first_page; i++)
		if (pm[i].kind != PAGE_NONE)
			FAIL("page %u: metadata page has kind %u", i,
			    pm[i].kind);
	for (uint32_t i = h->first_page; i < h->npages;) {
		struct page *e = &pm[i];
		size_t n = e->span;
		if (n == 0 || n > h->npages - i)
			FAIL("page %u: run length %zu out of range", i, n);
		if (i >= h->hwm && e->kind != PAGE_FREE)
			FAIL("page %u: used run above hwm %u", i, h->hwm);
		switch (e->kind) {
		case PAGE_FREE:
			if (prev_free)
				FAIL("page %u: two free runs adjacent", i);
			if (e->aux > n)
				FAIL("page %u: %llu dirty pages in a run of %zu",
				    i, (unsigned long long)e->aux, n);
			if (n > 1 && (pm[i + n - 1].kind != PAGE_FREE_TAIL ||
			    pm[i + n - 1].span != i))
				FAIL("page %u: free run has a bad tail", i);
			dirty += e->aux;
			nfree++;
			break;
		case PAGE_LARGE:
			if (n > 1 && (pm[i + n - 1].kind != PAGE_LARGE_TAIL ||
			    pm[i + n - 1].span != i))
				FAIL("page %u: large run has a bad tail", i);
			active += n;
			break;
		case PAGE_SLAB:
			if (e->cls >= NBINS || n != sizeclasses[e->cls].npages)
				FAIL("page %u: slab of class %u has %zu pages",
				    i, e->cls, n);
			for (size_t k = 1; k < n; k++)
				if (pm[i + k].kind != PAGE_SLAB_BODY ||
				    pm[i + k].span != i)
					FAIL("page %u: bad slab body page", i);
			if (slab_validate(h, i, why, whylen))
				return 1;
			active += n;
			break;
		default:
			FAIL("page %u: kind %u where a run should start", i,
			    e->kind);
		}
		if (e->kind != PAGE_SLAB) {
			/* Interiors hold nothing; beyond hwm they were never
			 * touched, so only the part below hwm is read. */
			size_t end = i + n - 1 < h->hwm ? i + n - 1 : h->hwm;
			for (size_t k = i + 1; k < end; k++)
				if (pm[k].kind != PAGE_NONE)
					FAIL("page %zu: interior of run %u has "
					    "kind %u", k, i, pm[k].kind);
		}
		prev_free = e->kind == PAGE_FREE;
		i += (uint32_t)n;
	}
	for (unsigned c = 0; c < NRUNCLASSES; c++) {
		bool bit = (h->runmap[c / 64] >> (c % 64)) & 1;
		if (bit != (h->runs[c] != 0))
			FAIL("run class %u: bitmap says %d", c, bit);
		uint32_t prev = 0;
		for (uint32_t idx = h->runs[c]; idx; idx = pm[idx].next) {
			if (idx < h->first_page || idx >= h->npages ||
			    pm[idx].kind != PAGE_FREE)
				FAIL("run class %u lists page %u, not a free "
				    "run", c, idx);
			if (run_class(pm[idx].span) != c ||
			    pm[idx].span < run_class_min(c))
				FAIL("run class %u lists a run of %u pages", c,
				    pm[idx].span);
			if (pm[idx].prev != prev)
				FAIL("run class %u: bad back link at %u", c,
				    idx);
			prev = idx;
			if (++listed > nfree)
				FAIL("free-run lists hold more runs than the "
				    "page map (%llu)",
				    (unsigned long long)nfree);
		}
	}
	if (listed != nfree)
		FAIL("%llu free runs, %llu listed", (unsigned long long)nfree,
		    (unsigned long long)listed);
	if (active != h->stats.active_pages)
		FAIL("%llu active pages counted, stats say %llu",
		    (unsigned long long)active,
		    (unsigned long long)h->stats.active_pages);
	if (dirty != h->stats.dirty_pages)
		FAIL("%llu dirty pages counted, stats say %llu",
		    (unsigned long long)dirty,
		    (unsigned long long)h->stats.dirty_pages);
	return 0;
}
