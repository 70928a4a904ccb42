/*
 * thp.c -- the arenas' dense data in huge pages, for a process that forks.
 *
 * A fork copies the parent's page tables: one entry for each resident
 * 4 KiB page (about 30 us a MiB on this machine, doc/design.md "Signals
 * and fork"), but one entry for a 2 MiB huge page.  So from a process's
 * THP_FORKS-th fork on, the fork's prepare handler (fork.c) looks at a few
 * 2 MiB chunks of the arenas' data and asks the kernel to collapse
 * (madvise MADV_COLLAPSE, Linux 6.1) a chunk that is nearly all resident
 * already.  With PHMALLOC_CONF=thp:auto, the default:
 *
 *   - Memory grows by at most THP_HOLES pages a chunk: only a chunk that
 *     lies wholly in [first data page, hwm) and has at most that many
 *     pages not resident or not its own (shared with a child still alive,
 *     which a collapse copies: a prefork server would pay 2 MiB a chunk;
 *     or the kernel's zero page, where a page was read but never written)
 *     is collapsed.  Collapsing copies what is resident and fills the rest
 *     with zeros, which is what those pages read as anyway (never touched,
 *     or purged), so no block changes.  (A purge by another thread between
 *     the look and the collapse has its pages filled again: hwm and the
 *     pages are read without the lock.)
 *   - A process that never forks, or forks fewer than THP_FORKS times (a
 *     child counts its own forks from 0), pays nothing; the steady-state
 *     paths make no system call.
 *   - A fork pays at most one mincore over THP_SCAN chunks and one
 *     collapse (a 2 MiB copy: 0.6 to 6 ms here, during which the kernel
 *     holds the arenas' mapping, so other threads that fault in heap
 *     pages wait), so a heap of n dense chunks is done after about n
 *     forks.  The walk goes arena by arena, chunk by chunk, skipping the
 *     chunks it collapsed (struct thp_track: the first THP_TRACK of each
 *     arena), and when it has passed every arena it walks again at every
 *     THP_REPASS-th fork.
 *   - No phmalloc lock is taken: an arena's hwm is read as it is (a stale
 *     value costs a chunk a turn).  Two threads forking at once: one
 *     walks (thp_walking), the other passes.  A purge that later gives
 *     back pages inside a collapsed chunk maps the rest in 4 KiB pages
 *     again; the huge page itself is freed when the kernel splits it.
 *
 * Off where the system says never, where the huge page is not 2 MiB,
 * where the process turned huge pages off (PR_SET_THP_DISABLE), where the
 * kernel does not know MADV_COLLAPSE, and under valgrind.  A chunk the
 * kernel refuses (no huge page free; before Linux 6.18, a chunk not
 * written since the last fork) is left for the next walk.  Shared and
 * file heaps are never touched: they are not arenas.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parts.h"
#include "valgrind.h"

#define THP_BYTES   ((uintptr_t)2 << 20)          /* an x86-64 huge page */
#define THP_PAGES   ((unsigned)(THP_BYTES >> LG_PAGE))

static _Atomic unsigned thp_forks;    /* forks seen by the prepare handler */
static _Atomic uint64_t thp_at;       /* arena << 32 | chunk: the walk */
static _Atomic bool thp_off;          /* decided: never here */
static _Atomic bool thp_walking;      /* a fork's handler is deciding or
                                         walking: other forks pass */
static bool thp_decided;              /* thp_off is decided (walker's) */
static _Atomic uint64_t thp_collapsed, thp_refused;
static struct thp_track thp_tracks[ARENAS_MAX];

#define THP_RESTING UINT64_MAX        /* thp_at between walks */

/* The chunks of h that the walk may collapse: [lo, lo + n * THP_BYTES),
 * all of it data pages below hwm.  n is 0 when there is none. */
static uintptr_t thp_chunks(struct heap *h, uint32_t *n)
{
	uint32_t hwm = __atomic_load_n(&h->hwm, __ATOMIC_RELAXED);
	uintptr_t lo = ALIGN_UP((uintptr_t)h + ((uintptr_t)h->first_page <<
	    LG_PAGE), THP_BYTES);
	uintptr_t hi = ((uintptr_t)h + ((uintptr_t)hwm << LG_PAGE)) &
	    ~(THP_BYTES - 1);
	*n = hi > lo ? (uint32_t)((hi - lo) / THP_BYTES) : 0;
	return lo;
}

static bool track_done(const struct thp_track *t, uint32_t c)
{
	return c < THP_TRACK && (t->done[c / 8] >> (c % 8) & 1);
}

static void track_set(struct thp_track *t, uint32_t c, bool on)
{
	if (c < THP_TRACK)
		t->done[c / 8] = (uint8_t)(on ? t->done[c / 8] | 1u << (c % 8) :
		    t->done[c / 8] & ~(1u << (c % 8)));
}

