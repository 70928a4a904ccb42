/*
 * slab.c -- small blocks: slabs and bins.
 *
 * A slab is a run of sizeclasses[c].npages pages cut into equal blocks,
 * with no header in the run: its descriptor is the head's struct page.
 * Blocks are carved in address order the first time (so a new slab is not
 * written all over), and once freed they form a chain through their first
 * two bytes: the index of the next free block, masked with the heap key.
 * The next eight bytes of a free block hold heap->free_key, so a second
 * free of the same block is caught by one compare (then proved by walking
 * the chain, since user data may hold the key by chance).
 *
 * A bin lists the slabs of its class that have free blocks.  An empty slab
 * goes back to the page runs, except the last one of its bin, which is kept
 * so that one malloc/free loop does not build and tear down a slab each time.
 *
 * Every function here needs heap->lock, but slab_remote_give and
 * slab_remote_push, by which other threads give blocks back without it.
 */
#include <stdio.h>
#include <string.h>

#include "parts.h"
#include "valgrind.h"

/* Word layout of a free block. */
struct free_block {
	uint16_t next;     /* next chain index ^ key16, SLAB_NONE ^ key16 at end */
	uint16_t unused[3];
	uint64_t key;      /* heap->free_key while the block is free */
};

static inline uint16_t key16(const struct heap *h)
{
	return (uint16_t)h->free_key;
}

static inline char *slab_base(struct heap *h, uint32_t head)
{
	return page_addr(h, head);
}

static void bin_push(struct heap *h, struct bin *b, uint32_t head)
{
	struct page *pm = heap_pages(h);
	ph_assert(pm[head].kind == PAGE_SLAB && pm[head].nfree > 0 &&
	    &h->bins[pm[head].cls] == b && b->nonfull != head);
	pm[head].prev = 0;
	pm[head].next = b->nonfull;
	if (b->nonfull)
		pm[b->nonfull].prev = head;
	b->nonfull = head;
}

static inline void bin_remove(struct heap *h, struct bin *b, uint32_t head)
{
	struct page *pm = heap_pages(h);
	struct page *s = &pm[head];
	ph_assert(s->kind == PAGE_SLAB && &h->bins[s->cls] == b);
	ph_assert(s->prev ? pm[s->prev].next == head : b->nonfull == head);
	ph_assert(s->next == 0 || pm[s->next].prev == head);
	if (s->prev)
		pm[s->prev].next = s->next;
	else
		b->nonfull = s->next;
	if (s->next)
		pm[s->next].prev = s->prev;
	s->next = s->prev = 0;
}

/* A fresh block may sit where an old slab's free block kept its key: its
 * every free would then look like a double free and take the slow, locked
 * path.  So the keys of the blocks on the slab's dirty pages (its first
 * `dirty`) are cleared when the slab is made; the rest read as zero.
 * Carving then writes nothing: a block handed to a thread cache and never
 * used leaves its page untouched (not resident, nothing for fork to copy). */
static void slab_clear_keys(struct heap *h, uint32_t head,
                            const struct sizeclass *sc, size_t dirty)
{
	char *base = slab_base(h, head);
	size_t end = dirty << LG_PAGE;
	for (size_t at = offsetof(struct free_block, key); at < end;
	    at += sc->size) {
		uint64_t *key = (uint64_t *)(base + at);
		vg_open(key, sizeof(*key));
		*key = 0;
		vg_close(key, sizeof(*key));
	}
}

static uint32_t slab_new(struct heap *h, unsigned cls)
{
	const struct sizeclass *sc = &sizeclasses[cls];
	bool zero;
	/* page_run_alloc takes the run's dirty pages off this sum of the free
	 * runs' aux (types.h), so the difference is how many of the slab's
	 * first pages may be dirty. */
	uint64_t dirty_before = h->stats.dirty_pages;
	uint32_t head = page_run_alloc(h, sc->npages, PAGE_SLAB, cls, &zero);
	if (head == 0)
		return 0;
	struct page *s = &heap_pages(h)[head];
	ph_assert(s->kind == PAGE_SLAB && s->cls == cls &&
	    s->span == sc->npages && s->nfree == sc->nblocks &&
	    s->s.carved == 0 && s->s.free == SLAB_NONE);
	vg_close(slab_base(h, head), sc->npages * PAGE);
	if (!zero)
		slab_clear_keys(h, head, sc, (size_t)(dirty_before -
		    h->stats.dirty_pages));
	h->bins[cls].nslabs++;
	bin_push(h, &h->bins[cls], head);
	return head;
}

/* slab_alloc's and slab_free_index's bodies are written once, inline, with
 * `vg` a constant: the common versions have no call on their way (no
 * annotation, no relisting, no chain walk), so they need no saved
 * registers; valgrind's, and a block or slab that needs more, go to
 * out-of-line versions.  Needs lock. */
static void *slab_alloc_slow(struct heap *h, unsigned cls);

