/*
 * fuzz_ops.c -- libFuzzer target: bytes -> a sequence of malloc, calloc,
 * realloc, aligned_alloc, free, reset, set_root/get_root on a heap made
 * with ph_heap_create, and malloc, calloc, realloc, posix_memalign, free
 * on the process heap.  Every block is filled with a pattern of its own
 * and checked before it is resized or freed; ph_heap_check must pass at
 * the end of every input.
 *
 * Input: a stream of 4-byte ops { op, slot, size lo, size hi }.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <phmalloc.h>

#define P_(name)     PHMALLOC_FN(name)
#define OPS_HEAP     ((size_t)1 << 20)
#define OPS_SLOTS    32
#define OPS_MAX      2048   /* ops per input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct block {
	unsigned char *p;
	size_t n;
	unsigned char fill;
};

static void block_fill(struct block *b, unsigned char fill)
{
	b->fill = fill;
	memset(b->p, fill, b->n);
}

static void block_verify(const struct block *b, size_t n)
{
	for (size_t i = 0; i < n && i < b->n; i++)
		if (b->p[i] != b->fill)
			abort();   /* a block changed under its owner */
}

/* The requested size of op bytes s0, s1: mostly small, some large. */
static size_t op_size(uint8_t s0, uint8_t s1)
{
	size_t n = (size_t)s0 | (size_t)s1 << 8;
	return (s1 & 0x80) ? (n & 0x7fff) * 8 : n & 0x3fff;
}

static void heap_ops(ph_heap_t *h, struct block *b, const uint8_t *op)
{
	struct block *s = &b[op[1] % OPS_SLOTS];
	size_t n = op_size(op[2], op[3]);
	unsigned char fill = (unsigned char)(op[1] ^ op[2]);
	switch (op[0] % 8) {
	case 0:
	case 1:
		if (s->p != NULL)
			break;
		s->p = op[0] % 8 ? ph_heap_calloc(h, 1, n) :
		    ph_heap_malloc(h, n);
		if (s->p == NULL)
			break;
		s->n = n;
		s->fill = 0;
		if (op[0] % 8 == 1)
			block_verify(s, n);   /* calloc: zeroes */
		block_fill(s, fill);
		break;
	case 2: {
		if (s->p == NULL)
			break;
		block_verify(s, s->n);
		unsigned char *q = ph_heap_realloc(h, s->p, n);
		if (q == NULL && n != 0)
			break;   /* ENOMEM: the old block stays */
		s->p = q;
		size_t keep = n < s->n ? n : s->n;
		s->n = keep;
		if (q != NULL)
			block_verify(s, keep);
		s->n = n;
		if (q != NULL)
			block_fill(s, fill);
		break;
	}
	case 3:
		if (s->p != NULL)
			break;
		s->p = ph_heap_aligned_alloc(h, (size_t)16 << (op[2] % 9), n);
		if (s->p == NULL)
			break;
		if (((uintptr_t)s->p & (((size_t)16 << (op[2] % 9)) - 1)) != 0)
			abort();
		s->n = n;
		block_fill(s, fill);
		break;
	case 4:
	case 5:
		if (s->p != NULL) {
			block_verify(s, s->n);
			ph_heap_free(h, s->p);
			s->p = NULL;
		}
		break;
	case 6:
		if (s->p != NULL && ph_heap_set_root(h, op[2] % PH_HEAP_ROOTS,
		    s->p) == 0 && ph_heap_get_root(h, op[2] % PH_HEAP_ROOTS) !=
		    s->p)
			abort();
		break;
	default:
		if (op[2] == 0xa5) {   /* rarely: wipe everything */
			ph_heap_reset(h);
			memset(b, 0, OPS_SLOTS * sizeof(*b));
		}
		break;
	}
}

static void process_ops(struct block *b, const uint8_t *op)
{
	struct block *s = &b[op[1] % OPS_SLOTS];
	size_t n = op_size(op[2], op[3]);
	unsigned char fill = (unsigned char)(op[2] ^ 0x3c);
	switch (op[0] % 4) {
	case 0:
		if (s->p != NULL)
			break;
		if (op[2] & 1) {
			void *p = NULL;
			if (P_(posix_memalign)(&p, (size_t)8 << (op[3] % 10),
			    n) != 0)
				break;
			s->p = p;
		} else {
			s->p = P_(calloc)(1, n);
		}
		if (s->p == NULL)
			break;
		s->n = n;
		s->fill = 0;
		if (!(op[2] & 1))
			block_verify(s, n);
		block_fill(s, fill);
		break;
	case 1: {
		if (s->p == NULL)
			break;
		block_verify(s, s->n);
		unsigned char *q = P_(realloc)(s->p, n + 1);
		if (q == NULL)
			break;
		s->p = q;
		s->n = n < s->n ? n : s->n;
		block_verify(s, s->n);
		s->n = n + 1;
		block_fill(s, fill);
		break;
	}
	default:
		if (s->p != NULL) {
			block_verify(s, s->n);
			P_(free)(s->p);
			s->p = NULL;
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *range;
	if (range == NULL) {
		range = mmap(NULL, OPS_HEAP, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (range == MAP_FAILED)
			abort();
	}
	ph_heap_t *h = ph_heap_create(range, OPS_HEAP, 0);
	if (h == NULL)
		abort();
	struct block hb[OPS_SLOTS], pb[OPS_SLOTS];
	memset(hb, 0, sizeof(hb));
	memset(pb, 0, sizeof(pb));
	for (size_t i = 0; i + 4 <= size && i / 4 < OPS_MAX; i += 4) {
		if (data[i] & 0x80)
			process_ops(pb, &data[i]);
		else
			heap_ops(h, hb, &data[i]);
	}
	if (ph_heap_check(h) != 0)
		abort();
	for (unsigned i = 0; i < OPS_SLOTS; i++) {
		if (hb[i].p != NULL) {
			block_verify(&hb[i], hb[i].n);
			ph_heap_free(h, hb[i].p);
		}
		if (pb[i].p != NULL) {
			block_verify(&pb[i], pb[i].n);
			P_(free)(pb[i].p);
		}
	}
	if (ph_heap_check(h) != 0 || ph_heap_detach(h) != 0)
		abort();
	return 0;
}