int thp_step(struct heap *h, struct thp_track *t, uint32_t *next,
             unsigned *scan)
{
	uint32_t n;
	uintptr_t lo = thp_chunks(h, &n);
	/* A chunk that hwm has gone below since (a reset) is new again. */
	for (uint32_t c = n; c < t->seen && c < THP_TRACK; c++)
		track_set(t, c, false);
	t->seen = n;
	unsigned char vec[THP_SCAN * THP_PAGES];
	while (*next < n && *scan > 0) {
		uint32_t k = n - *next;
		if (k > *scan)
			k = *scan;
		if (k > THP_SCAN)
			k = THP_SCAN;
		char *at = (char *)(lo + (uintptr_t)*next * THP_BYTES);
		if (os_resident(at, (size_t)k * THP_BYTES, vec) != 0)
			return THP_END;   /* not mapped as it should be: leave h */
		*scan -= k;
		for (uint32_t c = 0; c < k; c++) {
			size_t missing = 0;
			for (unsigned i = 0; i < THP_PAGES; i++)
				missing += !(vec[c * THP_PAGES + i] & 1);
			char *chunk = at + (size_t)c * THP_BYTES;
			/* Done already; sparse; or with more than THP_HOLES
			 * pages missing or not ours alone: shared with a
			 * child that lives (a collapse copies them) or the
			 * zero page (read, never written: a hole). */
			if (track_done(t, *next + c) || missing > THP_HOLES ||
			    missing + os_pages_shared(chunk, THP_PAGES) >
			    THP_HOLES)
				continue;
			*next += c + 1;
			int err = os_collapse(chunk, THP_BYTES);
			if (err == 0)
				track_set(t, *next - 1, true);
			atomic_fetch_add_explicit(err == 0 ? &thp_collapsed :
			    &thp_refused, 1, memory_order_relaxed);
			return err;
		}
		*next += k;
	}
	return *next < n ? THP_PAUSE : THP_END;
}

/* Does the system let us?  Asked once, by the first walk: the
 * setting, the huge page's size, the process's own switch, and whether
 * the kernel knows MADV_COLLAPSE at all (an empty range: 0 or EINVAL). */
static bool thp_system_allows(struct heap *any)
{
	char buf[128];
	if (vg_any() || os_thp_disabled() || os_collapse(any, 0) != 0)
		return false;
	if (os_read_text("/sys/kernel/mm/transparent_hugepage/enabled", buf,
	    sizeof(buf)) == 0 || strstr(buf, "[never]") != NULL)
		return false;
	/* 2097152: the huge page this file's chunks are sized for */
	return os_read_text("/sys/kernel/mm/transparent_hugepage/"
	    "hpage_pmd_size", buf, sizeof(buf)) != 0 &&
	    strtoull(buf, NULL, 10) == THP_BYTES;
}

void thp_fork_prepare(void)
{
	struct heap *first = heap_arena_if_any(0);
	if (opts.thp != THP_AUTO || first == NULL ||
	    atomic_load_explicit(&thp_off, memory_order_relaxed))
		return;
	unsigned forks = atomic_fetch_add(&thp_forks, 1) + 1;
	if (forks < THP_FORKS || atomic_exchange(&thp_walking, true))
		return;   /* (two threads forking at once: one walks) */
	if (!thp_decided) {
		thp_decided = true;
		if (!thp_system_allows(first))
			atomic_store(&thp_off, true);
	}
	uint64_t at = atomic_load(&thp_at);
	if (at == THP_RESTING && forks % THP_REPASS == 0)
		at = 0;
	if (atomic_load(&thp_off) || at == THP_RESTING) {
		atomic_store(&thp_walking, false);
		return;
	}
	unsigned a = (unsigned)(at >> 32), scan = THP_SCAN;
	uint32_t next = (uint32_t)at;
	while (a < ARENAS_MAX && scan > 0) {
		struct heap *h = heap_arena_if_any(a);
		int r = h == NULL ? THP_END :
		    thp_step(h, &thp_tracks[a], &next, &scan);
		if (r == THP_END) {
			a++;
			next = 0;
		} else if (r != THP_PAUSE) {
			break;   /* one collapse a fork, whatever its answer */
		}
	}
	atomic_store(&thp_at, a >= ARENAS_MAX ? THP_RESTING :
	    (uint64_t)a << 32 | next);
	atomic_store(&thp_walking, false);
}

/* The child's first fork is its first: it starts counting, and walking,
 * anew.  What is done stays done: its chunks are the parent's. */
void thp_fork_child(void)
{
	atomic_store(&thp_forks, 0);
	atomic_store(&thp_at, 0);
	atomic_store(&thp_walking, false);   /* the parent's other thread */
}

uint64_t thp_count(bool refused)
{
	return atomic_load_explicit(refused ? &thp_refused : &thp_collapsed,
	    memory_order_relaxed);
}
