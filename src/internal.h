/*
 * internal.h -- everything the public calls (malloc.c, heapapi.c, ctl.c,
 * stats.c), the add-ons on top of them (qmalloc.c, smalloc.c, summary.c,
 * mmalloc.c, ao_malloc.c) and the tests see: the engine (engine.h, and
 * through it parts.h and base.h, where the layers are explained) and what
 * the public layer shares.
 */
#ifndef PH_INTERNAL_H
#define PH_INTERNAL_H

#include "engine.h"

/* ---- heapapi.c: heaps in open files, for mmalloc.c ----------------------
 * fd stays the caller's.  heap_open_new formats a heap of `size` in the
 * empty file fd (PH_HEAP_GROW in flags: the file grows as it is used) and
 * maps it at base, or where other processes can map it too if base is NULL;
 * heap_open_existing joins the heap in fd at base, NULL meaning the address
 * it records.  Both register the heap as owned (ph_heap_close unmaps it).
 * NULL + errno on failure.
 */
struct heap *heap_open_new(int fd, void *base, size_t size, unsigned flags);
struct heap *heap_open_existing(int fd, void *base, size_t size);
/* The heap a handle names, or report_fatal ("bad heap handle") if it names
 * no attached heap. */
struct ph_heap;
struct heap *heap_handle(struct ph_heap *hp);

/* ---- stats.c ----------------------------------------------------------------- */
/* The default heap's snapshot; in process mode, all arenas summed. */
void heap_stats_read_default(struct stats_snapshot *s);

/* Public calls the library itself uses (the public header is generated for
 * the configured prefix, which the drop-in variant does not share). */
PH_EXPORT void P(malloc_stats_print)(void (*write_cb)(void *, const char *),
                                     void *cbopaque, const char *opts);

#endif /* PH_INTERNAL_H */