static inline __attribute__((always_inline)) void *slab_take(struct heap *h,
    unsigned cls, uint32_t head, bool vg)
{
	struct bin *b = &h->bins[cls];
	struct page *s = &heap_pages(h)[head];
	uint32_t size = sizeclasses[cls].size;
	char *p;
	if (s->s.free != SLAB_NONE) {
		p = slab_base(h, head) + (size_t)s->s.free * size;
		struct free_block *fb = (struct free_block *)p;
		if (vg)
			vg_open(fb, sizeof(*fb));
		uint16_t next = fb->next ^ key16(h);
		if (unlikely(next != SLAB_NONE && next >= s->s.carved))
			report_fatal("corrupted free chain in slab %p of "
			    "heap %p (use after free?)",
			    (void *)slab_base(h, head), (void *)h);
		/* Off the chain first, then the key cleared: a process killed
		 * (or a fork) in between leaves a chained block with its key,
		 * which repair and a joiner's check require (crash rule). */
		s->s.free = next;
		atomic_thread_fence(memory_order_release);
		fb->key = 0;
	} else {
		/* Never written: its key was cleared with the slab
		 * (slab_clear_keys) or reads as zero. */
		p = slab_base(h, head) + (size_t)s->s.carved * size;
		s->s.carved++;
	}
	ph_assert(s->nfree > 0 && s->s.carved <= sizeclasses[cls].nblocks &&
	    (s->s.free == SLAB_NONE || s->s.free < s->s.carved));
	if (config_stats) {
		b->nmalloc++;
		b->curblocks++;
		h->stats.allocated += size;
	}
	if (--s->nfree == 0)
		bin_remove(h, b, head);
	return p;
}

void *slab_alloc(struct heap *h, unsigned cls)
{
	uint32_t head = h->bins[cls].nonfull;
	if (unlikely(head == 0 || vg_on()))
		return slab_alloc_slow(h, cls);
	return slab_take(h, cls, head, false);
}

/* A bin without a slab (drain the remote blocks, else make one), or
 * valgrind watching. */
static __attribute__((noinline)) void *slab_alloc_slow(struct heap *h,
                                                       unsigned cls)
{
	struct bin *b = &h->bins[cls];
	uint32_t head = b->nonfull;
	if (unlikely(head == 0)) {
		slab_remote_drain(h);   /* blocks other threads gave back */
		if ((head = b->nonfull) == 0 && (head = slab_new(h, cls)) == 0)
			return NULL;
	}
	return slab_take(h, cls, head, vg_on());
}

/* Is block idx among the n (at most) linked from block i on: the slab's
 * chain, or its remote list?  A link out of the slab ends the walk. */
static bool slab_links_have(struct heap *h, const struct page *s,
                            uint32_t head, uint16_t i, uint32_t n,
                            uint16_t idx)
{
	uint32_t size = sizeclasses[s->cls].size;
	for (; i != SLAB_NONE && n != 0; n--) {
		if (i == idx)
			return true;
		if (i >= s->s.carved)
			break;   /* a broken chain: never read past the slab */
		struct free_block *fb = (struct free_block *)
		    (slab_base(h, head) + (size_t)i * size);
		vg_open(fb, sizeof(*fb));
		i = fb->next ^ key16(h);
		vg_close(fb, sizeof(*fb));
	}
	return false;
}

static bool slab_remote_has(struct heap *h, struct page *s, uint32_t head,
                            uint16_t idx);

/* Is block idx free in its slab: on its chain, or on its remote list (given
 * back by another arena's thread, not drained yet)?  Bounded by the
 * chain's length and the list's count.  Needs lock. */
bool slab_chain_has(struct heap *h, struct page *s, uint32_t head,
                           uint16_t idx)
{
	return slab_links_have(h, s, head, s->s.free, (uint32_t)s->s.carved + 1,
	    idx) || slab_remote_has(h, s, head, idx);
}

int slab_carved_class(struct heap *h, uint64_t off, uint32_t *head)
{
	uint32_t hd = off < h->size ? slab_of(h, (uint32_t)(off >> LG_PAGE)) :
	    0;
	if (hd == 0)
		return -1;
	const struct page *s = &heap_pages(h)[hd];
	const struct sizeclass *sc = &sizeclasses[s->cls];
	/* below SLAB_MAXPAGES pages (slab_of): the magic is exact */
	uint32_t boff = (uint32_t)(off - ((uint64_t)hd << LG_PAGE));
	uint32_t idx = (uint32_t)(((uint64_t)boff * sc->div_magic) >> 32);
	if (idx * sc->size != boff || idx >= s->s.carved)
		return -1;
	if (head != NULL)
		*head = hd;
	return s->cls;
}

