/*
 * shared.h -- what the multi-process tests and their worker agree on.
 */
#ifndef PH_TEST_SHARED_H
#define PH_TEST_SHARED_H

#include <stdatomic.h>
#include <stdint.h>

#define MAILBOX_SLOTS 256

/* Root 0 of a churn heap: blocks one process leaves for another to free. */
struct mailbox {
	_Atomic(uint64_t *) slot[MAILBOX_SLOTS];
	_Atomic uint64_t passed;     /* blocks freed by a process other than
	                                the one that allocated them */
	_Atomic uint64_t progress[64];  /* hammer: rounds done, by tag % 64 */
};

/* A block's first word names its maker and size, the rest is a pattern. */
static inline void block_fill(uint64_t *b, size_t size, uint64_t tag)
{
	b[0] = tag;
	b[1] = size;
	for (size_t i = 2; i < size / 8; i++)
		b[i] = tag ^ i;
}

static inline int block_ok(const uint64_t *b)
{
	size_t size = b[1];
	for (size_t i = 2; i < size / 8; i++)
		if (b[i] != (b[0] ^ i))
			return 0;
	return 1;
}

/* The node of the list a file-backed heap keeps under root 0. */
struct node {
	struct node *next;
	uint64_t value;
};

/* Addresses far from where the kernel puts mappings, free in every process. */
#define PERSIST_BASE  ((void *)0x210000000000ul)
#define RACE_BASE     ((void *)0x220000000000ul)

#define PERSIST_NODES 1000
#define PERSIST_BIG   (3 * 1024 * 1024)

#endif
