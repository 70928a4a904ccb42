/*
 * snapshot.c -- copying a live heap read-only into private memory, and
 * walking the copy (see snapshot.h for the contract).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"

/* Robust mutexes: the futex word of glibc's pthread_mutex_t. */
#define FUTEX_TID_MASK_    0x3fffffffu
#define FUTEX_OWNER_DIED_  0x40000000u

/* ---- guarded reads of the live mapping -------------------------------------
 * A fault while reading the mapping (the file was truncated under us, or
 * its header lied in a way the checks missed) jumps back to the copy in
 * progress, which then fails instead of killing the process.
 */
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;

static void fault_handler(int sig)
{
	if (fault_armed) {
		fault_armed = 0;
		siglongjmp(fault_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fault_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fault_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* The part of [off, off + len) that the file backs, clamped; false if it
 * is empty. */
static bool clamp(const struct snap *s, size_t off, size_t *len)
{
	if (off >= s->readable)
		return false;
	if (*len > s->readable - off)
		*len = s->readable - off;
	return *len > 0;
}

/* Copies [off, off + len) of the live heap into the copy. */
static void copy_range(struct snap *s, size_t off, size_t len)
{
	if (clamp(s, off, &len))
		memcpy((char *)s->h + off, (const char *)s->live + off, len);
}

/* Does [off, off + len) of the live heap still read as the copy? */
static bool same_range(const struct snap *s, size_t off, size_t len)
{
	if (!clamp(s, off, &len))
		return true;
	return memcmp((const char *)s->h + off, (const char *)s->live + off,
	    len) == 0;
}

/* ---- layout ------------------------------------------------------------------ */

static size_t slabmap_off(void)
{
	return HEAP_HDR_BYTES;
}

static size_t pagemap_off(uint32_t npages)
{
	return HEAP_HDR_BYTES + ALIGN_UP((size_t)npages * sizeof(uint32_t), 64);
}

/* Page map entries worth copying: up to one past the high-water mark (the
 * rest were never written since the last reset), and the last one, which
 * may be the tail of the top free run. */
static size_t entries_used(const struct heap *c)
{
	size_t hwm = c->hwm;
	if (hwm < c->first_page)
		hwm = c->first_page;
	return hwm + 1 < c->npages ? hwm + 1 : c->npages;
}

struct range { size_t off, len; };

/* The metadata ranges of a copy whose header is in place. */
static unsigned meta_ranges(const struct heap *c, struct range r[4])
{
	size_t k = entries_used(c), pm = pagemap_off(c->npages);
	r[0] = (struct range){ 0, HEAP_HDR_BYTES };
	r[1] = (struct range){ slabmap_off(), k * sizeof(uint32_t) };
	r[2] = (struct range){ pm, k * sizeof(struct page) };
	r[3] = (struct range){ pm + ((size_t)c->npages - 1) *
	    sizeof(struct page), sizeof(struct page) };
	return 4;
}

/* ---- the lock, read without taking it --------------------------------------- */

static void lock_look(struct snap *s)
{
	const struct lock *l = &s->live->lock;
	s->lock_held = false;
	s->lock_owner = 0;
	s->lock_owner_died = false;
	if (!__atomic_load_n(&l->robust, __ATOMIC_ACQUIRE)) {
		uint32_t w = __atomic_load_n((const uint32_t *)&l->word,
		    __ATOMIC_ACQUIRE);
		s->lock_held = w != 0;
		s->lock_owner = w & ~LOCK_WAITERS;
		return;
	}
#ifdef __GLIBC__
	uint32_t w = (uint32_t)__atomic_load_n(&l->mtx.__data.__lock,
	    __ATOMIC_ACQUIRE);
	s->lock_held = w != 0;
	s->lock_owner = w & FUTEX_TID_MASK_;
	s->lock_owner_died = (w & FUTEX_OWNER_DIED_) != 0;
#endif
}

/* ---- one attempt at a copy --------------------------------------------------- */

/* Is off the start of a thread cache in the copy's page map? */
static bool tcache_at(const struct heap *c, uint64_t off)
{
	if (off == 0 || off % PAGE != 0 || off >= c->size)
		return false;
	uint32_t idx = (uint32_t)(off >> LG_PAGE);
	const struct page *pm = heap_pages((struct heap *)c);
	return idx >= c->first_page && idx < entries_used(c) &&
	    pm[idx].kind == PAGE_LARGE && idx + (uint64_t)pm[idx].span <=
	    c->npages && (size_t)pm[idx].span << LG_PAGE >=
	    cache_run_bytes((struct heap *)c);
}

/* Bytes of the large run at the copy's tag table offset (h->tags), the
 * table of qmalloc.c whose entries tag_validate checks; 0 if the offset
 * names no run in the used part of the page map (tag_validate then says
 * what is wrong with it, as ph_heap_check would). */
static size_t tags_run_bytes(const struct heap *c)
{
	uint64_t off = c->tags;
	if (off == 0 || off % PAGE != 0 || off >= c->size)
		return 0;
	uint32_t idx = (uint32_t)(off >> LG_PAGE);
	const struct page *pm = heap_pages((struct heap *)c);
	if (idx < c->first_page || idx >= entries_used(c) ||
	    pm[idx].kind != PAGE_LARGE || pm[idx].span == 0 ||
	    pm[idx].span > c->npages - idx)
		return 0;
	return (size_t)pm[idx].span << LG_PAGE;
}

/* Copies the slabs found by walking the copy's page map, the tag table,
 * then the caches on its list; records the caches' offsets in
 * s->tcaches. */
static void copy_data(struct snap *s)
{
	struct heap *c = s->h;
	struct page *pm = heap_pages(c);
	size_t top = entries_used(c);
	for (uint64_t i = c->first_page; i < top;) {
		uint64_t n = pm[i].span;
		if (n == 0 || n > c->npages - i)
			break;
		if (pm[i].kind == PAGE_SLAB && n <= SLAB_MAXPAGES)
			copy_range(s, i << LG_PAGE, n << LG_PAGE);
		else if (pm[i].kind != PAGE_FREE && pm[i].kind != PAGE_LARGE &&
		    pm[i].kind != PAGE_SLAB)
			break;
		i += n;
	}
	copy_range(s, c->tags, tags_run_bytes(c));
	s->ntcaches = 0;
	s->tcache_list_ok = true;
	uint64_t off = c->tcaches;
	for (uint64_t guard = c->npages; off != 0; guard--) {
		if (guard == 0 || !tcache_at(c, off)) {
			s->tcache_list_ok = false;
			break;
		}
		copy_range(s, off, cache_run_bytes(c));
		const struct tcache *tc = (const struct tcache *)
		    ((char *)c + off);
		if (tc->magic != TCACHE_MAGIC) {
			s->tcache_list_ok = false;
			break;
		}
		if (s->ntcaches == s->tcaches_cap) {
			size_t cap = s->tcaches_cap ? 2 * s->tcaches_cap : 16;
			void *t = realloc(s->tcaches, cap * sizeof(*s->tcaches));
			if (t == NULL) {
				s->tcache_list_ok = false;
				break;
			}
			s->tcaches = t;
			s->tcaches_cap = cap;
		}
		s->tcaches[s->ntcaches++] = (struct snap_tcache){ .off = off };
		off = tc->next;
	}
}

/* Does everything copied still read the same in the live heap? */
static bool copy_unchanged(const struct snap *s)
{
	struct range r[4];
	unsigned n = meta_ranges(s->h, r);
	for (unsigned i = 0; i < n; i++)
		if (!same_range(s, r[i].off, r[i].len))
			return false;
	if (!same_range(s, s->h->tags, tags_run_bytes(s->h)))
		return false;
	for (size_t i = 0; i < s->ntcaches; i++)
		if (!same_range(s, s->tcaches[i].off,
		    cache_run_bytes(s->h)))
			return false;
	return true;
}

static int file_readable(struct snap *s)
{
	struct stat st;
	if (fstat(s->fd, &st) != 0)
		return errno;
	size_t len = (uint64_t)st.st_size < s->size ? (size_t)st.st_size :
	    s->size;
	s->readable = len & ~PAGE_MASK;
	return 0;
}

/* One copy; returns SNAP_OK (consistent or not, see s->consistent) or an
 * error that ends the attempts. */
static int copy_once(struct snap *s, const struct heap *hdr)
{
	struct heap *c = s->h;
	if (file_readable(s) != 0) {
		snprintf(s->why, sizeof(s->why), "cannot stat: %s",
		    strerror(errno));
		return SNAP_EOPEN;
	}
	if (s->readable < (size_t)hdr->limit << LG_PAGE) {
		snprintf(s->why, sizeof(s->why), "truncated while being read");
		return SNAP_ETRUNC;
	}
	/* Start from zeroes: what an earlier attempt copied may be gone. */
	madvise(c, s->size, MADV_DONTNEED);
	fault_armed = 1;
	if (sigsetjmp(fault_jmp, 1) != 0) {
		snprintf(s->why, sizeof(s->why), "fault while reading the heap "
		    "(truncated under us?)");
		return SNAP_ETRUNC;
	}
	lock_look(s);
	bool held_before = s->lock_held;
	/* The heap's seqlock: a holder that came and went while we copied
	 * bumped it, even if it left every byte we compare as it found it. */
	uint64_t seq = atomic_load_explicit(&s->live->lock_seq,
	    memory_order_acquire);
	copy_range(s, 0, HEAP_HDR_BYTES);
	/* The geometry is read-only once formatted; if it moved, the heap was
	 * formatted again while we looked. */
	if (heap_verify_header(c, s->size) != 0 || c->npages != hdr->npages ||
	    c->first_page != hdr->first_page || c->limit > c->npages) {
		fault_armed = 0;
		s->consistent = false;
		return SNAP_OK;
	}
	struct range r[4];
	unsigned n = meta_ranges(c, r);
	for (unsigned i = 1; i < n; i++)
		copy_range(s, r[i].off, r[i].len);
	copy_data(s);
	bool same = copy_unchanged(s);
	atomic_thread_fence(memory_order_acquire);   /* the copy, then seq */
	bool quiet = seq % 2 == 0 && atomic_load_explicit(&s->live->lock_seq,
	    memory_order_relaxed) == seq;
	lock_look(s);
	fault_armed = 0;
	s->consistent = same && quiet && !held_before && !s->lock_held;
	return SNAP_OK;
}

/* ---- opening ------------------------------------------------------------------ */

static bool name_is_shm(const char *name)
{
	return name[0] == '/' && strchr(name + 1, '/') == NULL;
}

static int fail(struct snap *s, int err, const char *fmt, const char *arg)
{
	snprintf(s->why, sizeof(s->why), fmt, arg);
	return err;
}

/* Reads and judges the header through fd, before anything is mapped. */
static int header_read(struct snap *s, struct heap *hdr)
{
	struct stat st;
	if (fstat(s->fd, &st) != 0)
		return fail(s, SNAP_EOPEN, "cannot stat: %s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return fail(s, SNAP_ENOTHEAP, "not a heap (a directory)", "");
	memset(hdr, 0, sizeof(*hdr));
	ssize_t got = pread(s->fd, hdr, sizeof(*hdr), 0);
	if (got < 0)
		return fail(s, SNAP_EOPEN, "cannot read: %s", strerror(errno));
	if ((size_t)got < sizeof(*hdr)) {
		/* Too short for a header: truncated if it starts like one. */
		if ((size_t)got >= sizeof(hdr->magic) &&
		    atomic_load(&hdr->magic) == HEAP_MAGIC)
			return fail(s, SNAP_ETRUNC, "truncated heap (%s)",
			    "shorter than its header");
		return fail(s, SNAP_ENOTHEAP, "not a heap%s",
		    got == 0 ? " (empty)" : " (too short)");
	}
	/* heap_format clears the magic while it works: say so, not "not a
	 * heap", for a range a process is formatting right now. */
	if (atomic_load(&hdr->magic) != HEAP_MAGIC &&
	    atomic_load(&hdr->init) == HEAP_INIT_FORMATTING)
		return fail(s, SNAP_EBUSY, "heap is being formatted%s", "");
	switch (heap_verify_header(hdr, 0)) {
	case 0:
		break;
	case EPROTO:
		if (hdr->version != HEAP_VERSION ||
		    hdr->hdr_size != sizeof(struct heap))
			snprintf(s->why, sizeof(s->why), "heap of another format "
			    "(version %u, header %u bytes; this phstat reads "
			    "version %u, %zu bytes)", hdr->version,
			    hdr->hdr_size, HEAP_VERSION, sizeof(struct heap));
		else
			snprintf(s->why, sizeof(s->why), "heap of another format "
			    "(its page size, classes or size-class table differ "
			    "from this phstat's)");
		return SNAP_EVERSION;
	case EAGAIN:
		return fail(s, SNAP_EBUSY, "heap is being formatted%s", "");
	default:
		return fail(s, SNAP_ENOTHEAP, "not a heap (%s)",
		    "bad magic or geometry");
	}
	if (hdr->limit > hdr->npages || hdr->limit < hdr->first_page)
		return fail(s, SNAP_ENOTHEAP, "not a heap (%s)",
		    "backed size outside the heap");
	if ((uint64_t)st.st_size < (uint64_t)hdr->limit << LG_PAGE) {
		snprintf(s->why, sizeof(s->why), "truncated heap (file has "
		    "%lld bytes, heap needs %llu)", (long long)st.st_size,
		    (unsigned long long)hdr->limit << LG_PAGE);
		return SNAP_ETRUNC;
	}
	return SNAP_OK;
}

static void census_take(struct snap *s);
static void procs_gather(struct snap *s);

int snap_open(struct snap *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->fd = name_is_shm(name) ? shm_open(name, O_RDONLY, 0) :
	    open(name, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return fail(s, SNAP_EOPEN, "cannot open: %s", strerror(errno));
	struct heap hdr;
	int err = header_read(s, &hdr);
	if (err)
		return err;
	s->size = hdr.size;
	s->live = mmap(NULL, s->size, PROT_READ, MAP_SHARED, s->fd, 0);
	if (s->live == MAP_FAILED) {
		s->live = NULL;
		return fail(s, SNAP_EOPEN, "cannot map: %s", strerror(errno));
	}
	s->h = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->h == MAP_FAILED) {
		s->h = NULL;
		return fail(s, SNAP_ESYS, "cannot reserve memory for a copy: "
		    "%s", strerror(ENOMEM));
	}
	fault_install();
	for (s->attempts = 1;; s->attempts++) {
		err = copy_once(s, &hdr);
		if (err)
			return err;
		if (s->consistent || s->attempts == SNAP_ATTEMPTS)
			break;
		/* Back off: 1, 2, 4 ... 64 ms. */
		struct timespec ts = { 0, (1L << (s->attempts - 1)) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (heap_verify_header(s->h, s->size) != 0)
		return fail(s, SNAP_EBUSY, "heap changed shape while being "
		    "read%s", "");
	census_take(s);
	procs_gather(s);
	return SNAP_OK;
}

void snap_close(struct snap *s)
{
	if (s->h != NULL)
		munmap(s->h, s->size);
	if (s->live != NULL)
		munmap((void *)s->live, s->size);
	if (s->fd >= 0)
		close(s->fd);
	free(s->tcaches);
	s->h = NULL;
	s->live = NULL;
	s->fd = -1;
	s->tcaches = NULL;
}

/* ---- walking the copy ---------------------------------------------------------- */

const char *snap_use_name(enum snap_use use)
{
	static const char *const names[USE_COUNT] = {
		[USE_META] = "metadata", [USE_FREE_CLEAN] = "free_clean",
		[USE_FREE_DIRTY] = "free_dirty", [USE_UNBACKED] = "unbacked",
		[USE_SLAB] = "slab", [USE_LARGE] = "large",
		[USE_TCACHE] = "tcache",
	};
	return use < USE_COUNT ? names[use] : "?";
}

static bool is_tcache(const struct snap *s, uint64_t off)
{
	for (size_t i = 0; i < s->ntcaches; i++)
		if (s->tcaches[i].off == off)
			return true;
	return false;
}

bool snap_walk(const struct snap *s,
               void (*fn)(void *arg, uint64_t first, uint64_t n,
                          enum snap_use use, double fill),
               void *arg)
{
	struct heap *c = s->h;
	const struct page *pm = heap_pages(c);
	uint64_t limit = c->limit;
	fn(arg, 0, c->first_page, USE_META, 0);
	for (uint64_t i = c->first_page; i < c->npages;) {
		const struct page *e = &pm[i];
		uint64_t n = e->span;
		if (n == 0 || n > c->npages - i)
			return false;
		switch (e->kind) {
		case PAGE_FREE: {
			uint64_t dirty = e->aux < n ? e->aux : n;
			uint64_t end = i + n, backed = end < limit ? end : limit;
			if (dirty > 0)
				fn(arg, i, dirty, USE_FREE_DIRTY, 0);
			if (i + dirty < backed)
				fn(arg, i + dirty, backed - i - dirty,
				    USE_FREE_CLEAN, 0);
			if (backed < end) {
				uint64_t from = backed > i + dirty ? backed :
				    i + dirty;
				if (from < end)
					fn(arg, from, end - from, USE_UNBACKED,
					    0);
			}
			break;
		}
		case PAGE_LARGE:
			fn(arg, i, n, is_tcache(s, i << LG_PAGE) ? USE_TCACHE :
			    USE_LARGE, 0);
			break;
		case PAGE_SLAB: {
			if (e->cls >= NBINS)
				return false;
			const struct sizeclass *sc = &sizeclasses[e->cls];
			double used = e->nfree > sc->nblocks ? 0 :
			    (double)(sc->nblocks - e->nfree) / sc->nblocks;
			fn(arg, i, n, USE_SLAB, used);
			break;
		}
		default:
			return false;
		}
		i += n;
	}
	return true;
}

static void census_run(void *arg, uint64_t first, uint64_t n,
                       enum snap_use use, double fill)
{
	struct snap *s = arg;
	struct snap_census *k = &s->census;
	const struct page *pm = heap_pages(s->h);
	k->pages[use] += n;
	if (use == USE_SLAB) {
		const struct page *e = &pm[first];
		const struct sizeclass *sc = &sizeclasses[e->cls];
		struct snap_class *cl = &k->classes[e->cls];
		cl->slabs++;
		cl->blocks += sc->nblocks;
		cl->used += e->nfree > sc->nblocks ? 0 : sc->nblocks - e->nfree;
	} else if (use == USE_LARGE) {
		k->large_blocks++;
		k->large_bytes += n << LG_PAGE;
	}
	(void)fill;
}

/* The free runs, whole (the walk reports their dirty and clean parts). */
static void census_free_runs(struct snap *s)
{
	struct heap *c = s->h;
	const struct page *pm = heap_pages(c);
	for (uint64_t i = c->first_page; i < c->npages;) {
		uint64_t n = pm[i].span;
		if (n == 0 || n > c->npages - i)
			return;
		if (pm[i].kind == PAGE_FREE) {
			s->census.free_runs++;
			if (n > s->census.largest_free_pages)
				s->census.largest_free_pages = n;
		}
		i += n;
	}
}

static void census_take(struct snap *s)
{
	memset(&s->census, 0, sizeof(s->census));
	s->census.walk_ok = snap_walk(s, census_run, s);
	census_free_runs(s);
	for (size_t i = 0; i < s->ntcaches; i++) {
		struct snap_tcache *t = &s->tcaches[i];
		const struct tcache *tc = (const struct tcache *)
		    ((char *)s->h + t->off);
		t->pid = tc->pid;
		t->tid = tc->tid;
		t->start = tc->start;
		for (unsigned c = 0; c < NBINS; c++) {
			/* A copy taken without the owner's help: clamp to
			 * the room its lo starts (none: nothing). */
			const struct tcache_bin *b = &tc->bins[1 + c];
			uint32_t room = cache_bin_room(s->h, tc, c);
			uint32_t n = b->top <= b->lo ? 0 :
			    b->top - b->lo <= room ? b->top - b->lo : room;
			t->cached[c] = n;
			t->blocks += n;
			t->bytes += (uint64_t)n * sizeclasses[c].size;
			s->census.classes[c].cached += n;
		}
	}
}

/* ---- processes ----------------------------------------------------------------- */

static struct snap_proc *proc_find(struct snap *s, uint32_t pid,
                                   uint64_t start)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].pid == pid && s->procs[i].start == start)
			return &s->procs[i];
	if (s->nprocs == sizeof(s->procs) / sizeof(s->procs[0]))
		return NULL;
	struct snap_proc *p = &s->procs[s->nprocs++];
	*p = (struct snap_proc){ .pid = pid, .start = start,
	    .alive = os_proc_alive(pid, start) };
	return p;
}

/* The processes the heap records as attached, and the owners of its
 * thread caches (a process that forked from an attached one shows up
 * only through its caches). */
static void procs_gather(struct snap *s)
{
	s->nprocs = 0;
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		const struct heap_proc *hp = &s->h->procs[i];
		if (hp->pid == 0)
			continue;
		struct snap_proc *p = proc_find(s, hp->pid, hp->start);
		if (p != NULL)
			p->recorded = true;
	}
	for (size_t i = 0; i < s->ntcaches; i++) {
		struct snap_tcache *t = &s->tcaches[i];
		struct snap_proc *p = proc_find(s, t->pid, t->start);
		t->alive = p != NULL ? p->alive : os_proc_alive(t->pid,
		    t->start);
		if (p != NULL)
			p->tcaches++;
	}
}
