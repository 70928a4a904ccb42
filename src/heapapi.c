/*
 * heapapi.c -- heap handles (ph_heap_*) and the private-heap pair.
 *
 * A ph_heap_t * is the heap's base address: the handle is the heap, so no
 * process-private memory is needed to hold one.  Calls that return a
 * pointer give NULL and set errno; calls returning int give 0 or an errno
 * value.  Ranges are checked before anything is written (DESIGN.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fastpath.h"
#include "internal.h"
#include "valgrind.h"
#include "phmalloc.h"

INSTALLERS_LINK;

#define JOIN_WAIT_MS   2000   /* how long a joiner waits for a formatter */

/* Modes of a new heap's object, set with fchmod after it is made, so that
 * the umask cannot leave a group heap unreadable to its group. */
#define MODE_PRIVATE   0600
#define MODE_GROUP     0660

/* Laps of ph_heap_open's create-or-join loop before it gives up with the
 * last error.  A lap repeats only when the name vanished between a create
 * that found it and the open that joins it (its owner unlinked it), or, with
 * PH_HEAP_GROUP, when the object is still 0600 for the two system calls
 * between its creation and its fchmod; OPEN_RETRY_US apart. */
#define OPEN_TRIES     8
#define OPEN_RETRY_US  1000

static inline struct heap *H(ph_heap_t *h)
{
	return (struct heap *)h;
}

static void *fail_ptr(int err)
{
	errno = err;
	return NULL;
}

/* 0 if [start, start+size) can hold a heap, else the errno value. */
static int range_check(const void *start, size_t size)
{
	uintptr_t lo = (uintptr_t)start;
	if (start == NULL || (lo & PAGE_MASK) != 0 || size < HEAP_MIN_SIZE ||
	    lo + size < lo || (size >> LG_PAGE) > HEAP_MAX_PAGES)
		return EINVAL;
	if (heap_capacity_pages(size >> LG_PAGE) < SLAB_MAXPAGES)
		return EINVAL;
	return 0;
}

/* Waits until another process has formatted the heap at h. */
static int heap_wait_ready(struct heap *h)
{
	for (unsigned ms = 0; ms < JOIN_WAIT_MS; ms++) {
		uint32_t st = atomic_load_explicit(&h->init,
		    memory_order_acquire);
		if (st != HEAP_INIT_FORMATTING)
			return 0;
		usleep(1000);
	}
	return ETIMEDOUT;
}

static struct heap *heap_register(struct heap *h)
{
	int err = registry_add(h);
	if (err)
		return fail_ptr(err);
	heap_proc_attach(h);
	return h;
}

PH_EXPORT ph_heap_t *ph_heap_create(void *start, size_t size, unsigned flags)
{
	size &= ~PAGE_MASK;
	int err = range_check(start, size);
	if (err)
		return fail_ptr(err);
	if (registry_overlaps(start, size))
		return fail_ptr(EEXIST);
	if ((err = os_range_writable(start, size)) != 0)
		return fail_ptr(err);   /* unmapped or read-only: EFAULT */
	if (registry_full())
		return fail_ptr(ENFILE);   /* before the range is written */
	unsigned hflags = (flags & PH_HEAP_SHARED) ? HEAP_F_SHARED : 0;
	if (!(flags & PH_HEAP_SHARED) && os_range_shared(start))
		hflags |= HEAP_F_SHARED;
	struct heap *h = heap_format(start, size, hflags,
	    (flags & PH_HEAP_ZEROED) != 0);
	return (ph_heap_t *)heap_register(h);
}

/* Joins the heap at start, whose size the header tells (0 = any). */
static int heap_join(struct heap *h, size_t size)
{
	int err = heap_wait_ready(h);
	if (err)
		return err;
	err = heap_verify_header(h, 0);
	if (err)
		return err;
	if (size != 0 && size != h->size)
		return EINVAL;
	/* The whole range must be mapped before we follow any offset, and
	 * writable before we write (attaching records this process). */
	if (msync(h, h->size, MS_ASYNC) != 0)
		return errno == ENOMEM ? EFAULT : errno;
	if ((err = os_range_writable(h, h->size)) != 0)
		return err;
	if (registry_overlaps(h, h->size))
		return EEXIST;
	/* Before anything in it is written, the lock included (image.c). */
	char why[256];
	if ((err = heap_image_validate(h, 0, why, sizeof(why))) != 0)
		return err;
	err = registry_add(h);
	if (err == 0) {
		heap_proc_attach(h);
		ph_heap_recover((ph_heap_t *)h);
	}
	return err;
}