uint16_t slab_block_index(struct heap *h, struct page *s, uint32_t head,
                          const void *p)
{
	const struct sizeclass *sc = &sizeclasses[s->cls];
	uint32_t off = (uint32_t)((const char *)p - slab_base(h, head));
	uint32_t idx = (uint32_t)(((uint64_t)off * sc->div_magic) >> 32);
	if (unlikely(idx * sc->size != off || idx >= s->s.carved))
		report_fatal("invalid free of %p in heap %p (%s)", p, (void *)h,
		    idx * sc->size != off ? "not the start of a block" :
		    "never allocated");
	return (uint16_t)idx;
}

/* Is slab s at head, of bin b, empty and not the bin's only slab: one to
 * give back to the pages? */
static inline bool slab_spare_empty(const struct bin *b, const struct page *s,
                                    uint32_t head)
{
	return s->nfree == sizeclasses[s->cls].nblocks &&
	    (b->nonfull != head || s->next != 0);
}

/* Slab s at head has more free blocks (its nfree was `before`): onto its
 * bin's list if it had none, or back to the pages if it is empty and not
 * the bin's only slab.  Does not wake smalloc's waiters.  Needs lock. */
static void slab_relist(struct heap *h, struct page *s, uint32_t head,
                        uint32_t before)
{
	struct bin *b = &h->bins[s->cls];
	if (before == 0)
		bin_push(h, b, head);
	else if (slab_spare_empty(b, s, head)) {
		/* Empty and not the bin's only slab: give the pages back. */
		bin_remove(h, b, head);
		b->nslabs--;
		page_run_free(h, head);
	}
}

/* slab_relist, then smalloc's waiters may look again. */
static void slab_gained(struct heap *h, struct page *s, uint32_t head,
                        uint32_t before)
{
	slab_relist(h, s, head, before);
	heap_wake_waiters(h);
}

void slab_free(struct heap *h, struct page *s, uint32_t head, void *p)
{
	slab_free_index(h, s, head, p, slab_block_index(h, s, head, p));
}

static void slab_free_slow(struct heap *h, struct page *s, uint32_t head,
                           void *p, uint16_t idx);

static inline __attribute__((always_inline)) void slab_give(struct heap *h,
    struct page *s, uint32_t head, void *p, uint16_t idx, bool vg)
{
	struct free_block *fb = (struct free_block *)p;
	unsigned cls = s->cls;
	struct bin *b = &h->bins[cls];

	/* Not on the chain (the caller made sure), so handed out: a block is
	 * one or the other. */
	ph_assert(idx < s->s.carved && s->nfree < sizeclasses[cls].nblocks);
	fb->next = s->s.free ^ key16(h);
	fb->key = h->free_key;
	if (vg)
		vg_close(fb, sizeof(*fb));
	/* The link first, then the chain head: a crash in between leaks the
	 * block at worst, never breaks the chain. */
	atomic_thread_fence(memory_order_release);
	s->s.free = idx;
	if (config_stats) {
		b->ndalloc++;
		b->curblocks--;
		h->stats.allocated -= sizeclasses[cls].size;
	}
	/* Only a slab that was full (onto the list) or is now empty and not
	 * the bin's only slab (back to the pages) moves: slab_relist. */
	uint32_t before = s->nfree++;
	if (unlikely(before == 0 || slab_spare_empty(b, s, head))) {
		slab_gained(h, s, head, before);
		return;
	}
	heap_wake_waiters(h);
}

void slab_free_index(struct heap *h, struct page *s, uint32_t head, void *p,
                     uint16_t idx)
{
	/* The key says "maybe free"; the chain proves it (slab_free_slow).
	 * Paranoid mode walks the chain for every block, so that a free
	 * block whose key a write after free overwrote is still caught
	 * (tcache.c). */
	if (unlikely(vg_on() || opts.paranoid ||
	    ((struct free_block *)p)->key == h->free_key)) {
		slab_free_slow(h, s, head, p, idx);
		return;
	}
	slab_give(h, s, head, p, idx, false);
}

/* A block whose key says it may be free, paranoid mode, or valgrind. */
static __attribute__((noinline)) void slab_free_slow(struct heap *h,
    struct page *s, uint32_t head, void *p, uint16_t idx)
{
	vg_open(p, sizeof(struct free_block));
	if ((((struct free_block *)p)->key == h->free_key || opts.paranoid) &&
	    slab_chain_has(h, s, head, idx))
		report_fatal("double free of %p in heap %p", p, (void *)h);
	slab_give(h, s, head, p, idx, vg_on());
}

/* ---- a thread without a cache: the common case in one call (parts.h) ---- */

void *slab_alloc_quick(struct heap *h, unsigned cls)
{
	if (config_debug || opts.zero || (config_fill && opts.junk) ||
	    vg_on() || tsection_in() || !heap_lock_fast(h))
		return NULL;
	uint32_t head = h->bins[cls].nonfull;
	if (unlikely(head == 0 ||
	    atomic_load_explicit(&h->remote, memory_order_relaxed))) {
		heap_unlock(h);
		return NULL;
	}
	void *p = slab_take(h, cls, head, false);
	heap_unlock(h);
	return p;
}

