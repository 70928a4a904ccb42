/*
 * qmalloc.c -- the calls of Plan 9 and NIX's malloc: mallocalign, mallocz,
 * msize, smalloc, block tags, mallocsummary, and their ph_heap_* forms.
 *
 * mallocalign.  A block starts where an ordinary block can start (a slot
 * of a slab, a page) or, for an offset no block start satisfies, `lead`
 * bytes into the first page of a large run: the run's head records the
 * lead (types.h), so free, realloc and usable_size know the block as they
 * know any other.  Waste: an offset of 0 gets an aligned block, whose
 * usable size is the request's class (at most twice the request when a
 * span forces a power-of-two alignment); any other offset gets a run of
 * ceil((lead + size) / PAGE) pages, so less than 2 PAGE bytes are wasted,
 * and the search needs mod / PAGE - 1 free pages more, given back at once.
 *
 * smalloc.  A waiter announces itself in h->wait_until (a time, not a
 * count, so that a waiter killed in its sleep stops mattering once the time
 * passes), then sleeps on the futex word h->free_gen for at most
 * SMALLOC_NAP_MS.  slab_free and page_run_free call heap_wake_waiters,
 * which bumps the word only while wait_until is set, and makes the wake
 * call only when a sleeper flagged itself in it.  A waiter
 * that sleeps its nap out also takes back the caches of dead processes.
 *
 * Tags.  A table of (offset, malloc tag, realloc tag) in a large run of the
 * heap, open addressing with tombstones, so that every change is one store
 * of a key and a process killed at any point leaves a table that reads
 * right.  It is made at the first tag; from then until a reset h->tagging
 * keeps frees off the thread caches, and heap_free drops the block's tag.
 * Tags are integers: never followed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "valgrind.h"
#include "phmalloc.h"

#define SMALLOC_NAP_MS   100    /* longest sleep before looking again */
#define GEN_SLEEPERS     0x80000000u   /* free_gen: somebody is in the futex */
#define TAG_MAGIC        UINT64_C(0x656c626174676174)   /* "tagtable" */
#define TAG_EMPTY        UINT64_C(0)          /* a key never used */
#define TAG_TOMB         UINT64_MAX           /* a dropped entry's key */
#define TAG_MIN_CAP      128
#define TAG_HASH_MUL     UINT64_C(0x9E3779B97F4A7C15)
#define LINE_MAX_BYTES   512    /* one line of a report */
#define SUMMARY_PER_LINE 5      /* size classes per summary line */

/* Public calls this file uses.  The public header is generated for the
 * configured prefix, which the drop-in variant does not share. */
PH_EXPORT void *P(malloc)(size_t size);
PH_EXPORT void *P(calloc)(size_t n, size_t size);

static void *fail_ptr(int err)
{
	errno = err;
	return NULL;
}

/* The heap the standard family's calls allocate from in this thread. */
static struct heap *qm_default(void)
{
	return heap_for_malloc();
}

static struct heap *qm_handle(ph_heap_t *hp)
{
	struct heap *h = (struct heap *)hp;
	if (unlikely(h == NULL || registry_lookup(h) != h))
		report_fatal("bad heap handle %p (not an attached heap)",
		    (void *)hp);
	return h;
}

static bool is_pow2_or_0(size_t x)
{
	return (x & (x - 1)) == 0;
}

/* The smallest power of two >= x (x >= 1, x <= 2^63). */
static size_t pow2_ceil(size_t x)
{
	return x <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzl(x - 1));
}

/* ---- mallocalign ---------------------------------------------------------- */

/* Where a block of size bytes must start: at `*at` modulo `*mod` (a power of
 * two).  0, or EINVAL when no start satisfies the request, or ENOMEM. */
