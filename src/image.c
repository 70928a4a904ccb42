/*
 * image.c -- a heap found in a file, a segment or a range is input.
 *
 * Joining a heap (heapapi.c:heap_join: ph_heap_open, ph_heap_attach,
 * mmalloc_attach, config_private_heap) follows offsets that other processes
 * wrote: recovery walks the thread caches of dead processes and gives their
 * blocks back through slab_free, bin_push and page_run_free, and the first
 * mallocs follow the free-run lists, the bins and the free chains.  So
 * before anything in the heap is written -- the robust lock, the table of
 * processes -- heap_image_validate proves, reading only, that every offset
 * those paths follow stays inside the heap and inside its backed pages.  A
 * heap that fails is refused with EUCLEAN and left untouched.
 *
 * Bounded time: the checks walk the metadata once (the runs, the page map
 * below hwm, the lists, the slab chains, the caches), and every walk of a
 * chain stops after as many steps as the thing it lists can have (pages,
 * slabs, carved blocks).  No recursion, no allocation.
 *
 * Live heaps: processes using the heap change it while we read, without
 * our taking the lock.  Every holder of the lock makes struct heap.lock_seq
 * odd and bumps it (parts.h:heap_seq_enter), so a reading that found
 * the same even value before and after saw a heap nobody changed: its
 * verdict stands.  A reading that passed stands too (a torn read does not
 * make damage look sound).  A failed reading during which lock_seq moved
 * is taken again, up to IMAGE_TRIES times; a heap that keeps changing
 * under every reading is one live processes are using, so the last try
 * takes the lock and checks under it.  Fields changed without the lock
 * (a live thread's cache top, the remote stacks of process arenas) are
 * checked only where they cannot change: a dead process's cache, and, for
 * a joined heap, the remote slab stack, which must be empty (only process
 * arenas, which nobody joins, have one).
 *
 * A process killed inside the lock leaves lock_seq odd and the robust
 * mutex marked "owner died": the next locker repairs the heap
 * (heap.c:heap_repair) before anything else, and repair rebuilds tails,
 * lists and counts from the walk of head spans.  Such a heap is checked
 * for what repair and recovery rely on (IMAGE_REPAIRABLE): the walk, what
 * lies beyond it, the caches, the roots, the lock.
 *
 * The lock: a robust mutex held by a thread that is not one of a live
 * process in the heap's table of attached processes (a copied file, a
 * damaged word, this very process) would be waited for forever; if it
 * stays so for IMAGE_LOCK_TRIES readings the heap is refused.  (lock.c
 * decides what a process that joined may do about such a lock later.)
 */
#define _GNU_SOURCE   /* process_vm_readv */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine.h"
#include "valgrind.h"

#define IMAGE_TRIES      200   /* readings of a heap that keeps changing */
#define IMAGE_RETRY_US   1000  /* between two of them */
#define IMAGE_LOCK_TRIES 50    /* readings of a lock no attached process holds */
#define IMAGE_PID_MAX    4194304u   /* Linux's PID_MAX_LIMIT */

/* Robust mutexes: the futex word of glibc's pthread_mutex_t. */
#define IMAGE_FUTEX_TID_MASK   0x3fffffffu
#define IMAGE_FUTEX_OWNER_DIED 0x40000000u
#define IMAGE_MUTEX_NOTRECOVERABLE (0x7fffffff - 1)   /* its __owner */

/* ---- the header beyond its format fields -------------------------------- */

static int image_bounds(struct heap *h, char *why, size_t whylen)
{
	if (h->hwm > h->limit || h->hwm < h->first_page ||
	    h->limit > h->npages)
		return report_why(why, whylen, "hwm %u, limit %u outside [%u, "
		    "%u]", h->hwm, h->limit, h->first_page, h->npages);
	if ((h->flags & ~HEAP_F_ALL) != 0)
		return report_why(why, whylen, "unknown flags %#x", h->flags);
	if (!(h->flags & HEAP_F_GROW) && h->limit != h->npages)
		return report_why(why, whylen, "limit %u below %u pages in a "
		    "heap that does not grow", h->limit, h->npages);
	/* A root names a block: handed out, so below hwm. */
	for (unsigned k = 0; k < NROOTS; k++)
		if (h->roots[k] >= (uint64_t)h->hwm << LG_PAGE)
			return report_why(why, whylen, "root %u: offset %llu "
			    "beyond the pages in use", k,
			    (unsigned long long)h->roots[k]);
	for (unsigned i = 0; i < HEAP_NPROCS; i++)
		if (h->procs[i].pid > IMAGE_PID_MAX)
			return report_why(why, whylen, "process table entry "
			    "%u: pid %u", i, h->procs[i].pid);
	return 0;
}

