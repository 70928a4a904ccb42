/*
 * thread.c -- what a thread keeps: the thread-local state that several
 * layers read, defined once, below all of them (base.h: "thread.c").
 *
 *   tthread       the thread's cache slots and busy flag (tcache.c), its
 *                 byte counts (malloc.c), its lock sections (heap locks
 *                 held or being taken: non-zero in a call means a signal
 *                 handler interrupted its own thread inside one,
 *                 refuge.c), its TID (os_tid), its arena and that
 *                 arena's recent lock waits (arena.c), in one TLS block
 *                 so that a path finds all of it from one address.
 *
 * All initial-exec TLS: no allocation, no lock, so a signal handler may
 * read them at any time.
 */
#include "base.h"

/* Slot 0's heap while it caches none (TSLOT_NONE). */
struct heap heap_none = { .epoch = UINT64_MAX };

__thread struct tthread tthread __attribute__((tls_model("initial-exec"))) = {
	.slots[0] = { .heap = TSLOT_NONE },
};
