/*
 * thread.c -- what a thread keeps: the thread-local state that several
 * layers read, defined once, below all of them (base.h: "thread.c").
 *
 *   tsection      heap locks this thread holds or is taking (heap_lock);
 *                 non-zero in a call means a signal handler interrupted
 *                 its own thread inside a locked section (refuge.c).
 *   tarena        the arena this thread's malloc uses (arena.c);
 *   tarena_waits  its recent waits for that arena's lock, which heap_lock
 *                 counts and the arena policy reads (arena_waits_note);
 *   tthread       the thread's cache slots and busy flag (tcache.c), in
 *                 one TLS block so that a fast path finds all of it from
 *                 one address.
 *
 * All initial-exec TLS: no allocation, no lock, so a signal handler may
 * read them at any time.
 */
#include "base.h"

__thread uint32_t tsection __attribute__((tls_model("initial-exec")));

__thread struct heap *tarena __attribute__((tls_model("initial-exec")));

__thread uint32_t tarena_waits __attribute__((tls_model("initial-exec")));

/* Slot 0's heap while it caches none (TSLOT_NONE). */
struct heap heap_none = { .epoch = UINT64_MAX };

__thread struct tthread tthread __attribute__((tls_model("initial-exec"))) = {
	.slots[0] = { .heap = TSLOT_NONE },
};