/* The lock as a joiner will take it: a private heap's futex lock free, a
 * shared heap's robust mutex made as lock.c makes it, held by nobody, by a
 * thread that exists, or marked "owner died" (the next locker repairs).
 * Sets *dead for the last, *held when anyone holds it. */
static int image_lock(struct heap *h, struct lock *l, bool *dead, bool *held,
                      char *why, size_t whylen)
{
	*dead = false;
	*held = false;
	bool shared = (h->flags & HEAP_F_SHARED) != 0;
	if (l->robust != (uint32_t)shared)
		return report_why(why, whylen, "lock kind %u in a %s heap",
		    l->robust, shared ? "shared" : "private");
	if (!shared) {
		/* Nobody else maps a private heap, and this process has not
		 * joined it: a held futex lock would be waited for forever. */
		uint32_t w = atomic_load_explicit(&l->word,
		    memory_order_acquire);
		if (w != 0)
			return report_why(why, whylen, "lock of a private heap "
			    "held by thread %u", w & ~LOCK_WAITERS);
		return 0;
	}
#ifdef __GLIBC__
	pthread_mutex_t ref;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&ref, &a);
	pthread_mutexattr_destroy(&a);
	int kind = __atomic_load_n(&l->mtx.__data.__kind, __ATOMIC_RELAXED);
	if (kind != ref.__data.__kind)
		return report_why(why, whylen, "robust mutex of kind %d, not %d"
		    , kind, ref.__data.__kind);
	uint32_t w = (uint32_t)__atomic_load_n(&l->mtx.__data.__lock,
	    __ATOMIC_ACQUIRE);
	uint32_t tid = w & IMAGE_FUTEX_TID_MASK;
	*held = w != 0;
	/* glibc refuses a mutex marked not recoverable (ENOTRECOVERABLE). */
	if (__atomic_load_n(&l->mtx.__data.__owner, __ATOMIC_RELAXED) ==
	    IMAGE_MUTEX_NOTRECOVERABLE)
		return report_why(why, whylen, "robust mutex marked not "
		    "recoverable");
	if (w & IMAGE_FUTEX_OWNER_DIED) {
		*dead = true;
	} else if (tid == 0 && w != 0) {
		/* Waiters and no owner, which no locker leaves: the joiner's
		 * heap_lock marks it "owner died" (lock.c) and repairs. */
		*dead = true;
	} else if (tid != 0) {
		/* The kernel marks the word of a thread that dies holding
		 * it; a TID that names no thread of a live process attached
		 * to the heap comes from a copied image, a reboot or damage,
		 * and nobody will release it: the joiner's heap_lock takes
		 * it over as the kernel would have and repairs
		 * (proc.c:heap_lock_gone).  One of this process, which has
		 * not joined yet, is damage. */
		if (os_thread_process(tid) == (uint32_t)getpid())
			return report_why(why, whylen, "lock held by thread %u "
			    "of this process, which has not joined the heap",
			    tid);
		*dead = heap_lock_gone(h, tid);
	}
#endif
	return 0;
}

/* ---- the runs ------------------------------------------------------------ */

/* What the walk of head spans found, for the checks that follow it. */
struct image_walk {
	uint64_t carved;   /* blocks ever carved, in all slabs */
	uint64_t slabs;
	bool     tags_ok;  /* h->tags is 0 or the head of a large run */
	uint64_t used[NBINS];   /* blocks out of the slabs of each class */
};

/* The walk that repair trusts (page.c:page_repair): every head's span in
 * range and of a known kind, every slab of its class's length, every used
 * run inside the backed pages.  Strict images also have every used run
 * below hwm (page_validate checks the rest). */
