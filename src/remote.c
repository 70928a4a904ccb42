/*
 * remote.c -- the block stack: blocks given back without the heap's lock.
 *
 * A thread cache may hold blocks of another arena (tcache.c).  It gives
 * them back without that arena's lock, on their slabs' remote lists
 * (slab.c); a block whose key says it may be free already is pushed here
 * instead, on the arena's block stack (struct heap.remote), and whoever
 * next holds the arena's lock and drains puts it back through slab_free,
 * which tells a double free.  A signal handler that interrupted its
 * thread inside a locked section pushes the blocks it frees here too,
 * large ones included, in any heap (refuge.c).  Pushers only push and the
 * drainer takes the whole stack with one exchange, so the stack has no ABA
 * problem.
 */
#include "parts.h"
#include "valgrind.h"

/* Puts back every block of the block stack, and of the slabs' remote lists
 * first (slab.c).  Needs lock. */
void remote_drain(struct heap *h)
{
	slab_remote_drain(h);
	uint64_t off = heap_remote_take(h, &h->remote);
	struct page *pm = heap_pages(h);
	/* No more blocks than QUANTUM-sized ones fit: a longer stack loops. */
	for (uint64_t guard = h->size / QUANTUM; off != 0; guard--) {
		uint32_t idx = (uint32_t)(off >> LG_PAGE);
		if (off >= h->size || off % QUANTUM != 0 || guard == 0 ||
		    (idx < h->first_page && !refuge_has(h, (char *)h + off)))
			report_fatal("remote free stack of heap %p broken at "
			    "offset %llu", (void *)h, (unsigned long long)off);
		void *p = (char *)h + off;
		off = *(uint64_t *)p;
		if (unlikely(heap_tagging(h)))
			tag_drop_locked(h, p);
		if (refuge_has(h, p)) {   /* a tagged one (alloc.c:refuge_free) */
			refuge_give(h, p, -1);
			continue;
		}
		vg_free(h, p);   /* refuge.c's frees stay open until here */
		uint32_t head = slab_of(h, idx);
		if (head != 0) {
			slab_free(h, &pm[head], head, p);
			continue;
		}
		/* a large block a signal handler gave back (refuge.c) */
		if (pm[idx].kind != PAGE_LARGE ||
		    ((uintptr_t)p & PAGE_MASK) != large_lead(&pm[idx]))
			report_fatal("invalid free of %p in heap %p (not an "
			    "allocated block; double free?)", p, (void *)h);
		page_large_free(h, idx);
	}
}