size_t slab_free_quick(struct heap *h, void *p)
{
	if (config_debug || opts.paranoid || (config_fill && opts.junk) ||
	    vg_on() || tsection_in() || !heap_lock_fast(h))
		return 0;
	uint32_t head = 0;   /* (left as it is when p is no block) */
	uint16_t idx = 0;
	int cls = slab_block_of(h, p, &head, &idx);
	struct page *s = &heap_pages(h)[head];   /* before p is written */
	if (unlikely(cls < 0 || heap_tagging(h) ||
	    atomic_load_explicit(&h->remote, memory_order_relaxed) ||
	    ((struct free_block *)p)->key == h->free_key)) {
		heap_unlock(h);
		return 0;
	}
	size_t usable = sizeclasses[cls].size;
	slab_give(h, s, head, p, idx, false);
	heap_unlock(h);
	return usable;
}

/* ---- batches: a thread cache's refill and flush ---------------------------
 * The same as n calls of slab_alloc or slab_free, in one loop: the bin's
 * counters change once, a slab's chain head and counts once per slab taken
 * from, its list and smalloc's waiters only when they must, valgrind is
 * asked once whether it is there.  A block costs the writes slab_alloc and
 * slab_free make to it (key, link) and a few instructions more.  Blocks go
 * as offsets from h.  The crash rule holds as for one block: taking, the
 * blocks leave the chain with one store of its head (a crash before leaks
 * none, after leaks those not yet in the caller's cache); giving, each
 * block is linked before it heads the chain. */

/* What finding a block's slab reads of the heap and of its class, read
 * once: a batch's stores into blocks would otherwise make the compiler
 * read them again for each block. */
struct slab_view {
	const struct page *pm;
	const uint32_t *sm;     /* the slab map */
	uint32_t hwm, first;    /* pages: hwm (no more than npages),
	                           first_page */
	uint32_t entry;         /* a slab map entry of the class, delta 0 */
	uint32_t npages, nblocks, bsize, magic;   /* the class's */
	uint64_t head_word, head_mask;   /* its slabs' heads: kind, class and
	                                    span, whatever nfree */
};

static inline struct slab_view slab_view_of(struct heap *h, unsigned cls)
{
	const struct sizeclass *sc = &sizeclasses[cls];
	struct page want = { .kind = PAGE_SLAB, .cls = (uint8_t)cls,
	    .span = sc->npages };
	struct page mask = { .kind = UINT8_MAX, .cls = UINT8_MAX,
	    .span = UINT32_MAX };
	return (struct slab_view){ .pm = heap_pages(h), .sm = heap_slabmap(h),
	    .hwm = h->hwm < h->npages ? h->hwm : h->npages,
	    .first = h->first_page, .entry = slabmap_entry(cls, 0),
	    .npages = sc->npages, .nblocks = sc->nblocks, .bsize = sc->size,
	    .magic = sc->div_magic, .head_word = want.word,
	    .head_mask = mask.word };
}

/* Is there a carved block of v's class at offset off?  Its slab's head in
 * *head, its index in *idx.  The checked lookup (it answers as slab_of
 * does) by the slab map: every word read from the heap is proved before
 * it is followed. */
static inline bool slab_view_block(const struct slab_view *v, uint64_t off,
                                   uint32_t *head, uint32_t *idx)
{
	if (off >> LG_PAGE >= v->hwm)   /* so in the maps */
		return false;
	uint32_t page = (uint32_t)(off >> LG_PAGE), e = v->sm[page];
	uint32_t delta = slabmap_page_offset(e) >> LG_PAGE, hd = page - delta;
	if ((e & ~SLABMAP_DELTA_MASK) != v->entry || delta >= v->npages ||
	    hd < v->first)
		return false;
	const struct page *s = &v->pm[hd];
	uint32_t carved = s->s.carved;
	uint32_t boff = (uint32_t)(off & PAGE_MASK) | delta << LG_PAGE;
	uint32_t i = (uint32_t)(((uint64_t)boff * v->magic) >> 32);
	if ((s->word & v->head_mask) != v->head_word || i * v->bsize != boff ||
	    i >= carved || carved > v->nblocks)
		return false;
	*head = hd;
	*idx = i;
	return true;
}

uint32_t slab_carved_prefix(struct heap *h, unsigned cls, const uint64_t *off,
                            uint32_t n)
{
	const struct slab_view v = slab_view_of(h, cls);
	uint32_t head, idx;
	for (uint32_t i = 0; i < n; i++)
		if (!slab_view_block(&v, off[i], &head, &idx))
			return i;
	return n;
}