static int image_walk(struct heap *h, unsigned mode, struct image_walk *w,
                      char *why, size_t whylen)
{
	struct page *pm = heap_pages(h);
	uint32_t tags_idx = h->tags % PAGE == 0 && h->tags < h->size ?
	    (uint32_t)(h->tags >> LG_PAGE) : 0;
	uint32_t top = (mode & IMAGE_REPAIRABLE) ? h->limit : h->hwm;
	memset(w, 0, sizeof(*w));
	w->tags_ok = h->tags == 0;
	for (uint32_t i = h->first_page; i < h->npages;) {
		struct page *e = &pm[i];
		size_t n = e->span;
		if (n == 0 || n > h->npages - i)
			return report_why(why, whylen, "page %u: run length "
			    "%zu out of range", i, n);
		if (e->kind != PAGE_FREE && e->kind != PAGE_LARGE &&
		    e->kind != PAGE_SLAB)
			return report_why(why, whylen, "page %u: kind %u where "
			    "a run should start", i, e->kind);
		if (e->kind != PAGE_FREE && i + n > top)
			return report_why(why, whylen, "page %u: used run of "
			    "%zu pages beyond page %u", i, n, top);
		if (e->kind == PAGE_SLAB) {
			if (e->cls >= NBINS || n != sizeclasses[e->cls].npages)
				return report_why(why, whylen, "page %u: slab "
				    "of class %u has %zu pages", i, e->cls, n);
			if (e->s.carved > sizeclasses[e->cls].nblocks)
				return report_why(why, whylen, "slab %u: "
				    "carved %u of %u blocks", i, e->s.carved,
				    sizeclasses[e->cls].nblocks);
			if ((mode & IMAGE_JOIN) && e->aux != 0)
				return report_why(why, whylen, "slab %u: "
				    "remote list %#llx in a heap that is no "
				    "process arena", i,
				    (unsigned long long)e->aux);
			/* repair keeps the chains: no death breaks one
			 * (slab.c:slab_free), damage may */
			if ((mode & IMAGE_REPAIRABLE) &&
			    slab_chain_validate(h, i, why, whylen) < 0)
				return 1;
			w->carved += e->s.carved;
			w->slabs++;
			if (e->nfree <= sizeclasses[e->cls].nblocks)
				w->used[e->cls] += sizeclasses[e->cls].nblocks -
				    e->nfree;
		}
		if (i == tags_idx && e->kind == PAGE_LARGE && e->nfree == 0)
			w->tags_ok = true;
		i += (uint32_t)n;
	}
	if (!w->tags_ok)
		return report_why(why, whylen, "tag table offset %llu is not a "
		    "large block", (unsigned long long)h->tags);
	return 0;
}

/* ---- thread caches ---------------------------------------------------------
 * The list itself: every entry a large run below hwm big enough for a
 * cache (cache.c:cache_checked), every bin in one of the two rooms the
 * heap's layout gives it, its limit within that room
 * (cache.c:cache_bin_laid_out), or a move between them that a kill cut
 * (cache.c:cache_bin_cut: lo and top right, hi the other room's base end,
 * which reclaim lays out again).  A dead process's cache will be given
 * back block by block: each of its bins' tops within the bin (a cut one's
 * within its base limit: a move carries no more), each cached offset a
 * carved block of a slab of the bin's class.  Its outbox is dropped,
 * never read. */
static int image_cache_slots(struct heap *h, struct tcache *tc, uint64_t off,
                             char *why, size_t whylen)
{
	for (unsigned c = 0; c < NBINS; c++) {
		struct tcache_bin *b = tcache_bin(tc, c);
		uint32_t end = cache_bin_laid_out(h, tc, c) ? b->hi :
		    b->lo + sizeclasses[c].tcache_base;
		if (b->top < b->lo || b->top > end)
			return report_why(why, whylen, "dead thread cache "
			    "%llu: class %u top %u outside %u..%u",
			    (unsigned long long)off, c, b->top, b->lo, end);
		for (uint32_t i = b->lo; i < b->top; i++) {
			uint64_t bo = tc->slots[i];
			if (slab_carved_class(h, bo, NULL) != (int)c)
				return report_why(why, whylen, "dead thread "
				    "cache %llu: class %u slot %u holds offset "
				    "%llu, no block of its class",
				    (unsigned long long)off, c, i,
				    (unsigned long long)bo);
		}
	}
	return 0;
}