static int align_plan(size_t size, size_t align, long offset, size_t span,
                      size_t *mod, size_t *at)
{
	if (!is_pow2_or_0(align) || !is_pow2_or_0(span))
		return EINVAL;
	if (size > HEAP_ALLOC_MAX || align > HEAP_ALLOC_MAX)
		return ENOMEM;
	size_t n = size ? size : 1;
	size_t a = align ? align : 1;
	/* offset mod a, negative offsets too: two's complement and a | 2^64. */
	size_t r = (size_t)offset & (a - 1);
	*mod = a;
	*at = r;
	if (span == 0)
		return 0;
	if (n > span)
		return EINVAL;
	if (a >= span)   /* span | a: every start sits at r % span in its span */
		return (r & (span - 1)) + n <= span ? 0 : EINVAL;
	/* Start at r in a window of w = 2^k >= r + n: windows (w <= span)
	 * never cross a span boundary, and a | w keeps p = r mod a. */
	if (r + n > span)
		return EINVAL;
	size_t w = pow2_ceil(r + n);
	*mod = w > a ? w : a;
	return 0;
}

static void *heap_mallocalign(struct heap *h, size_t size, size_t align,
                              long offset, size_t span)
{
	size_t mod, at;
	int err = align_plan(size, align, offset, span, &mod, &at);
	if (err)
		return fail_ptr(err);
	void *p = at == 0 ? heap_malloc_aligned(h, size, mod, opts.zero) :
	    heap_malloc_at(h, size, mod, at, opts.zero);
	return p != NULL ? p : fail_ptr(ENOMEM);
}

/* ---- smalloc ----------------------------------------------------------------- */

void heap_wake_slow(struct heap *h)
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

/* Raises h->wait_until to at least until. */
static void wait_announce(struct heap *h, uint64_t until)
{
	uint64_t cur = atomic_load(&h->wait_until);
	while (cur < until &&
	    !atomic_compare_exchange_weak(&h->wait_until, &cur, until))
		;
}

/* Clears the announcement if nobody raised it after us; a waiter it still
 * covers finds out at the end of its nap and announces again. */
static void wait_retire(struct heap *h, uint64_t until)
{
	atomic_compare_exchange_strong(&h->wait_until, &until, 0);
}

static void *alloc_once(struct heap *h, size_t size)
{
	void *p = size <= SMALL_MAX && !opts.zero ?
	    tcache_alloc(h, size2class(size)) : NULL;
	return p != NULL ? p : heap_malloc(h, size, opts.zero);
}

/* Waits for memory; timeout_ms < 0 waits for ever. */
static void *smalloc_wait(struct heap *h, size_t size, long timeout_ms)
{
	bool shared = (h->flags & HEAP_F_SHARED) != 0;
	uint64_t start = os_now_ms();

	tcache_flush_thread();   /* our own cached blocks may be what we need */
	for (;;) {
		uint64_t now = os_now_ms(), nap = SMALLOC_NAP_MS;
		if (timeout_ms >= 0) {
			uint64_t spent = now - start;
			if (spent >= (uint64_t)timeout_ms)
				return fail_ptr(ETIMEDOUT);
			if ((uint64_t)timeout_ms - spent < nap)
				nap = (uint64_t)timeout_ms - spent;
		}
		/* Announce before trying: a free after our try sees it. */
		uint64_t until = now + nap + SMALLOC_NAP_MS;
		wait_announce(h, until);
		uint32_t gen = atomic_load(&h->free_gen);
		void *p = alloc_once(h, size);
		if (p != NULL) {
			wait_retire(h, until);
			return p;
		}
		/* Sleep only on the generation our try saw; if a free came
		 * since, the flag cannot be set and we try again at once. */
		uint32_t want = gen | GEN_SLEEPERS;
		if (gen != want && !atomic_compare_exchange_strong(
		    &h->free_gen, &gen, want))
			continue;
		os_futex_wait_ms(&h->free_gen, want, shared, nap);
		if (atomic_load(&h->free_gen) == want) {
			/* Nobody freed: a dead process's caches may hold it. */
			heap_lock(h);
			tcache_reclaim_locked(h);
			heap_unlock(h);
		}
	}
}

static void *heap_smalloc(struct heap *h, size_t size, long timeout_ms)
{
	if (size > HEAP_ALLOC_MAX)
		return fail_ptr(ENOMEM);
	/* A request larger than all the data pages would wait for ever. */
	if (size_usable(size) >> LG_PAGE > h->npages - h->first_page)
		return fail_ptr(ENOMEM);
	void *p = alloc_once(h, size);
	return p != NULL ? p : smalloc_wait(h, size, timeout_ms);
}

/* ---- the tag table ------------------------------------------------------------ */