uint32_t slab_alloc_batch(struct heap *h, unsigned cls, uint64_t *out,
                          uint32_t n)
{
	struct bin *b = &h->bins[cls];
	const struct sizeclass *sc = &sizeclasses[cls];
	const uint32_t size = sc->size;
	const uint16_t k16 = key16(h);
	const bool vg = vg_on();
	uint32_t got = 0;
	while (got < n) {
		uint32_t head = b->nonfull;
		if (unlikely(head == 0)) {
			slab_remote_drain(h);
			if ((head = b->nonfull) == 0 &&
			    (head = slab_new(h, cls)) == 0)
				break;
		}
		struct page *s = &heap_pages(h)[head];
		uint64_t base = (uint64_t)head << LG_PAGE;
		uint32_t k = n - got < s->nfree ? n - got : s->nfree, i = 0;
		uint32_t carved = s->s.carved;
		uint16_t f = s->s.free;
		uint64_t *o = out + got;
		for (; i < k && f != SLAB_NONE; i++) {   /* the chain first */
			struct free_block *fb = (struct free_block *)
			    ((char *)h + base + (size_t)f * size);
			if (vg)
				vg_open(fb, sizeof(*fb));
			uint16_t next = fb->next ^ k16;
			if (unlikely(next != SLAB_NONE && next >= carved))
				report_fatal("corrupted free chain in slab %p of "
				    "heap %p (use after free?)",
				    (void *)slab_base(h, head), (void *)h);
			o[i] = base + (size_t)f * size;
			f = next;
		}
		s->s.free = f;   /* off the chain, then the keys: as slab_alloc */
		atomic_thread_fence(memory_order_release);
		for (uint32_t j = 0; j < i; j++) {
			struct free_block *fb = (struct free_block *)
			    ((char *)h + o[j]);
			fb->key = 0;
		}
		ph_assert(carved + (k - i) <= sc->nblocks);
		/* then blocks never handed out, never written: their keys
		 * were cleared with the slab (slab_clear_keys) or read zero */
		for (uint64_t at = base + (size_t)carved * size; i < k;
		    i++, at += size) {
			o[i] = at;
			carved++;
		}
		s->s.carved = (uint16_t)carved;
		s->nfree = (uint16_t)(s->nfree - k);
		if (s->nfree == 0)
			bin_remove(h, b, head);
		got += k;
	}
	if (config_stats) {
		b->nmalloc += got;
		b->curblocks += got;
		h->stats.allocated += (uint64_t)got * size;
	}
	return got;
}

void slab_free_batch(struct heap *h, unsigned cls, const uint64_t *off,
                     uint32_t n)
{
	const struct slab_view v = slab_view_of(h, cls);
	struct page *pm = heap_pages(h);
	const uint16_t k16 = key16(h);
	const uint64_t key = h->free_key;
	const bool vg = vg_on(), paranoid = opts.paranoid;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t head, idx;
		char *p = (char *)h + off[i];
		if (unlikely(!slab_view_block(&v, off[i], &head, &idx)))
			report_fatal("invalid free of %p in heap %p (no block of "
			    "class %u handed out)", (void *)p, (void *)h, cls);
		struct page *s = &pm[head];
		struct free_block *fb = (struct free_block *)p;
		if (vg)
			vg_open(fb, sizeof(*fb));
		/* as slab_free_index: the key says maybe, the chain proves */
		if (unlikely(fb->key == key || paranoid) &&
		    slab_chain_has(h, s, head, (uint16_t)idx))
			report_fatal("double free of %p in heap %p", (void *)p,
			    (void *)h);
		ph_assert(s->nfree < v.nblocks);
		fb->next = s->s.free ^ k16;
		fb->key = key;
		if (vg)
			vg_close(fb, sizeof(*fb));
		atomic_thread_fence(memory_order_release);   /* link, then head */
		s->s.free = (uint16_t)idx;
		uint32_t before = s->nfree++;
		if (before == 0 || s->nfree == v.nblocks)
			slab_relist(h, s, head, before);
	}
	if (config_stats) {
		struct bin *b = &h->bins[cls];
		b->ndalloc += n;
		b->curblocks -= n;
		h->stats.allocated -= (uint64_t)n * v.bsize;
	}
	heap_wake_waiters(h);
}

/* ---- remote lists: another arena's blocks, a slab at a time ---------------
 * A thread that gives back blocks of another arena (tcache.c's outbox)
 * links those of one slab into a chain in the slab's own format (next
 * index ^ key16, the free key in word 1) and adds the chain to the slab's
 * remote list with one compare-and-swap on its page entry's aux word
 * (head, tail, count).  Whoever makes a slab's list non-empty pushes the
 * slab on the arena's stack of such slabs (struct heap.remote_slabs,
 * linked through s.rnext).  The lock holder drains: it takes the stack
 * with one exchange and each slab's list with another, and splices the
 * list in front of the slab's chain: no block is touched, so the blocks'
 * lines stay with the thread that freed them until the next malloc.  A
 * slab is on the stack at most once: only the exchange that empties its
 * list lets a pusher push it again, and the drainer reads s.rnext first.
 * A block whose key says it may be free already goes on the block stack
 * instead, where slab_free looks for it on the chain.
 */