static int image_caches(struct heap *h, unsigned mode, char *why,
                        size_t whylen)
{
	uint64_t guard = h->npages;
	for (uint64_t off = h->tcaches; off != 0; guard--) {
		struct tcache *tc = cache_checked(h, off);
		if (tc == NULL || guard == 0)
			return report_why(why, whylen, "thread cache list: bad "
			    "entry at offset %llu", (unsigned long long)off);
		if (tc->bins[0].div_magic != 0 || tc->bins[0].size != 0 ||
		    tc->bins[0].top != tc->bins[0].hi)
			return report_why(why, whylen, "thread cache %llu: the "
			    "bin of no class would take blocks",
			    (unsigned long long)off);
		const struct tcache_layout *l = cache_layout(h);
		for (unsigned c = 0; c < NBINS; c++) {
			struct tcache_bin *b = tcache_bin(tc, c);
			if (!cache_bin_laid_out(h, tc, c) &&
			    !cache_bin_cut(h, tc, c))
				return report_why(why, whylen, "thread cache "
				    "%llu: class %u has slots %u..%u, not from "
				    "%u (%u long) or from %u (%u to %u long), "
				    "or no guard", (unsigned long long)off, c,
				    b->lo, b->hi, l->lo[c],
				    sizeclasses[c].tcache_base, l->wide_lo[c],
				    sizeclasses[c].tcache_base, l->cap[c]);
		}
		struct tcache_bin *ob = &tc->outbox;
		if (ob->lo != l->outbox_lo || ob->hi != ob->lo +
		    TCACHE_OUTBOX || tc->slots[ob->lo - 1] != TCACHE_GUARD)
			return report_why(why, whylen, "thread cache %llu: "
			    "outbox has slots %u..%u", (unsigned long long)off,
			    ob->lo, ob->hi);
		if (tc->pid == 0 || tc->pid > IMAGE_PID_MAX)
			return report_why(why, whylen, "thread cache %llu: "
			    "owner pid %u", (unsigned long long)off, tc->pid);
		if (!(mode & IMAGE_REPAIRABLE) &&
		    !os_proc_alive(tc->pid, tc->start) &&
		    image_cache_slots(h, tc, off, why, whylen))
			return 1;
		off = tc->next;
	}
	return 0;
}

/* ---- the remote stacks ---------------------------------------------------
 * Blocks and slabs given back without the lock (slab.c).  Only process
 * arenas, which nobody joins, have remote slabs; any heap may have blocks
 * on its block stack (a signal handler's frees, refuge.c).  They are
 * checked as slab.c's drain will follow them: the block stack to carved
 * blocks and large blocks, the slab stack to slabs whose remote lists hold
 * as many blocks as they say, from head to tail. */
