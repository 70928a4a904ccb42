/*
 * compat.h -- what test_mmalloc writes into a heap file and mm_reader, a
 * separately exec'd process, checks there: an index at key 0 holding
 * records of several sizes, each filled with a pattern of its seed.
 */
#ifndef PH_TEST_COMPAT_H
#define PH_TEST_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAGIC  0x6d6d616cu   /* "mmal" */
#define IDX_RECS   300
#define KEY_INDEX  0             /* the writer's index */
#define KEY_READER 1             /* the reader's note */

struct rec {
	size_t   len;       /* bytes of data */
	uint64_t seed;
	unsigned char data[];
};

struct idx {
	uint32_t    magic;
	uint32_t    n;
	struct idx *self;   /* a raw pointer: means something only at one address */
	struct rec *recs[IDX_RECS];
};

/* Record i's length: from 1 byte to about 100 KiB, small ones most. */
static inline size_t rec_len(unsigned i)
{
	return (i % 7 == 6) ? 20000u + i * 300u : 1u + (i * 37u) % 3000u;
}

static inline unsigned char rec_byte(uint64_t seed, size_t i)
{
	uint64_t x = (seed + i / 8 + 1) * UINT64_C(0x9E3779B97F4A7C15);
	return (unsigned char)((x ^ (x >> 29)) >> (8 * (i % 8)));
}

static inline void rec_fill(struct rec *r, uint64_t seed, size_t len)
{
	r->len = len;
	r->seed = seed;
	for (size_t i = 0; i < len; i++)
		r->data[i] = rec_byte(seed, i);
}

/* The first bad byte of r's data, or SIZE_MAX. */
static inline size_t rec_find_bad(const struct rec *r)
{
	for (size_t i = 0; i < r->len; i++)
		if (r->data[i] != rec_byte(r->seed, i))
			return i;
	return SIZE_MAX;
}

#endif /* PH_TEST_COMPAT_H */