PH_EXPORT ph_heap_t *ph_heap_attach(void *start)
{
	if (start == NULL || ((uintptr_t)start & PAGE_MASK) != 0)
		return fail_ptr(EINVAL);
	if (msync(start, PAGE, MS_ASYNC) != 0)
		return fail_ptr(EFAULT);
	int err = heap_join(start, 0);
	return err ? fail_ptr(err) : start;
}

PH_EXPORT int ph_heap_detach(ph_heap_t *hp)
{
	struct heap *h = H(hp);
	if (h == NULL || heap_is_process(h) || registry_lookup(h) != h)
		return EINVAL;
	/* The heap ph_malloc uses (config_private_heap) would go on
	 * allocating in a range nobody has attached. */
	if (h == atomic_load(&default_heap))
		return EBUSY;
	tcache_detach(h);   /* takes the lock: still listed while it holds it */
	heap_proc_detach(h);
	registry_remove(h);
	if (vg_on())
		slab_vg_forget(h);
	return 0;
}

PH_EXPORT int ph_heap_recover(ph_heap_t *hp)
{
	struct heap *h = H(hp);
	if (h == NULL || registry_lookup(h) != h)
		return -EINVAL;
	heap_lock(h);
	unsigned n = cache_reclaim_locked(h);
	heap_proc_reclaim_locked(h);
	heap_unlock(h);
	return (int)n;
}

/* ---- heaps in files and POSIX shm objects ---------------------------------- */

static bool name_is_shm(const char *name)
{
	return name[0] == '/' && strchr(name + 1, '/') == NULL;
}

/* Opens a file path or a shm name.  A file's last component is opened
 * O_NOFOLLOW, so a symbolic link there gives ELOOP; glibc's and musl's
 * shm_open add O_NOFOLLOW themselves. */
static int name_open(const char *name, int oflags, mode_t mode)
{
	if (name_is_shm(name))
		return shm_open(name, oflags, mode);
	return open(name, oflags | O_NOFOLLOW | O_CLOEXEC, mode);
}

static void name_unlink(const char *name)
{
	if (name_is_shm(name))
		shm_unlink(name);
	else
		unlink(name);
}