static int image_remote(struct heap *h, unsigned mode,
                        const struct image_walk *w, char *why, size_t whylen)
{
	uint64_t off = atomic_load_explicit(&h->remote, memory_order_acquire);
	uint64_t top = atomic_load_explicit(&h->remote_slabs,
	    memory_order_acquire);
	if ((mode & IMAGE_JOIN) && top != 0)
		return report_why(why, whylen, "remote slab stack %#llx in a "
		    "heap that is no process arena", (unsigned long long)top);
	struct page *pm = heap_pages(h);
	/* A stack longer than the blocks there are holds one twice: a loop. */
	for (uint64_t guard = w->carved + h->npages; off != 0; guard--) {
		/* a carved small block, a large block or a refuge block */
		uint32_t idx = off < h->size && off % QUANTUM == 0 ?
		    (uint32_t)(off >> LG_PAGE) : 0;
		bool small = idx != 0 && slab_carved_class(h, off, NULL) >= 0;
		bool large = !small && idx >= h->first_page &&
		    pm[idx].kind == PAGE_LARGE &&
		    (off & PAGE_MASK) == large_lead(&pm[idx]);
		bool refuge = idx != 0 && refuge_bytes_at(h, (char *)h + off);
		if (guard == 0 || !(small || large || refuge))
			return report_why(why, whylen, "remote block stack "
			    "broken at offset %llu", (unsigned long long)off);
		off = __atomic_load_n((uint64_t *)((char *)h + off),
		    __ATOMIC_ACQUIRE);
	}
	for (uint64_t guard = w->slabs; top != 0; guard--) {
		uint32_t head = top < h->npages ? (uint32_t)top : 0;
		if (guard == 0 || head == 0 || slab_of(h, head) != head)
			return report_why(why, whylen, "remote slab stack "
			    "broken at page %llu", (unsigned long long)top);
		struct page *s = &pm[head];
		const struct sizeclass *sc = &sizeclasses[s->cls];
		uint64_t rl = __atomic_load_n(&s->aux, __ATOMIC_ACQUIRE);
		uint32_t n = (uint32_t)(rl >> 32);
		uint16_t first = (uint16_t)rl, last = (uint16_t)(rl >> 16);
		if (n == 0 || n > sc->nblocks - s->nfree ||
		    first >= s->s.carved || last >= s->s.carved)
			return report_why(why, whylen, "slab %u: remote list "
			    "of %u blocks broken", head, n);
		uint16_t i = first;
		for (uint32_t k = 1; k < n; k++) {
			const uint16_t *link = (const uint16_t *)((char *)h +
			    ((uint64_t)head << LG_PAGE) + (size_t)i * sc->size);
			/* a block given back: memcheck keeps it closed */
			vg_open(link, sizeof(*link));
			i = __atomic_load_n(link, __ATOMIC_RELAXED) ^
			    (uint16_t)h->free_key;
			vg_close(link, sizeof(*link));
			if (i >= s->s.carved)
				return report_why(why, whylen, "slab %u: "
				    "remote list leaves the slab", head);
		}
		if (i != last)
			return report_why(why, whylen, "slab %u: remote list "
			    "does not end at its tail", head);
		top = s->s.rnext;
	}
	return 0;
}

/* ---- the refuge ------------------------------------------------------------
 * Its map is checked entry by entry with the rest (refuge.c:
 * refuge_image_check: each entry written whole is one the code may meet);
 * then its lock as the heap's, and the map in full under that lock, which
 * repairs what a holder killed inside left (refuge.c, crash rule). */
static int image_refuge(struct heap *h, char *why, size_t whylen)
{
	bool dead, held;
	if (image_lock(h, &h->refuge_lock, &dead, &held, why, whylen) ||
	    refuge_validate(h, why, whylen))
		return EUCLEAN;
	return 0;
}

/* ---- all of it ----------------------------------------------------------- */

int heap_image_check(struct heap *h, unsigned mode, char *why, size_t whylen)
{
	struct image_walk w;
	if (image_bounds(h, why, whylen) || image_walk(h, mode, &w, why,
	    whylen))
		return 1;
	if (!(mode & IMAGE_REPAIRABLE) && (page_validate(h, slab_validate, why,
	    whylen) ||
	    bin_validate(h, why, whylen)))
		return 1;
	if (image_caches(h, mode, why, whylen) ||
	    image_remote(h, mode, &w, why, whylen) ||
	    refuge_image_check(h, why, whylen))
		return 1;
	if (mode & IMAGE_REPAIRABLE)
		return 0;
	if (cache_validate(h, why, whylen) || tag_validate(h, why, whylen) ||
	    depot_validate(h, why, whylen))
		return 1;
	/* Blocks out of their slabs (with the users, in caches, on remote
	 * lists not yet drained) are what each bin counts as live; repair
	 * counts them again. */
	for (unsigned c = 0; config_stats && c < NBINS; c++)
		if (h->bins[c].curblocks != w.used[c])
			return report_why(why, whylen, "bin %u: %llu live "
			    "blocks counted, slabs hold %llu", c,
			    (unsigned long long)h->bins[c].curblocks,
			    (unsigned long long)w.used[c]);
	if (config_stats) {
		uint64_t blocks = 0;
		for (unsigned c = 0; c < NBINS; c++)
			blocks += h->bins[c].curblocks * sizeclasses[c].size;
		uint64_t large = h->stats.allocated - blocks;
		if (blocks > h->stats.allocated ||
		    large > h->stats.active_pages << LG_PAGE)
			return report_why(why, whylen, "stats: %llu bytes "
			    "allocated, %llu in small blocks",
			    (unsigned long long)h->stats.allocated,
			    (unsigned long long)blocks);
	}
	return 0;
}

