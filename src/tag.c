/*
 * tag.c -- a heap's tag table: the malloc and realloc tags of its blocks.
 *
 * A table of (offset, malloc tag, realloc tag) in a large run of the heap
 * (h->tags), open addressing with tombstones, so that every change is one
 * store of a key and a process killed at any point leaves a table that
 * reads right.  It is made at the first tag (qmalloc.c); the engine only
 * drops a freed block's entry and moves a reallocated one's.
 */
#include <stdio.h>
#include <string.h>

#include "parts.h"

#define TAG_MAGIC        UINT64_C(0x656c626174676174)   /* "tagtable" */
#define TAG_EMPTY        UINT64_C(0)          /* a key never used */
#define TAG_TOMB         UINT64_MAX           /* a dropped entry's key */
#define TAG_MIN_CAP      128
#define TAG_HASH_MUL     UINT64_C(0x9E3779B97F4A7C15)


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
struct tag_entry *tag_entry_get(struct heap *h, uint64_t off,
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

void tag_move_locked(struct heap *h, const void *p, const void *q)
{
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
		return report_why(why, whylen, "tag table offset %llu names no "
		    "table", (unsigned long long)h->tags);
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
			return report_why(why, whylen, "tag table entry %llu: "
			    "offset %llu is no live block, or listed twice",
			    (unsigned long long)i, (unsigned long long)off);
		}
	}
	if (live != t->live || used != t->used) {
		return report_why(why, whylen, "tag table counts %llu live, "
		    "%llu used; holds %llu, %llu", (unsigned long long)t->live,
		    (unsigned long long)t->used, (unsigned long long)live,
		    (unsigned long long)used);
	}
	return 0;
}

void tag_entry_drop(struct heap *h, struct tag_entry *e)
{
	tag_remove(tag_table_of(h), e);
}

uint64_t tag_live(struct heap *h)
{
	struct tag_table *t = tag_table_of(h);
	return t ? t->live : 0;
}

uint64_t tag_cap(struct heap *h)
{
	struct tag_table *t = tag_table_of(h);
	return t ? t->cap : 0;
}

size_t tag_table_size(struct heap *h)
{
	return tag_table_bytes(h, tag_table_of(h));
}

size_t tag_block_at(struct heap *h, uint64_t i, uint64_t *mtag)
{
	struct tag_table *t = tag_table_of(h);
	if (t == NULL || i >= t->cap)
		return 0;
	uint64_t off = t->e[i].off;
	if (off == TAG_EMPTY || off == TAG_TOMB)
		return 0;
	*mtag = t->e[i].mtag;
	return block_bytes_at(h, off);
}