/* Maps fd at base (anywhere if NULL) without clobbering anything there. */
static void *map_at(int fd, void *base, size_t size)
{
	int mflags = MAP_SHARED | (base ? MAP_FIXED_NOREPLACE : 0);
	void *p = mmap(base, size, PROT_READ | PROT_WRITE, mflags, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (base != NULL && p != base) {
		/* Kernels before 4.17 ignore MAP_FIXED_NOREPLACE. */
		munmap(p, size);
		errno = EEXIST;
		return NULL;
	}
	return p;
}

/* Where a new shared heap goes when the caller names no address: a random
 * spot in a range the kernel does not hand out by default (it maps top-down
 * from below 128 TiB), so that other processes can map it there too. */
#define AUTO_BASE_LO   ((uintptr_t)0x100000000000)   /* 16 TiB */
#define AUTO_BASE_SPAN ((uintptr_t)0x400000000000)   /* 64 TiB */
#define AUTO_BASE_TRIES 8

static void *map_new(int fd, void *base, size_t size)
{
	if (base != NULL)
		return map_at(fd, base, size);
	for (int i = 0; i < AUTO_BASE_TRIES; i++) {
		uintptr_t a = AUTO_BASE_LO + (uintptr_t)(os_random() %
		    (AUTO_BASE_SPAN / PAGE)) * PAGE;
		a &= ~(((uintptr_t)1 << 30) - 1);   /* 1 GiB aligned */
		void *p = map_at(fd, (void *)a, size);
		if (p != NULL)
			return p;
	}
	return map_at(fd, NULL, size);
}

struct heap *heap_open_new(int fd, void *base, size_t size, unsigned flags)
{
	bool grow = (flags & PH_HEAP_GROW) != 0;
	int err = range_check(base ? base : (void *)PAGE, size);
	size_t backing = grow ? heap_initial_backing(size) : size;
	if (err == 0 && ftruncate(fd, (off_t)backing) != 0)
		err = errno;
	if (err)
		return fail_ptr(err);
	struct heap *h = map_new(fd, base, size);
	if (h == NULL)
		return NULL;
	if (registry_overlaps(h, size)) {
		munmap(h, size);
		return fail_ptr(EEXIST);
	}
	heap_format(h, size, HEAP_F_SHARED | (grow ? HEAP_F_GROW : 0), true);
	if (registry_add(h) != 0) {
		munmap(h, size);
		return fail_ptr(ENFILE);
	}
	heap_proc_attach(h);
	registry_set_owned(h, grow ? dup(fd) : -1);
	registry_set_file(h, fd);
	return h;
}

/* Reads and checks the header through fd before mapping anything.  A file
 * that is empty or all zeroes may be a heap another process is creating
 * right now: that is worth a short wait; anything else is judged at once. */
static int header_peek(int fd, struct heap *hdr)
{
	struct stat st;
	for (unsigned ms = 0;; ms++) {
		if (fstat(fd, &st) != 0)
			return errno;
		if ((size_t)st.st_size >= sizeof(*hdr)) {
			if (pread(fd, hdr, sizeof(*hdr), 0) != sizeof(*hdr))
				return EIO;
			uint32_t init = atomic_load(&hdr->init);
			if (init != HEAP_INIT_FRESH &&
			    init != HEAP_INIT_FORMATTING)
				break;
		} else if (st.st_size != 0) {
			return EINVAL;   /* too short to be a heap */
		}
		if (ms >= JOIN_WAIT_MS)
			return st.st_size == 0 ? ENOENT : EINVAL;
		usleep(1000);
	}
	int err = heap_verify_header(hdr, 0);
	if (err)
		return err;
	if ((uint64_t)st.st_size < (uint64_t)hdr->limit << LG_PAGE)
		return ENODATA;   /* truncated */
	return 0;
}

struct heap *heap_open_existing(int fd, void *base, size_t size)
{
	struct heap hdr;
	int err = header_peek(fd, &hdr);
	if (err)
		return fail_ptr(err);
	if (registry_has_file(fd))
		return fail_ptr(EEXIST);   /* opened already, maybe elsewhere */
	/* rounded down to pages, as a size that creates a heap is */
	if (size != 0 && (size & ~PAGE_MASK) != hdr.size)
		return fail_ptr(EINVAL);
	if (base == NULL)
		base = (void *)(uintptr_t)hdr.base;
	if (((uintptr_t)base & PAGE_MASK) != 0)
		return fail_ptr(EINVAL);
	struct heap *h = map_at(fd, base, hdr.size);
	if (h == NULL)
		return NULL;
	err = heap_join(h, hdr.size);
	if (err) {
		munmap(h, hdr.size);
		return fail_ptr(err);
	}
	registry_set_owned(h, (hdr.flags & HEAP_F_GROW) ? dup(fd) : -1);
	registry_set_file(h, fd);
	return h;
}

/* Makes a heap in fd, the object this call just created under name with
 * O_EXCL, and closes fd.  The object gets exactly its mode, whatever the
 * umask took; if anything fails it is removed again. */
static ph_heap_t *open_created(const char *name, int fd, void *base,
                               size_t size, unsigned flags)
{
	mode_t mode = (flags & PH_HEAP_GROUP) ? MODE_GROUP : MODE_PRIVATE;
	struct heap *h = NULL;
	if (fchmod(fd, mode) == 0)
		h = heap_open_new(fd, base, size, flags);
	int err = errno;
	close(fd);
	if (h == NULL)
		name_unlink(name);   /* leave nothing half made behind */
	errno = err;
	return (ph_heap_t *)h;
}

/* Joins the heap in fd, an object someone else made, and closes fd.  The
 * object is judged before anything is read from it or mapped
 * (os_object_trusted): ours, or with PH_HEAP_GROUP our group's, and never
 * writable by others; a hostile owner cannot plant it for us to adopt. */
static ph_heap_t *open_joined(int fd, void *base, size_t size, unsigned flags)
{
	int err = os_object_trusted(fd, (flags & PH_HEAP_GROUP) != 0);
	struct heap *h = err ? fail_ptr(err) :
	    heap_open_existing(fd, base, size);
	err = errno;
	close(fd);
	errno = err;
	return (ph_heap_t *)h;
}

PH_EXPORT ph_heap_t *ph_heap_open(const char *name, void *base, size_t size,
                                  unsigned flags)
{
	if (name == NULL || name[0] == '\0' ||
	    ((uintptr_t)base & PAGE_MASK) != 0)
		return fail_ptr(EINVAL);
	int saved = errno;
	bool create = (flags & (PH_HEAP_CREATE | PH_HEAP_EXCL)) != 0;
	mode_t mode = (flags & PH_HEAP_GROUP) ? MODE_GROUP : MODE_PRIVATE;
	ph_heap_t *h = NULL;
	/* Create first, with O_EXCL, so that an object we did not make is
	 * only ever joined, through open_joined's checks. */
	for (unsigned lap = 0; lap < OPEN_TRIES; lap++) {
		int fd;
		if (create) {
			fd = name_open(name, O_RDWR | O_CREAT | O_EXCL, mode);
			if (fd >= 0) {
				h = open_created(name, fd, base, size, flags);
				break;
			}
			if (errno != EEXIST || (flags & PH_HEAP_EXCL))
				break;
		}
		fd = name_open(name, O_RDWR, 0);
		if (fd >= 0) {
			h = open_joined(fd, base, size, flags);
			break;
		}
		int err = errno;
		if (err == EACCES && (flags & PH_HEAP_GROUP))
			usleep(OPEN_RETRY_US);   /* maybe not chmod'ed yet */
		else if (err != ENOENT || !create)
			break;
		errno = err;
	}
	if (h != NULL)
		errno = saved;
	return h;
}

PH_EXPORT int ph_heap_close(ph_heap_t *hp)
{
	struct heap *h = H(hp);
	bool owned = registry_is_owned(h);   /* asked while h is listed */
	int err = ph_heap_detach(hp);
	if (err == 0 && owned)
		munmap(h, h->size);   /* still mapped: detach unmaps nothing */
	return err;
}

/* ---- allocation through a handle ------------------------------------------- */

struct heap *heap_handle(ph_heap_t *hp)
{
	struct heap *h = H(hp);
	if (unlikely(h == NULL || registry_lookup(h) != h))
		report_fatal("bad heap handle %p (not an attached heap)",
		    (void *)hp);
	return h;
}

static __attribute__((noinline)) void *heap_malloc_slow(ph_heap_t *hp,
                                                         size_t size)
{
	struct heap *h = heap_handle(hp);
	if (size > HEAP_ALLOC_MAX)
		return fail_ptr(ENOMEM);
	void *p = size <= SMALL_MAX ? tcache_alloc(h, size2class(size)) : NULL;
	if (p == NULL)
		p = heap_malloc(h, size, false);
	return p ? p : fail_ptr(ENOMEM);
}

/* The fast paths look the handle up among this thread's cache slots, which
 * hold only heaps attached in this process (tcache_detach forgets them):
 * a handle that is no heap matches none and goes to the slow path, whose
 * handle_check reports it, without being followed.  NULL must be kept out
 * first, since it matches every unused slot. */
PH_EXPORT void *ph_heap_malloc(ph_heap_t *hp, size_t size)
{
	if (likely(hp != NULL && size <= SMALL_MAX && !tbusy())) {
		tbusy_enter();
		struct tslot *t = tslot_of(H(hp));
		void *p = NULL;   /* cache_alloc leaves it if the bin is empty */
		if (t != NULL)
			(void)cache_alloc(H(hp), t, size, &p);
		tbusy_leave();
		if (likely(p != NULL))
			return p;
	}
	return heap_malloc_slow(hp, size);
}

PH_EXPORT void *ph_heap_calloc(ph_heap_t *hp, size_t n, size_t size)
{
	struct heap *h = heap_handle(hp);
	size_t total;
	if (__builtin_mul_overflow(n, size, &total) || total > HEAP_ALLOC_MAX)
		return fail_ptr(ENOMEM);
	void *p = heap_malloc(h, total, true);
	return p ? p : fail_ptr(ENOMEM);
}

PH_EXPORT void *ph_heap_aligned_alloc(ph_heap_t *hp, size_t align,
                                      size_t size)
{
	struct heap *h = heap_handle(hp);
	if (align == 0 || (align & (align - 1)) != 0)
		return fail_ptr(EINVAL);
	if (size > HEAP_ALLOC_MAX || align > HEAP_ALLOC_MAX)
		return fail_ptr(ENOMEM);
	/* An alignment a small class satisfies: that class, cached. */
	size_t usable = size <= SMALL_MAX && align <= PAGE ?
	    size_small_aligned(size, align) : 0;
	if (usable != 0)
		return ph_heap_malloc(hp, usable);
	void *p = heap_malloc_aligned(h, size, align, false);
	return p ? p : fail_ptr(ENOMEM);
}

static void heap_owns_or_die(struct heap *h, const void *p, const char *op)
{
	if (unlikely((uintptr_t)p - (uintptr_t)h >= h->size))
		report_fatal("invalid %s of %p: not in heap %p", op, p,
		    (void *)h);
}

PH_EXPORT void ph_heap_free(ph_heap_t *hp, void *p)
{
	if (likely(hp != NULL && !tbusy())) {   /* see ph_heap_malloc */
		tbusy_enter();
		struct tslot *t = tslot_of(H(hp));
		bool done = t && cache_free(H(hp), t, p);
		tbusy_leave();
		if (likely(done))
			return;
	}
	struct heap *h = heap_handle(hp);
	if (p == NULL)
		return;
	heap_owns_or_die(h, p, "free");
	if (!tcache_free(h, p))
		heap_free(h, p);
}

PH_EXPORT void *ph_heap_realloc(ph_heap_t *hp, void *p, size_t size)
{
	struct heap *h = heap_handle(hp);
	if (p == NULL)
		return ph_heap_malloc(hp, size);
	heap_owns_or_die(h, p, "realloc");
	if (size == 0) {
		heap_free(h, p);
		return NULL;
	}
	if (size > HEAP_ALLOC_MAX)
		return fail_ptr(ENOMEM);
	void *q = heap_realloc(h, p, size, 1, false);
	return q ? q : fail_ptr(ENOMEM);
}

PH_EXPORT size_t ph_heap_usable_size(ph_heap_t *hp, const void *p)
{
	struct heap *h = heap_handle(hp);
	if (p == NULL)
		return 0;
	heap_owns_or_die(h, p, "usable_size");
	return heap_usable_size(h, p);
}

PH_EXPORT void ph_heap_reset(ph_heap_t *hp)
{
	heap_reset(heap_handle(hp));
}

PH_EXPORT int ph_heap_set_root(ph_heap_t *hp, unsigned key, void *p)
{
	struct heap *h = heap_handle(hp);
	if (key >= NROOTS)
		return EINVAL;
	uintptr_t off = (uintptr_t)p - (uintptr_t)h;
	/* A root points at a block: into the refuge or the data pages, never
	 * the header or maps (which ph_heap_get_root would call damage). */
	if (p != NULL && (off >= h->size ||
	    off < (uintptr_t)h->refuge_page << LG_PAGE))
		return EINVAL;
	heap_lock(h);
	h->roots[key] = p ? (uint64_t)((uintptr_t)p - (uintptr_t)h) : 0;
	heap_unlock(h);
	return 0;
}

PH_EXPORT void *ph_heap_get_root(ph_heap_t *hp, unsigned key)
{
	struct heap *h = heap_handle(hp);
	if (key >= NROOTS)
		return fail_ptr(EINVAL);
	heap_lock(h);
	uint64_t off = h->roots[key];
	heap_unlock(h);
	if (off == 0)
		return fail_ptr(ENOENT);
	if (off < (uint64_t)h->refuge_page << LG_PAGE || off >= h->size)
		return fail_ptr(EUCLEAN);   /* the header is damaged */
	return (char *)h + off;
}

PH_EXPORT int ph_heap_check(ph_heap_t *hp)
{
	struct heap *h = H(hp);
	char why[256];
	if (h == NULL || registry_lookup(h) != h)
		return EINVAL;
	if (heap_validate(h, why, sizeof(why)) == 0)
		return 0;
	report_warn("heap %p is inconsistent: %s", (void *)h, why);
	return EUCLEAN;
}

PH_EXPORT int ph_heap_stats(ph_heap_t *hp, struct ph_heap_stats *out)
{
	struct heap *h = H(hp);
	struct stats_snapshot s;
	if (h == NULL || out == NULL || registry_lookup(h) != h)
		return EINVAL;
	heap_stats_read(h, &s);
	*out = (struct ph_heap_stats){ .size = s.size, .metadata = s.metadata,
	    .allocated = s.allocated, .active = s.active, .free = s.free,
	    .largest_free = s.largest_free, .dirty = s.dirty,
	    .backed = s.backed, .epoch = s.epoch, .repairs = s.nrepairs };
	return 0;
}

PH_EXPORT ph_heap_t *ph_heap_default(void)
{
	struct heap *h = atomic_load(&default_heap);
	if (h == NULL && (h = heap_process()) == NULL)
		errno = ENOMEM;   /* no address space for the process heap */
	return (ph_heap_t *)h;
}

PH_EXPORT ph_heap_t *ph_heap_of(const void *p)
{
	if (p == NULL)
		return NULL;
	struct heap *h = atomic_load(&default_heap);
	if (h != NULL && (uintptr_t)p - (uintptr_t)h < h->size)
		return (ph_heap_t *)h;
	return (ph_heap_t *)registry_lookup(p);
}

/* ---- the private-heap pair --------------------------------------------------- */

PH_EXPORT int P(config_private_heap)(void *start, size_t size)
{
	size &= ~PAGE_MASK;
	int err = range_check(start, size);
	if (err)
		return err;
	heap_process();   /* options read, fork handlers in place */
	struct heap *h = start;
	if (registry_lookup(start) == h && h->size == size) {
		heap_default_set(h);
		return 0;
	}
	if (registry_overlaps(start, size))
		return EEXIST;
	if ((err = os_range_writable(start, size)) != 0)
		return err;   /* unmapped or read-only: EFAULT, nothing read */
	if (registry_full())
		return ENFILE;   /* before the range is written */
	if (heap_claim(h)) {   /* we won the race, or the range is ours */
		heap_format(h, size, os_range_shared(h) ? HEAP_F_SHARED : 0,
		    false);
		err = registry_add(h);
		if (err == 0)
			heap_proc_attach(h);
	} else {
		err = heap_join(h, size);
	}
	if (err)
		return err;
	heap_default_set(h);
	return 0;
}

PH_EXPORT void P(malloc_reset)(void)
{
	struct heap *h = atomic_load(&default_heap);
	if (h == NULL)
		return;
	if (heap_is_process(h) && sizeof(PH_STR(PH_PREFIX)) == 1) {
		/* A drop-in malloc's process heap holds libc's memory too. */
		report_warn("malloc_reset: no private heap configured; the "
		    "process heap of a drop-in build is not reset");
		return;
	}
	if (!heap_is_process(h)) {
		heap_reset(h);
		return;
	}
	for (unsigned i = 0; i < ARENAS_MAX; i++)   /* the process heap */
		if ((h = heap_arena_if_any(i)) != NULL)
			heap_reset(h);
}