struct tag_entry {
	uint64_t off;    /* block offset; TAG_EMPTY, or TAG_TOMB once dropped */
	uint64_t mtag;   /* malloc tag */
	uint64_t rtag;   /* realloc tag */
};

/* At h->tags, a large run.  Keys are written last (one store), so an entry
 * is either there or not.
 *   live == entries whose key is a block offset;
 *   used == live + tombstones, kept <= cap * 3/4 by growing.
 * A crash may leave the counts off by one: they only steer growth, and
 * every probe stops after cap entries. */
struct tag_table {
	uint64_t magic;   /* TAG_MAGIC */
	uint64_t cap;     /* entries, a power of two */
	uint64_t live;    /* tagged blocks */
	uint64_t used;    /* entries not TAG_EMPTY */
	struct tag_entry e[];
};

static size_t tag_table_pages(uint64_t cap)
{
	return ALIGN_UP(sizeof(struct tag_table) + cap *
	    sizeof(struct tag_entry), PAGE) >> LG_PAGE;
}

/* The table at h->tags, or NULL when there is none or the offset does not
 * name one (the header is input, not truth).  Needs lock. */
static struct tag_table *tag_table_of(struct heap *h)
{
	uint64_t off = h->tags;
	if (off == 0 || off % PAGE != 0 || off >= h->size)
		return NULL;
	uint32_t idx = (uint32_t)(off >> LG_PAGE);
	struct page *e = &heap_pages(h)[idx];
	if (idx < h->first_page || e->kind != PAGE_LARGE || large_lead(e) != 0)
		return NULL;
	struct tag_table *t = (struct tag_table *)((char *)h + off);
	if (t->magic != TAG_MAGIC || t->cap < TAG_MIN_CAP ||
	    (t->cap & (t->cap - 1)) != 0 || t->cap > h->size ||
	    tag_table_pages(t->cap) > e->span)
		return NULL;
	return t;
}

/* Bytes of the run holding table t (0 for none).  Needs lock. */
static size_t tag_table_bytes(struct heap *h, struct tag_table *t)
{
	return t ? (size_t)heap_pages(h)[page_index(h, t)].span << LG_PAGE :
	    0;
}

static uint64_t tag_hash(const struct tag_table *t, uint64_t off)
{
	unsigned lg = (unsigned)__builtin_ctzll(t->cap);
	return ((off >> 4) * TAG_HASH_MUL) >> (64 - lg);
}

static struct tag_entry *tag_find(struct tag_table *t, uint64_t off)
{
	uint64_t mask = t->cap - 1;
	for (uint64_t i = tag_hash(t, off), n = 0; n < t->cap;
	    n++, i = (i + 1) & mask) {
		if (t->e[i].off == off)
			return &t->e[i];
		if (t->e[i].off == TAG_EMPTY)
			return NULL;
	}
	return NULL;
}

/* The first entry off may go in (off not in the table), or NULL if full. */
static struct tag_entry *tag_free_slot(struct tag_table *t, uint64_t off)
{
	uint64_t mask = t->cap - 1;
	for (uint64_t i = tag_hash(t, off), n = 0; n < t->cap;
	    n++, i = (i + 1) & mask)
		if (t->e[i].off == TAG_EMPTY || t->e[i].off == TAG_TOMB)
			return &t->e[i];
	return NULL;
}

static void tag_put(struct tag_table *t, struct tag_entry *slot, uint64_t off,
                    uint64_t mtag, uint64_t rtag)
{
	if (slot->off == TAG_EMPTY)
		t->used++;
	slot->mtag = mtag;
	slot->rtag = rtag;
	atomic_thread_fence(memory_order_release);   /* then the key */
	slot->off = off;
	t->live++;
}

static void tag_remove(struct tag_table *t, struct tag_entry *e)
{
	e->off = TAG_TOMB;
	if (t->live > 0)
		t->live--;
}

/* A table with room for the live entries of the old one (if any) and more,
 * published with one store of h->tags; the old run is freed after.  NULL
 * when the heap has no room.  Needs lock. */