static inline uint64_t rl_word(uint32_t head, uint32_t tail, uint32_t n)
{
	return head | (uint64_t)tail << 16 | (uint64_t)n << 32;
}
static inline uint16_t rl_head(uint64_t w) { return (uint16_t)w; }
static inline uint16_t rl_tail(uint64_t w) { return (uint16_t)(w >> 16); }
static inline uint32_t rl_count(uint64_t w) { return (uint32_t)(w >> 32); }

/* Is block idx on slab s's remote list?  Under the lock nobody drains it,
 * and pushers only add in front, each chain linked before the
 * compare-and-swap that publishes it (acquire here): the count blocks
 * from the head read are the list's. */
static bool slab_remote_has(struct heap *h, struct page *s, uint32_t head,
                            uint16_t idx)
{
	uint64_t w = __atomic_load_n(&s->aux, __ATOMIC_ACQUIRE);
	uint32_t n = rl_count(w);
	return n != 0 && n <= sizeclasses[s->cls].nblocks &&
	    slab_links_have(h, s, head, rl_head(w), n, idx);
}

/* A chain being built for one slab. */
struct rl_group {
	uint32_t head;          /* the slab's head page, 0: slot unused */
	uint16_t first, last;   /* block indices: first -> ... -> last */
	uint32_t n;
};
#define RL_TABLE 64   /* a power of two; pushed when 3/4 full */

static struct rl_group *rl_find(struct rl_group *t, uint32_t head)
{
	for (uint32_t i = (head * 2654435761u) & (RL_TABLE - 1);;
	    i = (i + 1) & (RL_TABLE - 1))
		if (t[i].head == head || t[i].head == 0)
			return &t[i];
}

/* The chain of g onto its slab's remote list, and the slab onto the stack
 * if its list was empty. */
