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
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "parts.h"

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

size_t page_meta_bytes(size_t npages)
{
	return ALIGN_UP(npages * sizeof(uint32_t), 64) +
	    npages * sizeof(struct page);
}

static void slabmap_set(struct heap *h, uint32_t head, size_t n, unsigned cls)
{
	uint32_t *sm = heap_slabmap(h);
	for (uint32_t i = 0; i < n; i++)
		__atomic_store_n(&sm[head + i], slabmap_entry(cls, i),
		    __ATOMIC_RELAXED);
}

static void slabmap_clear(struct heap *h, uint32_t head, size_t n)
{
	memset(&heap_slabmap(h)[head], 0, n * sizeof(uint32_t));
}

/* ---- free-run lists ------------------------------------------------------ */

static void run_insert(struct heap *h, uint32_t head)
{
	struct page *pm = heap_pages(h);
	unsigned c = run_class(pm[head].span);
	uint32_t first = h->runs[c];

	ph_assert(pm[head].kind == PAGE_FREE && pm[head].span != 0 &&
	    first != head);

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

	ph_assert(e->kind == PAGE_FREE);
	ph_assert(e->prev ? pm[e->prev].next == head : h->runs[c] == head);
	ph_assert(e->next == 0 || pm[e->next].prev == head);
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

/* Writes a head's first word in one store, after everything written before
 * it: the switch point of every change (see the crash rule in types.h). */
static inline void page_publish(struct page *e, uint8_t kind, uint8_t cls,
                                uint16_t nfree, uint32_t span)
{
	struct page tmp = { .kind = kind, .cls = cls, .nfree = nfree,
	    .span = span };
	atomic_thread_fence(memory_order_release);
	__atomic_store_n(&e->word, tmp.word, __ATOMIC_RELAXED);
}

static inline void page_clear(struct page *e)
{
	memset(e, 0, sizeof(*e));
}

/* Tail (or, for a slab, body) entries name the head.  Derived: written
 * after the head is published, and rebuilt by repair. */
static void run_mark_tail(struct heap *h, uint32_t head, size_t n,
                          uint8_t kind)
{
	struct page *pm = heap_pages(h);
	if (kind == PAGE_SLAB) {
		for (size_t i = 1; i < n; i++)
			pm[head + i] = (struct page){ .kind = PAGE_SLAB_BODY,
			    .span = head };
	} else if (n > 1) {
		pm[head + n - 1] = (struct page){ .kind = kind == PAGE_FREE ?
		    PAGE_FREE_TAIL : PAGE_LARGE_TAIL, .span = head };
	}
}

/* Makes [head, head+n) a free run.  head must be unreachable by the walk
 * (an interior page) or already the head of the run being replaced. */
static void run_make_free(struct heap *h, uint32_t head, size_t n,
                          size_t dirty, uint64_t stamp)
{
	struct page *e = &heap_pages(h)[head];
	e->stamp = stamp;
	e->aux = dirty;
	e->next = e->prev = 0;
	page_publish(e, PAGE_FREE, 0, 0, (uint32_t)n);
	run_mark_tail(h, head, n, PAGE_FREE);
	run_insert(h, head);
}

/* Makes [head, head+n) a large block or a slab of class cls. */
static void run_make_used(struct heap *h, uint32_t head, size_t n,
                          uint8_t kind, unsigned cls)
{
	struct page *e = &heap_pages(h)[head];
	uint16_t nfree = 0;
	e->next = e->prev = 0;
	e->aux = 0;
	if (kind == PAGE_SLAB) {
		e->s.free = SLAB_NONE;
		e->s.carved = 0;
		e->s.rnext = 0;
		nfree = (uint16_t)sizeclasses[cls].nblocks;
	} else {
		e->stamp = 0;
	}
	page_publish(e, kind, (uint8_t)cls, nfree, (uint32_t)n);
	run_mark_tail(h, head, n, kind);
	if (kind == PAGE_SLAB)
		slabmap_set(h, head, n, cls);
}

/* Clears the tail or body entries of a run that is no longer one. */
static void run_clear_tail(struct heap *h, uint32_t head, size_t n,
                           uint8_t kind)
{
	struct page *pm = heap_pages(h);
	if (kind == PAGE_SLAB)
		memset(&pm[head + 1], 0, (n - 1) * sizeof(struct page));
	else if (n > 1)
		page_clear(&pm[head + n - 1]);
}

/* ---- allocation ---------------------------------------------------------- */

/* Backs pages below end: a growable heap extends its file by at least
 * heap_grow_step pages.  0 or errno.  Needs lock. */
static int page_grow(struct heap *h, size_t end)
{
	if (!(h->flags & HEAP_F_GROW) || end > h->npages)
		return ENOMEM;
	int fd = registry_fd(h);
	if (fd < 0) {
		registry_error_note(h, EBADF, true);
		return EBADF;   /* attached without its file: cannot grow */
	}
	size_t want = h->limit + heap_grow_step(h->npages);
	if (want < end)
		want = end;
	if (want > h->npages)
		want = h->npages;
	int saved = errno;
	int err = ftruncate(fd, (off_t)(want << LG_PAGE)) == 0 ? 0 : errno;
	errno = saved;
	if (err == 0)
		h->limit = (uint32_t)want;
	else
		registry_error_note(h, err, true);   /* ENOSPC, EFBIG, ... */
	return err;
}

/* Are pages below `end` backed?  A growable heap extends its file first. */
static inline bool page_backed(struct heap *h, size_t end)
{
	return end <= h->limit || page_grow(h, end) == 0;
}

/* Entries from hwm up were not written since the heap was formatted or
 * reset, and nothing checks them (that would read the whole map of a
 * heap that may be mostly unused): a heap read from a file may hold
 * anything there.  A run that reaches above hwm clears the page-map and
 * slab-map entries of its pages [from, end) there first -- never a head
 * the walk reaches (from > a published head), so the crash rule holds. */
static void run_clear_above_hwm(struct heap *h, uint32_t from, size_t end)
{
	if (from < h->hwm)
		from = h->hwm;
	if (end <= from)
		return;
	memset(&heap_pages(h)[from], 0, page_map_bytes(end - from));
	slabmap_clear(h, from, end - from);
}

/* Carves n pages off the front of free run `head` (already off its list)
 * as a run of `kind`; the rest stays free.  Returns how many of the n pages
 * may be dirty. */
static size_t run_carve(struct heap *h, uint32_t head, size_t n, uint8_t kind,
                        unsigned cls)
{
	struct page *pm = heap_pages(h);
	size_t len = pm[head].span, dirty = pm[head].aux;
	uint64_t stamp = pm[head].stamp;

	ph_assert(pm[head].kind == PAGE_FREE && n != 0 && n <= len &&
	    dirty <= len && head + len <= h->npages);
	if (head + n > h->hwm) {
		slabmap_clear(h, head, 1);   /* the head's, before it is used */
		run_clear_above_hwm(h, head + 1, head + n);
	}

	/* The rest's head is interior until `head` is published shorter. */
	if (len > n)
		run_make_free(h, head + (uint32_t)n, len - n,
		    dirty > n ? dirty - n : 0, stamp);
	else if (len > 1)
		page_clear(&pm[head + len - 1]);
	run_make_used(h, head, n, kind, cls);
	ph_assert(pm[head].kind == kind && pm[head].span == n &&
	    (len == n || (pm[head + n].kind == PAGE_FREE &&
	    pm[head + n].span == len - n)));
	size_t taken_dirty = dirty < n ? dirty : n;
	h->stats.dirty_pages -= taken_dirty;
	h->stats.active_pages += n;
	if (head + n > h->hwm)
		h->hwm = (uint32_t)(head + n);
	return taken_dirty;
}

uint32_t page_run_alloc(struct heap *h, size_t n, uint8_t kind, unsigned cls,
                        bool *zero)
{
	if (n == 0 || n > h->npages)
		return 0;
	uint32_t head = run_find(h, n);
	if (head == 0 || !page_backed(h, head + n))
		return 0;
	run_remove(h, head);
	*zero = run_carve(h, head, n, kind, cls) == 0;
	return head;
}

/* Cuts large run `head` after its first n pages into two large runs. */
static void run_cut(struct heap *h, uint32_t head, size_t n)
{
	struct page *pm = heap_pages(h);
	size_t len = pm[head].span;
	ph_assert(pm[head].kind == PAGE_LARGE && n != 0 && n < len);
	/* The second half's head is interior until the first is shortened. */
	struct page *e2 = &pm[head + n];
	e2->next = e2->prev = 0;
	e2->aux = 0;
	e2->stamp = 0;
	page_publish(e2, PAGE_LARGE, 0, 0, (uint32_t)(len - n));
	run_mark_tail(h, head + (uint32_t)n, len - n, PAGE_LARGE);
	page_publish(&pm[head], PAGE_LARGE, 0, 0, (uint32_t)n);
	run_mark_tail(h, head, n, PAGE_LARGE);
}

uint32_t page_run_alloc_at(struct heap *h, size_t n, size_t align,
                           size_t phase, size_t lead, bool *zero)
{
	size_t extra = align / PAGE - 1;
	if (n == 0 || n > h->npages || extra > h->npages - n)
		return 0;
	size_t total = n + extra;
	uint32_t head = run_find(h, total);
	if (head == 0 || !page_backed(h, head + total))
		return 0;
	run_remove(h, head);
	size_t dirty = run_carve(h, head, total, PAGE_LARGE, 0);

	uintptr_t addr = (uintptr_t)page_addr(h, head);
	size_t skip = ((phase - addr) & (align - 1)) >> LG_PAGE;
	if (skip > 0) {
		run_cut(h, head, skip);
		page_run_free(h, head);
		head += (uint32_t)skip;
	}
	if (total - skip > n)
		page_run_shrink(h, head, n);
	if (lead != 0)   /* not handed out yet: a crash before leaks it */
		page_publish(&heap_pages(h)[head], PAGE_LARGE, 0,
		    (uint16_t)lead, (uint32_t)n);
	*zero = dirty <= skip;
	return head;
}

uint32_t page_run_alloc_aligned(struct heap *h, size_t n, size_t align,
                                bool *zero)
{
	return page_run_alloc_at(h, n, align, 0, 0, zero);
}

/* ---- freeing ------------------------------------------------------------- */

static void run_purge(struct heap *h, uint32_t head)
{
	struct page *e = &heap_pages(h)[head];

	if (e->aux == 0)
		return;
	os_purge(page_addr(h, head), e->aux << LG_PAGE,
	    (h->flags & HEAP_F_SHARED) != 0);
	h->stats.npurged_pages += e->aux;   /* events: counted in every build */
	h->stats.npurge_calls++;
	h->stats.dirty_pages -= e->aux;
	e->aux = 0;
}

void page_run_free(struct heap *h, uint32_t head)
{
	struct page *pm = heap_pages(h);
	size_t n = pm[head].span;
	uint8_t kind = pm[head].kind;
	uint32_t start = head, r = head + (uint32_t)n;
	size_t ln = 0, lclean = 0, rn = 0, rdirty = 0;

	ph_assert((kind == PAGE_LARGE || kind == PAGE_SLAB) && n != 0 &&
	    head >= h->first_page && r <= h->hwm);

	/* Free neighbours: the left one through its tail, the right one
	 * through its head. */
	if (head > h->first_page) {
		struct page *l = &pm[head - 1];
		uint32_t lhead = l->kind == PAGE_FREE ? head - 1 :
		    l->kind == PAGE_FREE_TAIL ? l->span : 0;
		if (lhead) {
			start = lhead;
			ln = pm[lhead].span;
			lclean = ln - pm[lhead].aux;
			run_remove(h, lhead);
		}
	}
	if (r < h->npages && pm[r].kind == PAGE_FREE) {
		rn = pm[r].span;
		rdirty = pm[r].aux;
		run_remove(h, r);
	}
	/* One store makes the whole span free; the rest is tidying. */
	size_t total = ln + n + rn;
	page_publish(&pm[start], PAGE_FREE, 0, 0, (uint32_t)total);
	pm[start].aux = ln + n + rdirty;
	pm[start].stamp = os_now_ms();
	run_clear_tail(h, head, n, kind);
	if (kind == PAGE_SLAB)
		slabmap_clear(h, head, n);
	if (start != head)
		page_clear(&pm[head]);
	if (ln > 1)
		page_clear(&pm[head - 1]);
	if (rn > 0) {
		page_clear(&pm[r]);
		if (rn > 1)
			page_clear(&pm[r + rn - 1]);
	}
	run_mark_tail(h, start, total, PAGE_FREE);
	run_insert(h, start);
	/* Merged: no free run touches it on either side. */
	ph_assert(start + total == h->npages ||
	    pm[start + total].kind != PAGE_FREE);
	ph_assert(start == h->first_page || (pm[start - 1].kind !=
	    PAGE_FREE && pm[start - 1].kind != PAGE_FREE_TAIL));
	ph_assert(h->stats.active_pages >= n);
	h->stats.active_pages -= n;
	/* The merged run's dirty prefix covers the left neighbour's purged
	 * pages too (a prefix has no holes): count them, as page_validate does. */
	h->stats.dirty_pages += n + lclean;
	if ((h->flags & HEAP_F_OSMEM) && opts.decay_ms == 0)
		run_purge(h, start);
	heap_wake_waiters(h);
}

void page_run_shrink(struct heap *h, uint32_t head, size_t n)
{
	run_cut(h, head, n);
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
	size_t rn = pm[r].span, rdirty = pm[r].aux;
	uint64_t stamp = pm[r].stamp;
	run_remove(h, r);
	if (r + need > h->hwm) {   /* r itself is cleared below */
		slabmap_clear(h, r, 1);
		run_clear_above_hwm(h, r + 1, r + need);
	}
	/* The rest of the free run is interior until `head` grows over r. */
	if (rn > need)
		run_make_free(h, r + (uint32_t)need, rn - need,
		    rdirty > need ? rdirty - need : 0, stamp);
	page_publish(&pm[head], PAGE_LARGE, 0, 0, (uint32_t)n);
	if (len > 1)
		page_clear(&pm[head + len - 1]);
	if (rn == need && rn > 1)
		page_clear(&pm[r + rn - 1]);
	page_clear(&pm[r]);
	run_mark_tail(h, head, n, PAGE_LARGE);
	ph_assert(head + n == h->npages || rn == need ||
	    (pm[head + n].kind == PAGE_FREE && pm[head + n].span == rn - need));
	size_t taken_dirty = rdirty < need ? rdirty : need;
	h->stats.dirty_pages -= taken_dirty;
	h->stats.active_pages += need;
	if (head + n > h->hwm)
		h->hwm = (uint32_t)(head + n);
	*zero = taken_dirty == 0;
	return true;
}

/* The longest free run, in pages: the top non-empty class holds it.  The
 * walk checks each link -- a free head whose back link names the entry
 * it came from, so that a loop ends where it closes -- and stops after
 * npages entries in all, so that a damaged heap (or phstat's copy of a
 * live one) cannot send it astray. */
size_t page_largest_free(struct heap *h)
{
	struct page *pm = heap_pages(h);
	size_t best = 0, guard = h->npages;
	for (int c = NRUNCLASSES - 1; c >= 0 && best == 0; c--)
		for (uint32_t idx = h->runs[c], prev = 0; idx &&
		    idx < h->npages && pm[idx].kind == PAGE_FREE &&
		    pm[idx].prev == prev && guard != 0;
		    guard--, prev = idx, idx = pm[idx].next)
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

void page_map_init(struct heap *h, size_t dirty, size_t clear_upto)
{
	struct page *pm = heap_pages(h);
	uint32_t first = h->first_page;
	size_t n = h->npages - first;

	/* One store makes every data page one free run; what follows only
	 * tidies, so a reset that dies here leaves a heap repair completes. */
	page_publish(&pm[first], PAGE_FREE, 0, 0, (uint32_t)n);
	/* The metadata pages' own entries are zero from formatting on and
	 * never written: clearing them would touch megabytes (a 256 GiB
	 * reservation has 590,000 of them). */
	/* Entries at hwm may hold the head of the free run that began there. */
	if (clear_upto > 0 && clear_upto < h->npages)
		clear_upto++;
	if (clear_upto > first + 1)
		memset(&pm[first + 1], 0, page_map_bytes(clear_upto - first - 1));
	if (clear_upto > first)
		slabmap_clear(h, first, clear_upto - first);
	page_clear(&pm[h->npages - 1]);
	memset(h->runs, 0, sizeof(h->runs));
	memset(h->runmap, 0, sizeof(h->runmap));
	h->hwm = first;
	h->stats.active_pages = 0;
	h->stats.dirty_pages = dirty;
	run_make_free(h, first, n, dirty, os_now_ms());
}

/* ---- repair after a crash inside the lock ------------------------------- */

int page_repair(struct heap *h, void (*fn)(struct heap *, uint32_t))
{
	struct page *pm = heap_pages(h);
	uint32_t prev_free = 0, top = h->first_page;

	/* Pass 1: the walk must be sound; adjacent free runs (a free that
	 * died before coalescing) are merged with one publish each. */
	for (uint32_t i = h->first_page; i < h->npages;) {
		struct page *e = &pm[i];
		size_t n = e->span;
		if (n == 0 || n > h->npages - i ||
		    (e->kind != PAGE_FREE && e->kind != PAGE_LARGE &&
		    e->kind != PAGE_SLAB) || (e->kind == PAGE_SLAB &&
		    (e->cls >= NBINS || n != sizeclasses[e->cls].npages)))
			return 1;
		if (e->kind == PAGE_FREE && prev_free) {
			page_publish(&pm[prev_free], PAGE_FREE, 0, 0,
			    (uint32_t)(pm[prev_free].span + n));
			page_clear(e);
		} else {
			prev_free = e->kind == PAGE_FREE ? i : 0;
			if (e->kind != PAGE_FREE)
				top = i + (uint32_t)n;
		}
		i += (uint32_t)n;
	}
	if (top > h->hwm)
		h->hwm = top;

	/* Pass 2: everything derived, from the walk.  A free run's dirty
	 * prefix may have been lost: count all of it dirty. */
	memset(h->runs, 0, sizeof(h->runs));
	memset(h->runmap, 0, sizeof(h->runmap));
	uint64_t active = 0, dirty = 0, now = os_now_ms();
	for (uint32_t i = h->first_page; i < h->npages;) {
		struct page *e = &pm[i];
		size_t n = e->span, end = i + n;
		if (e->kind != PAGE_SLAB) {
			size_t lim = end < h->hwm ? end : h->hwm;
			if (lim > i + 1)
				memset(&pm[i + 1], 0,
				    page_map_bytes(lim - i - 1));
			if (n > 1)
				page_clear(&pm[end - 1]);
			if (lim > i)
				slabmap_clear(h, i, lim - i);
		} else {
			slabmap_set(h, i, n, e->cls);
		}
		if (e->kind == PAGE_FREE) {
			e->aux = n;
			e->stamp = now;
			dirty += n;
			run_mark_tail(h, i, n, PAGE_FREE);
			run_insert(h, i);
		} else {
			e->next = e->prev = 0;
			active += n;
			run_mark_tail(h, i, n, e->kind);
			fn(h, i);
		}
		i = (uint32_t)end;
	}
	h->stats.active_pages = active;
	h->stats.dirty_pages = dirty;
	return 0;
}

/* Walks the runs from first_page to npages and the free-run lists, and
 * checks every invariant written above struct page. */
int page_validate(struct heap *h, int (*run_fn)(struct heap *, uint32_t,
                  char *, size_t), char *why, size_t whylen)
{
	struct page *pm = heap_pages(h);
	uint64_t active = 0, dirty = 0, nfree = 0, listed = 0;
	bool prev_free = false;

	for (uint32_t i = 0; i < h->first_page; i++)
		if (pm[i].kind != PAGE_NONE)
			return report_why(why, whylen, "page %u: metadata page "
			    "has kind %u", i, pm[i].kind);
	for (uint32_t i = h->first_page; i < h->npages;) {
		struct page *e = &pm[i];
		size_t n = e->span;
		if (n == 0 || n > h->npages - i)
			return report_why(why, whylen, "page %u: run length "
			    "%zu out of range", i, n);
		if (i >= h->hwm && e->kind != PAGE_FREE)
			return report_why(why, whylen, "page %u: used run "
			    "above hwm %u", i, h->hwm);
		switch (e->kind) {
		case PAGE_FREE:
			if (prev_free)
				return report_why(why, whylen, "page %u: two "
				    "free runs adjacent", i);
			if (e->aux > n)
				return report_why(why, whylen, "page %u: %llu "
				    "dirty pages in a run of %zu", i,
				    (unsigned long long)e->aux, n);
			if (n > 1 && (pm[i + n - 1].kind != PAGE_FREE_TAIL ||
			    pm[i + n - 1].span != i))
				return report_why(why, whylen, "page %u: free "
				    "run has a bad tail", i);
			dirty += e->aux;
			nfree++;
			break;
		case PAGE_LARGE:
			if (n > 1 && (pm[i + n - 1].kind != PAGE_LARGE_TAIL ||
			    pm[i + n - 1].span != i))
				return report_why(why, whylen, "page %u: large "
				    "run has a bad tail", i);
			active += n;
			break;
		case PAGE_SLAB:
			if (e->cls >= NBINS || n != sizeclasses[e->cls].npages)
				return report_why(why, whylen, "page %u: slab "
				    "of class %u has %zu pages", i, e->cls, n);
			for (size_t k = 1; k < n; k++)
				if (pm[i + k].kind != PAGE_SLAB_BODY ||
				    pm[i + k].span != i)
					return report_why(why, whylen, "page "
					    "%u: bad slab body page", i);
			if (run_fn != NULL && run_fn(h, i, why, whylen))
				return 1;
			active += n;
			break;
		default:
			return report_why(why, whylen, "page %u: kind %u where "
			    "a run should start", i, e->kind);
		}
		uint32_t *sm = heap_slabmap(h);
		for (size_t k = 0; k < n && i + k < h->hwm; k++) {
			uint32_t want = e->kind == PAGE_SLAB ?
			    slabmap_entry(e->cls, (uint32_t)k) : 0;
			if (sm[i + k] != want)
				return report_why(why, whylen, "page %zu: slab "
				    "map says %#x, not %#x", i + k, sm[i + k],
				    want);
		}
		if (e->kind != PAGE_SLAB) {
			/* Interiors hold nothing; beyond hwm they were never
			 * touched, so only the part below hwm is read. */
			size_t end = i + n - 1 < h->hwm ? i + n - 1 : h->hwm;
			for (size_t k = i + 1; k < end; k++)
				if (pm[k].kind != PAGE_NONE)
					return report_why(why, whylen, "page "
					    "%zu: interior of run %u has kind "
					    "%u", k, i, pm[k].kind);
		}
		prev_free = e->kind == PAGE_FREE;
		i += (uint32_t)n;
	}
	for (unsigned c = 0; c < NRUNCLASSES; c++) {
		bool bit = (h->runmap[c / 64] >> (c % 64)) & 1;
		if (bit != (h->runs[c] != 0))
			return report_why(why, whylen, "run class %u: bitmap "
			    "says %d", c, bit);
		uint32_t prev = 0;
		for (uint32_t idx = h->runs[c]; idx; idx = pm[idx].next) {
			if (idx < h->first_page || idx >= h->npages ||
			    pm[idx].kind != PAGE_FREE)
				return report_why(why, whylen, "run class %u "
				    "lists page %u, not a free run", c, idx);
			if (run_class(pm[idx].span) != c ||
			    pm[idx].span < run_class_min(c))
				return report_why(why, whylen, "run class %u "
				    "lists a run of %u pages", c,
				    pm[idx].span);
			if (pm[idx].prev != prev)
				return report_why(why, whylen, "run class %u: "
				    "bad back link at %u", c, idx);
			prev = idx;
			if (++listed > nfree)
				return report_why(why, whylen, "free-run lists "
				    "hold more runs than the page map (%llu)",
				    (unsigned long long)nfree);
		}
	}
	if (listed != nfree)
		return report_why(why, whylen, "%llu free runs, %llu listed",
		    (unsigned long long)nfree, (unsigned long long)listed);
	if (active != h->stats.active_pages)
		return report_why(why, whylen, "%llu active pages counted, "
		    "stats say %llu", (unsigned long long)active,
		    (unsigned long long)h->stats.active_pages);
	if (dirty != h->stats.dirty_pages)
		return report_why(why, whylen, "%llu dirty pages counted, "
		    "stats say %llu", (unsigned long long)dirty,
		    (unsigned long long)h->stats.dirty_pages);
	return 0;
}

void page_large_free(struct heap *h, uint32_t head)
{
	if (config_stats) {
		h->stats.ndalloc_large++;
		h->stats.cur_large--;
		h->stats.allocated -= (size_t)heap_pages(h)[head].span <<
		    LG_PAGE;
	}
	page_run_free(h, head);
}

void page_wake_slow(struct heap *h)
{
	uint64_t until = atomic_load(&h->wait_until);
	/* Past its time the announcement is stale (its waiters left or were
	 * killed): stop paying for it.  A live waiter announces again. */
	if (until != 0 && os_now_ms() > until)
		atomic_compare_exchange_strong(&h->wait_until, &until, 0);
	/* A new generation, without the sleepers bit: the syscall is paid
	 * once per sleep, not once per block of a flush. */
	uint32_t old = atomic_load(&h->free_gen);
	while (!atomic_compare_exchange_weak(&h->free_gen, &old,
	    ((old & ~GEN_SLEEPERS) + 1) & ~GEN_SLEEPERS))
		;
	if (old & GEN_SLEEPERS)
		os_futex_wake_all(&h->free_gen,
		    (h->flags & HEAP_F_SHARED) != 0);
}