static struct tag_table *tag_table_grow(struct heap *h, struct tag_table *old)
{
	uint64_t live = old ? old->live : 0, cap = TAG_MIN_CAP;
	while (cap / 2 < live + 1)
		cap *= 2;
	size_t n = tag_table_pages(cap);
	bool zero;
	uint32_t head = page_run_alloc(h, n, PAGE_LARGE, 0, &zero);
	if (head == 0)
		return NULL;
	struct tag_table *t = page_addr(h, head);
	if (!zero)
		memset(t, 0, n << LG_PAGE);
	t->magic = TAG_MAGIC;
	t->cap = cap;
	for (uint64_t i = 0; old != NULL && i < old->cap; i++) {
		struct tag_entry *e = &old->e[i];
		if (e->off == TAG_EMPTY || e->off == TAG_TOMB)
			continue;
		struct tag_entry *slot = tag_free_slot(t, e->off);
		if (slot == NULL)
			break;   /* counts were off (a crash): keep what fits */
		tag_put(t, slot, e->off, e->mtag, e->rtag);
	}
	/* Counted as a large block, as heap_repair will count it. */
	if (config_stats) {
		h->stats.nmalloc_large++;
		h->stats.cur_large++;
		h->stats.allocated += n << LG_PAGE;
	}
	/* Frees leave the caches first, then the slow path learns why. */
	atomic_store_explicit(&h->cache_limit, 0, memory_order_relaxed);
	atomic_store_explicit(&h->tagging, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);   /* filled, then seen */
	h->tags = (uint64_t)head << LG_PAGE;
	if (old != NULL) {
		uint32_t oh = page_index(h, old);
		if (config_stats) {
			h->stats.ndalloc_large++;
			h->stats.cur_large--;
			h->stats.allocated -= (uint64_t)heap_pages(h)[oh].span <<
			    LG_PAGE;
		}
		old->magic = 0;
		page_run_free(h, oh);
	}
	return t;
}

/* The entry of block offset off; with create, made (tags 0) if missing.
 * NULL if absent, or no room to make it.  Needs lock. */
static struct tag_entry *tag_entry_get(struct heap *h, uint64_t off,
                                       bool create)
{
	struct tag_table *t = tag_table_of(h);
	struct tag_entry *e = t ? tag_find(t, off) : NULL;
	if (e != NULL || !create)
		return e;
	if (t == NULL || t->used + 1 > t->cap / 4 * 3) {
		/* Grown, the load is <= 1/2; if the heap has no room, a
		 * crowded table may still have a slot. */
		struct tag_table *bigger = tag_table_grow(h, t);
		if (bigger != NULL)
			t = bigger;
	}
	struct tag_entry *slot = t ? tag_free_slot(t, off) : NULL;
	if (slot == NULL)
		return NULL;
	tag_put(t, slot, off, 0, 0);
	return slot;
}

void tag_drop_locked(struct heap *h, const void *p)
{
	struct tag_table *t = tag_table_of(h);
	struct tag_entry *e = t ? tag_find(t,
	    (uint64_t)((const char *)p - (char *)h)) : NULL;
	if (e != NULL)
		tag_remove(t, e);
}

void tag_move(struct heap *h, const void *p, const void *q)
{
	heap_lock(h);
	struct tag_table *t = tag_table_of(h);
	struct tag_entry *e = t ? tag_find(t,
	    (uint64_t)((const char *)p - (char *)h)) : NULL;
	if (e != NULL) {
		uint64_t mtag = e->mtag, rtag = e->rtag;
		tag_remove(t, e);
		struct tag_entry *n = tag_entry_get(h,
		    (uint64_t)((const char *)q - (char *)h), true);
		if (n != NULL) {
			n->mtag = mtag;
			n->rtag = rtag;
		}
	}
	heap_unlock(h);
}

/* Usable bytes of the block at offset off, 0 if no live block starts there
 * (by the page map: for reports, which must not abort).  Needs lock. */
