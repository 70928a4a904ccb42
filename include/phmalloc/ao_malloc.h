/*
 * phmalloc/ao_malloc.h -- libatomic_ops' AO_malloc interface on phmalloc.
 *
 * A program written for <atomic_ops_malloc.h> builds against this header
 * and links with -lphmalloc instead of -latomic_ops_gpl.  AO_malloc and
 * AO_free are the process's malloc and free (the configured prefix's
 * malloc: the process heap, or the private heap once config_private_heap
 * made one), so a block may also be freed with free and vice versa.
 *
 * What is async-signal-safe, and when:
 *   AO_malloc and AO_free may be called from a signal handler in any
 *   thread, even one that interrupts the same thread inside phmalloc
 *   (inside AO_malloc, AO_free, malloc, free or another handler's call):
 *   a thread marks itself busy while it works on its cache, so a handler
 *   that finds it busy goes around the cache, and a handler that finds its
 *   thread holding a heap lock takes no heap lock: it allocates from the
 *   heap's refuge (1/64 of it) and its frees wait on a lock-free stack, so
 *   a handler never waits for its own thread.  Handlers may nest and need no lock around calls outside
 *   handlers: libatomic_ops' restrictions do not apply.  The one condition:
 *   the process heap must exist before the first call from a handler (it
 *   reads PHMALLOC_CONF and may register an atexit hook); any malloc or
 *   AO_malloc outside a handler makes it, and so does AO_malloc_enable_mmap.
 *   AO_malloc_enable_mmap itself is not for signal handlers.
 *
 * AO_MALLOC_IS_LOCK_FREE is not defined, because the guarantee it names
 * does not hold.  A small request served from the thread's cache (up to
 * 14336 bytes) takes no lock and makes no atomic read-modify-write; but a
 * cache refill or flush, a larger block, and a thread's first allocation
 * take the heap lock.  That lock is held only for short sections (the
 * longest gives free pages back with madvise), but a thread preempted or
 * stopped (SIGSTOP, a debugger) while holding it delays every other thread
 * that needs it until it runs again -- and, when config_private_heap put
 * the heap in shared memory, every other process's too: progress then
 * depends on the scheduler, which is what lock-freedom excludes.  In libatomic_ops' terms phmalloc is not
 * even 1-lock-free; what it gives instead is no deadlock in any handler and
 * no wait on a thread that is running.
 *
 * AO_malloc_enable_mmap: libatomic_ops serves large requests from mmap only
 * after this call (before it, its heap is 2 MB and requests stop just under
 * 64 KB).  phmalloc has no such limit: every size is served at any time.
 * The call makes the process heap now, outside any handler, so that the
 * handler condition above holds; calling it again does nothing, and it is
 * safe from any thread at any time.
 *
 * Errors: AO_malloc returns NULL + errno ENOMEM.  AO_free of a pointer that
 * is not a live block prints one line on stderr and aborts.
 */
#ifndef PHMALLOC_AO_MALLOC_H
#define PHMALLOC_AO_MALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
void *AO_malloc(size_t size) __attribute__((malloc));
#else
void *AO_malloc(size_t size);
#endif
void  AO_free(void *p);
void  AO_malloc_enable_mmap(void);

#ifdef __cplusplus
}
#endif
#endif /* PHMALLOC_AO_MALLOC_H */