static void rl_push(struct heap *h, const struct rl_group *g)
{
	struct page *s = &heap_pages(h)[g->head];
	struct free_block *last = (struct free_block *)(slab_base(h,
	    g->head) + (size_t)g->last * sizeclasses[s->cls].size);
	uint64_t old = __atomic_load_n(&s->aux, __ATOMIC_RELAXED), w;
	do {
		last->next = (rl_count(old) ? rl_head(old) : SLAB_NONE) ^
		    key16(h);
		w = rl_word(g->first, rl_count(old) ? rl_tail(old) : g->last,
		    rl_count(old) + g->n);
	} while (!__atomic_compare_exchange_n(&s->aux, &old, w, true,
	    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (rl_count(old) != 0)
		return;   /* on the stack already */
	uint64_t top = atomic_load_explicit(&h->remote_slabs,
	    memory_order_relaxed);
	do
		s->s.rnext = (uint32_t)top;
	while (!atomic_compare_exchange_weak_explicit(&h->remote_slabs, &top,
	    g->head, memory_order_release, memory_order_relaxed));
}

/* Pushes every group of table t and empties it. */
static void rl_push_all(struct heap *h, struct rl_group *t)
{
	for (uint32_t i = 0; i < RL_TABLE; i++)
		if (t[i].head != 0) {
			rl_push(h, &t[i]);
			t[i].head = 0;
		}
}

uint64_t slab_remote_give(struct heap *h, const uint64_t *off, uint32_t n)
{
	if (n > REMOTE_GIVE_MAX)
		report_fatal("remote give of %u blocks to heap %p", n,
		    (void *)h);
	struct rl_group t[RL_TABLE];
	uint32_t used = 0;
	memset(t, 0, sizeof(t));
	struct page *pm = heap_pages(h);
	uint32_t *sm = heap_slabmap(h);
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < n; i++) {
		char *p = (char *)h + off[i];
		uint32_t e = off[i] < h->size ? sm[off[i] >> LG_PAGE] : 0;
		if ((e & SLABMAP_BIN_MASK) == 0)
			report_fatal("invalid free of %p in heap %p (not a small "
			    "block)", (void *)p, (void *)h);
		const struct sizeclass *sc =
		    &sizeclasses[(e & SLABMAP_BIN_MASK) - 1];
		uint32_t head = (uint32_t)(off[i] >> LG_PAGE) -
		    slabmap_page_offset(e) / PAGE;
		uint32_t boff = (uint32_t)(off[i] - ((uint64_t)head << LG_PAGE));
		uint32_t idx = (uint32_t)(((uint64_t)boff * sc->div_magic) >> 32);
		/* carved only grows, and this block was carved before it was
		 * handed out to the program that freed it. */
		if (idx * sc->size != boff || idx >= __atomic_load_n(
		    &pm[head].s.carved, __ATOMIC_RELAXED))
			report_fatal("invalid free of %p in heap %p (%s)", p,
			    (void *)h, idx * sc->size != boff ? "not the start "
			    "of a block" : "never allocated");
		bytes += sc->size;
		struct free_block *fb = (struct free_block *)p;
		/* freed, as heap_free would; our words readable until the end */
		vg_free(h, p);
		vg_open(fb, sizeof(*fb));
		if (fb->key == h->free_key) {
			/* free already?  slab_free will know */
			remote_push(h, off[i], p, 0);
			continue;
		}
		fb->key = h->free_key;
		struct rl_group *g = rl_find(t, head);
		if (g->head == 0) {
			if (used == RL_TABLE / 4 * 3) {   /* full enough: push */
				rl_push_all(h, t);
				used = 0;
				g = rl_find(t, head);
			}
			*g = (struct rl_group){ .head = head, .first = (uint16_t)idx,
			    .last = (uint16_t)idx, .n = 1 };
			used++;
			continue;
		}
		fb->next = g->first ^ key16(h);
		g->first = (uint16_t)idx;
		g->n++;
	}
	rl_push_all(h, t);
	for (uint32_t i = 0; i < n; i++)
		vg_close((char *)h + off[i], sizeof(struct free_block));
	return atomic_fetch_add_explicit(&h->remote_bytes, bytes,
	    memory_order_relaxed) + bytes;
}

void slab_remote_drain(struct heap *h)
{
	uint64_t head = heap_remote_take(h, &h->remote_slabs);
	struct page *pm = heap_pages(h);
	for (uint64_t guard = h->npages; head != 0; guard--) {
		struct page *s = &pm[head];
		if (head >= h->npages || head < h->first_page || guard == 0 ||
		    s->kind != PAGE_SLAB)
			report_fatal("remote slab stack of heap %p broken at page "
			    "%llu", (void *)h, (unsigned long long)head);
		uint64_t next = s->s.rnext;
		/* acq_rel: next is read before a pusher may push s again */
		uint64_t w = __atomic_exchange_n(&s->aux, 0, __ATOMIC_ACQ_REL);
		const struct sizeclass *sc = &sizeclasses[s->cls];
		uint32_t n = rl_count(w);
		if (n == 0 || n > sc->nblocks - s->nfree ||
		    rl_head(w) >= s->s.carved || rl_tail(w) >= s->s.carved)
			report_fatal("remote list of slab %llu in heap %p broken "
			    "(%u blocks)", (unsigned long long)head, (void *)h, n);
		struct free_block *tail = (struct free_block *)(slab_base(h,
		    (uint32_t)head) + (size_t)rl_tail(w) * sc->size);
		vg_open(tail, sizeof(*tail));
		tail->next = s->s.free ^ key16(h);
		vg_close(tail, sizeof(*tail));
		atomic_thread_fence(memory_order_release);   /* as slab_free */
		s->s.free = rl_head(w);
		if (config_stats) {
			struct bin *b = &h->bins[s->cls];
			b->ndalloc += n;
			b->curblocks -= n;
			h->stats.allocated -= (size_t)n * sc->size;
		}
		uint32_t before = s->nfree;
		s->nfree = (uint16_t)(before + n);
		slab_gained(h, s, (uint32_t)head, before);
		head = next;
	}
}

int slab_validate(struct heap *h, uint32_t head, char *why, size_t whylen)
{
	struct page *s = &heap_pages(h)[head];
	const struct sizeclass *sc = &sizeclasses[s->cls];
	int chain = slab_chain_validate(h, head, why, whylen);
	if (chain < 0)
		return 1;
	if (s->nfree != chain + sc->nblocks - s->s.carved) {
		return report_why(why, whylen, "slab %u: nfree %u, chain %d, "
		    "uncarved %u", head, s->nfree, chain,
		    sc->nblocks - s->s.carved);
	}
	return 0;
}

int slab_chain_validate(struct heap *h, uint32_t head, char *why,
                        size_t whylen)
{
	struct page *s = &heap_pages(h)[head];
	const struct sizeclass *sc = &sizeclasses[s->cls];
	uint32_t chain = 0;
	char msg[160];

	if (s->s.carved > sc->nblocks) {
		snprintf(msg, sizeof(msg), "slab %u: carved %u of %u blocks",
		    head, s->s.carved, sc->nblocks);
		goto fail;
	}
	for (uint16_t i = s->s.free; i != SLAB_NONE; chain++) {
		if (i >= s->s.carved || chain > s->s.carved) {
			snprintf(msg, sizeof(msg), "slab %u: chain index %u "
			    "beyond carved %u or looping", head, i,
			    s->s.carved);
			goto fail;
		}
		struct free_block *fb = (struct free_block *)
		    (slab_base(h, head) + (size_t)i * sc->size);
		vg_open(fb, sizeof(*fb));
		uint64_t key = fb->key;
		uint16_t next = fb->next ^ key16(h);
		vg_close(fb, sizeof(*fb));
		if (key != h->free_key) {
			snprintf(msg, sizeof(msg), "slab %u: free block %u "
			    "lost its key (written after free)", head, i);
			goto fail;
		}
		i = next;
	}
	return (int)chain;
fail:
	report_why(why, whylen, "%s", msg);
	return -1;
}

/* Each bin lists exactly the slabs of its class with free blocks, and its
 * counters agree with the slabs (nslabs) found by the page walk. */
int bin_validate(struct heap *h, char *why, size_t whylen)
{
	struct page *pm = heap_pages(h);
	uint32_t nslabs[NBINS] = { 0 }, nonfull[NBINS] = { 0 };

	/* Each span read once and checked: a reading without the lock
	 * (image.c) may meet a walk that changes under it. */
	for (uint32_t i = h->first_page, n; i < h->npages; i += n) {
		n = __atomic_load_n(&pm[i].span, __ATOMIC_RELAXED);
		if (n == 0 || n > h->npages - i) {
			return report_why(why, whylen, "page %u: run length %u "
			    "out of range", i, n);
		}
		if (pm[i].kind == PAGE_SLAB && pm[i].cls < NBINS) {
			nslabs[pm[i].cls]++;
			nonfull[pm[i].cls] += pm[i].nfree > 0;
		}
	}
	for (unsigned c = 0; c < NBINS; c++) {
		const struct bin *b = &h->bins[c];
		uint32_t n = 0, prev = 0;
		for (uint32_t i = b->nonfull; i; prev = i, i = pm[i].next) {
			if (i < h->first_page || i >= h->npages ||
			    pm[i].kind != PAGE_SLAB || pm[i].cls != c ||
			    pm[i].nfree == 0 || pm[i].prev != prev ||
			    ++n > nonfull[c]) {
				return report_why(why, whylen, "bin %u: bad "
				    "entry %u on its list of non-full slabs",
				    c, i);
			}
		}
		if (n != nonfull[c] || b->nslabs != nslabs[c]) {
			return report_why(why, whylen, "bin %u: lists %u of %u "
			    "non-full slabs; counts %u slabs, page map has %u",
			    c, n, nonfull[c], b->nslabs, nslabs[c]);
		}
	}
	return 0;
}

/* Rebuilds slab `head`'s count and puts it on its bin, after a crash inside
 * the lock.  The chain is cut where it stops making sense (the blocks past
 * the cut are lost until a reset; with the publish order they cannot be
 * more than the one a dying free was pushing).  Needs lock. */
void slab_repair(struct heap *h, uint32_t head)
{
	struct page *s = &heap_pages(h)[head];
	const struct sizeclass *sc = &sizeclasses[s->cls];
	struct free_block *prev = NULL;
	uint32_t chain = 0;

	if (s->s.carved > sc->nblocks)
		s->s.carved = (uint16_t)sc->nblocks;
	for (uint16_t i = s->s.free; i != SLAB_NONE; chain++) {
		if (i >= s->s.carved || chain >= s->s.carved) {
			if (prev)
				prev->next = SLAB_NONE ^ key16(h);
			else
				s->s.free = SLAB_NONE;
			break;
		}
		prev = (struct free_block *)(slab_base(h, head) +
		    (size_t)i * sc->size);
		vg_open(prev, sizeof(*prev));
		i = prev->next ^ key16(h);
	}
	s->nfree = (uint16_t)(chain + sc->nblocks - s->s.carved);
	ph_assert(s->nfree <= sc->nblocks && s->s.carved <= sc->nblocks);
	struct bin *b = &h->bins[s->cls];
	b->nslabs++;
	if (s->nfree > 0)
		bin_push(h, b, head);
	uint32_t used = sc->nblocks - s->nfree;
	if (config_stats) {
		b->curblocks += used;
		h->stats.allocated += (uint64_t)used * sc->size;
	}
}

/* Withdraws every live block from valgrind's view (before a reset or an
 * unmapping), so that blocks later handed out at the same addresses do not
 * overlap stale ones.  Walks the heap: only call it under valgrind. */
void slab_vg_forget(struct heap *h)
{
	struct page *pm = heap_pages(h);
	for (uint32_t i = h->first_page; i < h->npages; i += pm[i].span) {
		if (pm[i].span == 0)
			break;
		char *base = page_addr(h, i);
		if (pm[i].kind == PAGE_LARGE) {
			vg_free(h, base + large_lead(&pm[i]));
		} else if (pm[i].kind == PAGE_SLAB) {
			const struct sizeclass *sc = &sizeclasses[pm[i].cls];
			uint64_t onchain[4] = { 0 };   /* nblocks <= 256 */
			for (uint16_t k = pm[i].s.free; k != SLAB_NONE &&
			    k < pm[i].s.carved;) {
				onchain[k / 64] |= UINT64_C(1) << (k % 64);
				uint16_t *link = (uint16_t *)(base +
				    (size_t)k * sc->size);
				vg_open(link, 2);
				k = *link ^ (uint16_t)h->free_key;
			}
			for (uint32_t k = 0; k < pm[i].s.carved && k < 256; k++)
				if (!(onchain[k / 64] >> (k % 64) & 1))
					vg_free(h, base + (size_t)k * sc->size);
		}
	}
}