static size_t block_bytes_at(struct heap *h, uint64_t off)
{
	if (off < h->size && refuge_has(h, (char *)h + off))
		return refuge_bytes_at(h, (char *)h + off);
	if (off >= h->size || (off >> LG_PAGE) < h->first_page)
		return 0;
	struct page *pm = heap_pages(h);
	uint32_t idx = (uint32_t)(off >> LG_PAGE);
	uint32_t slab = slab_of(h, idx);
	uint32_t head = slab ? slab : idx;
	struct page *e = &pm[head];
	if (slab != 0) {
		uint64_t boff = off - ((uint64_t)head << LG_PAGE);
		uint32_t size = sizeclasses[e->cls].size;
		return boff % size == 0 && boff / size < e->s.carved ? size : 0;
	}
	if (e->kind == PAGE_LARGE && head == idx &&
	    (off & PAGE_MASK) == large_lead(e))
		return ((size_t)e->span << LG_PAGE) - large_lead(e);
	return 0;
}

int tag_validate(struct heap *h, char *why, size_t whylen)
{
	if (h->tags == 0)
		return 0;
	struct tag_table *t = tag_table_of(h);
	if (t == NULL) {
		snprintf(why, whylen, "tag table offset %llu names no table",
		    (unsigned long long)h->tags);
		return 1;
	}
	uint64_t live = 0, used = 0;
	for (uint64_t i = 0; i < t->cap; i++) {
		uint64_t off = t->e[i].off;
		if (off == TAG_EMPTY)
			continue;
		used++;
		if (off == TAG_TOMB)
			continue;
		live++;
		if (block_bytes_at(h, off) == 0 || tag_find(t, off) !=
		    &t->e[i]) {
			snprintf(why, whylen, "tag table entry %llu: offset "
			    "%llu is no live block, or listed twice",
			    (unsigned long long)i, (unsigned long long)off);
			return 1;
		}
	}
	if (live != t->live || used != t->used) {
		snprintf(why, whylen, "tag table counts %llu live, %llu used; "
		    "holds %llu, %llu", (unsigned long long)t->live,
		    (unsigned long long)t->used, (unsigned long long)live,
		    (unsigned long long)used);
		return 1;
	}
	return 0;
}

/* ---- tag calls ------------------------------------------------------------ */

/* Usable bytes of p, which must be a live block of h, or report_fatal
 * naming op.  A small block is also looked for among the free ones, as a
 * free does.  Needs lock. */
static size_t block_live(struct heap *h, const void *p, const char *op)
{
	size_t bytes = heap_block_size(h, p, op);
	struct page *pm = heap_pages(h);
	uint32_t head = slab_of(h, page_index(h, p));
	if (head != 0) {
		uint16_t k = slab_block_index(h, &pm[head], head, p);
		/* The key is a shortcut memcheck would call a read of the
		 * user's uninitialised bytes: under valgrind, walk. */
		if (((vg_on() || ((const uint64_t *)p)[1] == h->free_key) &&
		    slab_chain_has(h, &pm[head], head, k)) ||
		    tcache_holds(h, p))
			report_fatal("%s of %p in heap %p: the block is free",
			    op, p, (void *)h);
	}
	return bytes;
}

static void tag_set(void *p, uintptr_t tag, bool realloc_tag, const char *op)
{
	if (p == NULL)
		return;
	struct heap *h = heap_owner(p, op);
	heap_lock(h);
	block_live(h, p, op);
	struct tag_entry *e = tag_entry_get(h,
	    (uint64_t)((char *)p - (char *)h), tag != 0);
	if (e != NULL) {
		if (realloc_tag)
			e->rtag = tag;
		else
			e->mtag = tag;
		if (e->mtag == 0 && e->rtag == 0)
			tag_remove(tag_table_of(h), e);
	} else if (tag != 0) {
		errno = ENOMEM;   /* no room in the heap for the table */
	}
	heap_unlock(h);
}

static uintptr_t tag_get(void *p, bool realloc_tag, const char *op)
{
	if (p == NULL)
		return 0;
	struct heap *h = heap_owner(p, op);
	heap_lock(h);
	block_live(h, p, op);
	struct tag_entry *e = heap_tagging(h) ? tag_entry_get(h,
	    (uint64_t)((char *)p - (char *)h), false) : NULL;
	uintptr_t tag = e == NULL ? 0 : realloc_tag ? e->rtag : e->mtag;
	heap_unlock(h);
	return tag;
}

