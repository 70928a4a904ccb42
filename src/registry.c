/*
 * registry.c -- the process-local list of attached heaps.
 *
 * This and the thread caches are the only process globals that describe
 * heaps (DESIGN.md principle 1).  Readers (free, realloc, usable_size of a
 * pointer from any heap) scan it without a lock: a slot is published with a
 * release store after the heap is formatted and cleared on detach, and a
 * heap must not be detached while another thread still uses it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parts.h"

#define REGISTRY_SLOTS 1024

static struct heap *_Atomic slots[REGISTRY_SLOTS];
static bool owned[REGISTRY_SLOTS];     /* mapped by ph_heap_open */
static int fds[REGISTRY_SLOTS];        /* its file, if it grows; else -1 */
/* The file or shm object it was opened from (st_dev, st_ino), 0 0 if
 * none: one object is opened once (registry_has_file). */
static uint64_t file_dev[REGISTRY_SLOTS], file_ino[REGISTRY_SLOTS];
/* The last system error met on it, | ERR_UNSEEN while nobody reported it. */
static _Atomic int errs[REGISTRY_SLOTS];
#define ERR_UNSEEN 0x40000000
static _Atomic unsigned nslots;        /* slots in use are below this */
_Atomic uint32_t registry_gen;         /* base.h: bumped by every detach */
static struct lock registry_lock;      /* serialises writers */

/* The first free slot: below nslots, or nslots itself (REGISTRY_SLOTS:
 * none). */
static unsigned registry_first_free(void)
{
	unsigned n = atomic_load_explicit(&nslots, memory_order_acquire);
	unsigned i = 0;
	while (i < n && atomic_load_explicit(&slots[i],
	    memory_order_relaxed) != NULL)
		i++;
	return i;
}

int registry_add(struct heap *h)
{
	lock_acquire(&registry_lock);
	unsigned n = atomic_load_explicit(&nslots, memory_order_relaxed);
	unsigned i = registry_first_free();
	if (i == REGISTRY_SLOTS) {
		lock_release(&registry_lock);
		return ENFILE;
	}
	owned[i] = false;
	fds[i] = -1;
	file_dev[i] = file_ino[i] = 0;
	atomic_store_explicit(&errs[i], 0, memory_order_relaxed);
	atomic_store_explicit(&slots[i], h, memory_order_release);
	if (i == n)
		atomic_store_explicit(&nslots, n + 1, memory_order_release);
	lock_release(&registry_lock);
	return 0;
}

bool registry_full(void)
{
	return registry_first_free() == REGISTRY_SLOTS;
}

void registry_remove(struct heap *h)
{
	lock_acquire(&registry_lock);
	unsigned n = atomic_load_explicit(&nslots, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit(&slots[i], memory_order_relaxed) == h) {
			atomic_store_explicit(&slots[i], NULL,
			    memory_order_release);
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = -1;
		}
	atomic_fetch_add_explicit(&registry_gen, 1, memory_order_release);
	lock_release(&registry_lock);
}

static int registry_slot(const struct heap *h)
{
	unsigned n = atomic_load_explicit(&nslots, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit(&slots[i], memory_order_acquire) == h)
			return (int)i;
	return -1;
}

void registry_set_owned(struct heap *h, int fd)
{
	int i = registry_slot(h);
	if (i >= 0) {
		owned[i] = true;
		fds[i] = fd;
	}
}

void registry_set_file(struct heap *h, int fd)
{
	struct stat st;
	int i = registry_slot(h);
	if (i >= 0 && fstat(fd, &st) == 0) {
		file_dev[i] = (uint64_t)st.st_dev;
		file_ino[i] = (uint64_t)st.st_ino;
	}
}

bool registry_has_file(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return false;
	bool has = false;
	lock_acquire(&registry_lock);
	unsigned n = atomic_load_explicit(&nslots, memory_order_relaxed);
	for (unsigned i = 0; i < n && !has; i++)
		has = atomic_load_explicit(&slots[i], memory_order_relaxed) !=
		    NULL && file_ino[i] == (uint64_t)st.st_ino &&
		    file_dev[i] == (uint64_t)st.st_dev &&
		    (file_ino[i] | file_dev[i]) != 0;
	lock_release(&registry_lock);
	return has;
}

int registry_fd(const struct heap *h)
{
	int i = registry_slot(h);
	return i >= 0 ? fds[i] : -1;
}

/* Lock-free, like the lookups: failing calls in signal handlers note too. */
void registry_error_note(struct heap *h, int err, bool unseen)
{
	int i = registry_slot(h);
	if (i >= 0)
		atomic_store_explicit(&errs[i], err | (unseen ? ERR_UNSEEN : 0),
		    memory_order_relaxed);
}

int registry_error_last(const struct heap *h)
{
	int i = registry_slot(h);
	return i >= 0 ? atomic_load_explicit(&errs[i], memory_order_relaxed) &
	    ~ERR_UNSEEN : 0;
}

int registry_error_take(struct heap *h)
{
	int i = registry_slot(h);
	if (i < 0)
		return 0;
	int e = atomic_load_explicit(&errs[i], memory_order_relaxed);
	if (!(e & ERR_UNSEEN) || !atomic_compare_exchange_strong_explicit(
	    &errs[i], &e, e & ~ERR_UNSEEN, memory_order_relaxed,
	    memory_order_relaxed))
		return 0;
	return e & ~ERR_UNSEEN;
}

bool registry_is_owned(const struct heap *h)
{
	int i = registry_slot(h);
	return i >= 0 && owned[i];
}

struct heap *registry_lookup(const void *p)
{
	unsigned n = atomic_load_explicit(&nslots, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		struct heap *h = atomic_load_explicit(&slots[i],
		    memory_order_acquire);
		if (h != NULL && (uintptr_t)p - (uintptr_t)h < h->size)
			return h;
	}
	return NULL;
}

bool registry_overlaps(const void *start, size_t size)
{
	uintptr_t lo = (uintptr_t)start, hi = lo + size;
	unsigned n = atomic_load_explicit(&nslots, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		struct heap *h = atomic_load_explicit(&slots[i],
		    memory_order_acquire);
		if (h != NULL && lo < (uintptr_t)h + h->size &&
		    (uintptr_t)h < hi)
			return true;
	}
	return false;
}

void registry_foreach(void (*fn)(struct heap *h))
{
	unsigned n = atomic_load_explicit(&nslots, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		struct heap *h = atomic_load_explicit(&slots[i],
		    memory_order_acquire);
		if (h != NULL)
			fn(h);
	}
}

/* In a fork's child: a registry update cut short leaves at worst a slot
 * not yet published (the heap it was adding is the parent thread's). */
PH_FORK_CHILD void registry_fork_child(void)
{
	lock_reset(&registry_lock);
}