/* Are the backed pages there?  A file shorter than limit pages would
 * fault (SIGBUS) at the first read beyond its end: ask the kernel to read
 * the last backed page's first byte for us, which fails instead. */
static int image_backed(struct heap *h, size_t file_size)
{
	size_t need = (size_t)h->limit << LG_PAGE;
	if (file_size != 0)
		return file_size < need ? ENODATA : 0;
	char byte;
	struct iovec local = { &byte, 1 };
	struct iovec remote = { (char *)h + need - PAGE, 1 };
	int saved = errno;
	ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	int err = got == 1 ? 0 : errno == EFAULT ? ENODATA : 0;
	errno = saved;   /* ENOSYS, EPERM: no probe; msync saw the mapping */
	return err;
}

int heap_image_validate(struct heap *h, size_t file_size, char *why,
                        size_t whylen)
{
	int err = heap_verify_header(h, 0);
	if (err) {
		report_why(why, whylen, "bad header (%s)", strerror(err));
		return err;
	}
	if (image_bounds(h, why, whylen))
		return EUCLEAN;
	if ((err = image_backed(h, file_size)) != 0) {
		report_why(why, whylen, "file shorter than the %u pages the "
		    "heap says are backed", h->limit);
		return err;
	}
	uint64_t lock_seq = 0;
	unsigned lock_tries = 0;
	for (unsigned t = 0; t < IMAGE_TRIES; t++) {
		bool dead, held;
		uint64_t seq = atomic_load_explicit(&h->lock_seq,
		    memory_order_acquire);
		if (image_lock(h, &h->lock, &dead, &held, why, whylen)) {
			/* A holder that goes away moves lock_seq; one that
			 * stays past IMAGE_LOCK_TRIES readings never will. */
			if (atomic_load_explicit(&h->lock_seq,
			    memory_order_acquire) != seq || lock_seq != seq)
				lock_tries = 0;
			lock_seq = seq;
			if (++lock_tries >= IMAGE_LOCK_TRIES)
				return EUCLEAN;
			usleep(IMAGE_RETRY_US);
			continue;
		}
		unsigned mode = IMAGE_JOIN | (dead ? IMAGE_REPAIRABLE : 0);
		int bad = heap_image_check(h, mode, why, whylen);
		atomic_thread_fence(memory_order_acquire);
		if (!bad)
			return image_refuge(h, why, whylen);
		/* Nobody changed it as we read: lock_seq stayed even, or
		 * odd with its holder dead, or odd with the lock free, which
		 * no holder leaves (it makes lock_seq even, then frees). */
		if (atomic_load_explicit(&h->lock_seq, memory_order_relaxed) ==
		    seq && (seq % 2 == 0 || dead || !held))
			return EUCLEAN;
		usleep(IMAGE_RETRY_US);
	}
	/* Busy in every reading: live processes use it and take its lock,
	 * so it can be taken (unless the lock itself was judged bad last);
	 * check under it. */
	if (lock_tries != 0)
		return EUCLEAN;
	/* Listed before locking, as every holder is: a waiter that found an
	 * unlisted holder would take the lock over (proc.c:heap_lock_gone). */
	heap_proc_attach(h);
	heap_lock(h);
	int bad = heap_image_check(h, IMAGE_JOIN, why, whylen);
	heap_unlock(h);
	if (bad)
		heap_proc_detach(h);
	return bad ? EUCLEAN : image_refuge(h, why, whylen);
}

/* The checks of heap_validate, without the header check and the lock: for
 * a caller that holds the lock, or that reads a private copy of a heap
 * (phstat).  Reads only; every walk below is bounded. */
int heap_validate_locked(struct heap *h, char *why, size_t whylen)
{
	/* The same checks a joiner runs (image.c), remote stacks included. */
	return heap_image_check(h, 0, why, whylen);
}

int heap_validate(struct heap *h, char *why, size_t whylen)
{
	int err = heap_verify_header(h, 0);
	if (err) {
		return report_why(why, whylen, "bad header (%s)",
		    strerror(err));
	}
	heap_lock(h);
	int bad = heap_validate_locked(h, why, whylen);
	heap_unlock(h);
	return bad || refuge_validate(h, why, whylen);
}