/* ---- reports -------------------------------------------------------------- */

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
	struct tag_table *t = tag_table_of(h);
	*n = 0;
	if (t == NULL || t->live == 0)
		return NULL;
	*map = ALIGN_UP(t->cap * sizeof(struct tag_group), PAGE);
	struct tag_group *g = os_reserve(*map);
	if (g == NULL)
		return NULL;
	for (uint64_t i = 0; i < t->cap; i++) {
		uint64_t off = t->e[i].off;
		size_t bytes = off == TAG_EMPTY || off == TAG_TOMB ? 0 :
		    block_bytes_at(h, off);
		if (bytes != 0)
			g[(*n)++] = (struct tag_group){ .tag = t->e[i].mtag,
			    .count = 1, .bytes = bytes };
	}
	return g;
}

static void heap_tag_report(struct heap *h, struct qout *o)
{
	size_t n = 0, map = 0;
	heap_lock(h);
	struct tag_group *g = tag_collect(h, &n, &map);
	size_t allocated = h->stats.allocated - tcache_cached_bytes(h, NULL) -
	    depot_bytes(h);
	struct tag_table *t = tag_table_of(h);
	size_t table = tag_table_bytes(h, t);
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
	qout_printf(o, "untagged: %zu bytes in live blocks\n", other);
	if (g != NULL)
		os_unmap(g, map);
}

/* Tagged blocks of h and the bytes of its tag table. */
static void heap_tag_count(struct heap *h, uint64_t *tagged, size_t *table)
{
	heap_lock(h);
	struct tag_table *t = tag_table_of(h);
	*tagged += t ? t->live : 0;
	*table += tag_table_bytes(h, t);
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

PH_EXPORT void *P(mallocalign)(size_t size, size_t align, long offset,
                               size_t span)
{
	struct heap *h = qm_default();
	return h != NULL ? heap_mallocalign(h, size, align, offset, span) :
	    fail_ptr(ENOMEM);
}

PH_EXPORT void *P(mallocz)(size_t size, int clr)
{
	return clr ? P(calloc)(1, size) : P(malloc)(size);
}

PH_EXPORT size_t P(msize)(void *p)
{
	if (p == NULL)
		return 0;
	/* Every block owns its usable bytes already: growing is naming them. */
	struct heap *h = heap_owner(p, "msize");
	heap_lock(h);
	size_t bytes = block_live(h, p, "msize");
	heap_unlock(h);
	return bytes;
}

PH_EXPORT void *P(smalloc)(size_t size)
{
	struct heap *h = qm_default();
	return h != NULL ? heap_smalloc(h, size, -1) : fail_ptr(ENOMEM);
}

PH_EXPORT void P(setmalloctag)(void *p, uintptr_t tag)
{
	tag_set(p, tag, false, "setmalloctag");
}

PH_EXPORT uintptr_t P(getmalloctag)(void *p)
{
	return tag_get(p, false, "getmalloctag");
}

PH_EXPORT void P(setrealloctag)(void *p, uintptr_t tag)
{
	tag_set(p, tag, true, "setrealloctag");
}

PH_EXPORT uintptr_t P(getrealloctag)(void *p)
{
	return tag_get(p, true, "getrealloctag");
}

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

PH_EXPORT void *ph_heap_mallocalign(ph_heap_t *hp, size_t size, size_t align,
                                    long offset, size_t span)
{
	return heap_mallocalign(qm_handle(hp), size, align, offset, span);
}

PH_EXPORT void *ph_heap_smalloc(ph_heap_t *hp, size_t size)
{
	return heap_smalloc(qm_handle(hp), size, -1);
}

PH_EXPORT void *ph_heap_smalloc_timed(ph_heap_t *hp, size_t size,
                                      long timeout_ms)
{
	return heap_smalloc(qm_handle(hp), size,
	    timeout_ms < 0 ? 0 : timeout_ms);
}

PH_EXPORT void ph_heap_tag_report(ph_heap_t *hp,
                                  void (*write_cb)(void *, const char *),
                                  void *cbopaque)
{
	struct qout o = { .cb = write_cb, .opaque = cbopaque };
	heap_tag_report(qm_handle(hp), &o);
}

PH_EXPORT void ph_heap_summary(ph_heap_t *hp,
                               void (*write_cb)(void *, const char *),
                               void *cbopaque)
{
	struct qout o = { .cb = write_cb, .opaque = cbopaque };
	heap_summary(qm_handle(hp), false, &o);
}
