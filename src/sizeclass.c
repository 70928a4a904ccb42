/*
 * sizeclass.c -- the small size classes and their slab geometry.
 *
 * Classes: 16, 32, ..., 128 (quantum steps), then four per doubling
 * (160, 192, 224, 256, 320, ...) up to 14336 = SMALL_MAX.  So a small
 * request above 48 bytes never wastes more than 25% of its block; below,
 * the 16-byte quantum (alignof(max_align_t)) bounds the waste at 15 bytes.  The table is the same in every process: a shared heap
 * records sizeclass_signature() and refuses a process that disagrees.
 */
#include <stddef.h>

#include "base.h"
#include "valgrind.h"

struct sizeclass sizeclasses[NBINS];
struct tcache_layout tcache_layouts[TCACHE_SCALES];

/* A thread cache bin starts at about 32 KiB of its class, 8 to 200
 * blocks: its base limit. */
#define TCACHE_BYTES    32768
#define TCACHE_MIN      8
#define TCACHE_MAX      200
uint8_t size2bin_tab[SMALL_MAX / QUANTUM + 1];
uint32_t bin_size_tab[1 + NBINS];
uint8_t align_bin_tab[ALIGN_ROWS][1 + NBINS];
static _Atomic bool sizeclass_ready;

/* The slab length: the first n pages whose tail waste is at most 1/64 of
 * the slab, else the n with the least waste. */
static uint32_t slab_pages_for(size_t size)
{
	uint32_t best = 1;
	size_t best_waste = PAGE;

	for (uint32_t n = 1; n <= SLAB_MAXPAGES; n++) {
		size_t bytes = n * PAGE, waste = bytes % size;
		if (bytes < size)
			continue;
		if (waste * 64 <= bytes)
			return n;
		if (waste * best * PAGE < best_waste * bytes) {
			best = n;
			best_waste = waste;
		}
	}
	return best;
}

static size_t class_size(unsigned c)
{
	if (c < 8)
		return (c + 1) * QUANTUM;
	unsigned group = (c - 8) / 4, idx = (c - 8) % 4;
	size_t base = (size_t)128 << group;
	return base + (idx + 1) * (base / 4);
}

/* The first slot at or after `slot` that starts a page of a cache: the
 * first wide room starts there, so that its bins' slots share the pages'
 * phase that every bin had when all lay in such rooms (a bin of 300
 * slots, 2.4 KiB, then spans 2 pages, not 3; larson: 8 pages a cache). */
static uint32_t tcache_page_slot(uint32_t slot)
{
	size_t at = offsetof(struct tcache, slots) + (size_t)slot *
	    sizeof(uint64_t);
	return slot + (uint32_t)((ALIGN_UP(at, PAGE) - at) / sizeof(uint64_t));
}
_Static_assert(offsetof(struct tcache, slots) % sizeof(uint64_t) == 0,
    "a slot can start a page");

/* Scale k's rooms per bin, each with a guard slot below it (types.h): the
 * base rooms packed first, then the outbox, then the wide rooms, the first
 * of them on a page. */
static void tcache_layout_init(struct tcache_layout *l, unsigned k)
{
	uint32_t total = 0;
	for (unsigned c = 0; c < NBINS; c++) {
		l->lo[c] = total + 1;
		total += 1 + sizeclasses[c].tcache_base;
	}
	l->outbox_lo = total + 1;
	total += 1 + TCACHE_OUTBOX;
	total = tcache_page_slot(total + 1) - 1;   /* unused up to the page */
	for (unsigned c = 0; c < NBINS; c++) {
		uint32_t base = sizeclasses[c].tcache_base;
		uint32_t cap = base << k, most = TCACHE_CAP_BYTES /
		    sizeclasses[c].size;
		if (cap > TCACHE_CAP_BLOCKS)
			cap = TCACHE_CAP_BLOCKS;
		if (cap > most)
			cap = most;
		l->cap[c] = cap > base ? cap : base;
		l->wide_lo[c] = l->lo[c];
		if (l->cap[c] > base) {
			l->wide_lo[c] = total + 1;
			total += 1 + l->cap[c];
		}
	}
	l->nslots = total;
}

void sizeclass_init(void)
{
	if (atomic_load_explicit(&sizeclass_ready, memory_order_acquire))
		return;
#ifdef PH_HAVE_VALGRIND
	vg_probe();   /* before any heap, so before any block (valgrind.h) */
#endif
	for (unsigned c = 0; c < NBINS; c++) {
		struct sizeclass *sc = &sizeclasses[c];
		sc->size = (uint32_t)class_size(c);
		sc->npages = slab_pages_for(sc->size);
		sc->nblocks = (uint32_t)(sc->npages * PAGE / sc->size);
		/* exact for offsets < 2^16 and sizes < 2^16 (see slab.c) */
		sc->div_magic = (uint32_t)(((UINT64_C(1) << 32) + sc->size - 1)
		    / sc->size);
		uint32_t m = TCACHE_BYTES / sc->size;
		sc->tcache_base = m < TCACHE_MIN ? TCACHE_MIN :
		    m > TCACHE_MAX ? TCACHE_MAX : m;
	}
	for (unsigned k = 0; k < TCACHE_SCALES; k++)
		tcache_layout_init(&tcache_layouts[k], k);
	for (size_t i = 0, c = 0; i <= SMALL_MAX / QUANTUM; i++) {
		while (sizeclasses[c].size < i * QUANTUM)
			c++;
		size2bin_tab[i] = (uint8_t)(1 + c);
	}
	for (unsigned c = 0; c < NBINS; c++)
		bin_size_tab[1 + c] = sizeclasses[c].size;
	/* The smallest class at or above each one that is a multiple of
	 * each alignment from 32 to a page: its blocks are all aligned so
	 * (slabs start on a page). */
	for (unsigned r = 0; r < ALIGN_ROWS; r++)
		for (unsigned c = 0; c < NBINS; c++) {
			uint32_t a = (uint32_t)QUANTUM << (r + 1);
			unsigned k = c;
			while (k < NBINS && sizeclasses[k].size % a != 0)
				k++;
			align_bin_tab[r][1 + c] = (uint8_t)(k < NBINS ? 1 + k :
			    0);
		}
	/* Racing initialisers write identical values, so this is benign. */
	atomic_store_explicit(&sizeclass_ready, true, memory_order_release);
}

uint64_t sizeclass_signature(void)
{
	uint64_t sig = 14695981039346656037ull;   /* FNV-1a */
	for (unsigned c = 0; c < NBINS; c++) {
		sig = (sig ^ sizeclasses[c].size) * 1099511628211ull;
		sig = (sig ^ sizeclasses[c].npages) * 1099511628211ull;
		sig = (sig ^ sizeclasses[c].tcache_base) * 1099511628211ull;
		for (unsigned k = 0; k < TCACHE_SCALES; k++)
			sig = (sig ^ tcache_layouts[k].cap[c]) *
			    1099511628211ull;
	}
	return sig;
}

size_t tcache_run_bytes(unsigned scale)
{
	size_t bytes = sizeof(struct tcache) +
	    (size_t)tcache_layouts[scale].nslots * sizeof(uint64_t);
	return ALIGN_UP(bytes, PAGE);
}

/* The largest scale whose cache takes at most 1/1024 of a heap of `size`
 * bytes: a heap's caches are address space of the heap (its capacity,
 * unless it is an arena), one per thread that uses it, so 64 threads'
 * caches take at most 1/16 of it.  Heaps below 76 MiB get scale 0, the
 * bins' base limits and no room to grow, as every cache had before; 700
 * MiB and up, arenas among them, the largest (the base rooms add 28 KiB
 * to each run with a wide room). */
unsigned tcache_scale_for(size_t size)
{
	unsigned k = 0;
	while (k + 1 < TCACHE_SCALES && tcache_run_bytes(k + 1) <= size / 1024)
		k++;
	return k;
}

/* Every request 1..SMALL_MAX maps to the smallest class that holds it, the
 * classes rise, waste stays within the bounds above, and the division magic
 * is exact for every block offset in a slab. */
int sizeclass_validate(void)
{
	for (unsigned c = 0; c < NBINS; c++) {
		const struct sizeclass *sc = &sizeclasses[c];
		if (c > 0 && sc->size <= sizeclasses[c - 1].size)
			return 1;
		if (sc->size % QUANTUM != 0 || sc->nblocks == 0 ||
		    sc->nblocks > UINT16_MAX || sc->npages > SLAB_MAXPAGES)
			return 1;
		for (uint32_t off = 0; off < sc->npages * PAGE; off += 8) {
			uint32_t q = (uint32_t)(((uint64_t)off * sc->div_magic)
			    >> 32);
			if (q != off / sc->size ||
			    sizeclass_is_boundary(sc->div_magic, off) !=
			    (off % sc->size == 0))
				return 1;
		}
	}
	if (sizeclasses[NBINS - 1].size != SMALL_MAX)
		return 1;
	/* Each layout: base rooms in order, a guard below each, then the
	 * outbox, then the wide rooms of the classes whose cap passes their
	 * base; caps between the base and the bounds, each scale's no less
	 * than the last. */
	for (unsigned k = 0; k < TCACHE_SCALES; k++) {
		const struct tcache_layout *l = &tcache_layouts[k];
		uint32_t next = 1;
		for (unsigned c = 0; c < NBINS; c++) {
			if (l->lo[c] != next)
				return 1;
			next += sizeclasses[c].tcache_base + 1;
		}
		if (l->outbox_lo != next)
			return 1;
		next = tcache_page_slot(next + TCACHE_OUTBOX + 1);
		for (unsigned c = 0; c < NBINS; c++) {
			uint32_t base = sizeclasses[c].tcache_base;
			if (l->cap[c] < base ||
			    (l->cap[c] > base && (l->cap[c] > TCACHE_CAP_BLOCKS ||
			    (uint64_t)l->cap[c] * sizeclasses[c].size >
			    TCACHE_CAP_BYTES)) ||
			    (k > 0 && l->cap[c] < tcache_layouts[k - 1].cap[c]))
				return 1;
			if (l->cap[c] == base ? l->wide_lo[c] != l->lo[c] :
			    l->wide_lo[c] != next)
				return 1;
			if (l->cap[c] > base)
				next += l->cap[c] + 1;
		}
		if (l->nslots != next - 1)
			return 1;
	}
	for (size_t s = 1; s <= SMALL_MAX; s++) {
		unsigned c = size2class(s);
		if (c >= NBINS || sizeclasses[c].size < s ||
		    (c > 0 && sizeclasses[c - 1].size >= s))
			return 1;
		if (s > 3 * QUANTUM && s * 4 < (size_t)sizeclasses[c].size * 3)
			return 1;
		if (sizeclasses[c].size - s >= QUANTUM && s <= 3 * QUANTUM)
			return 1;
		/* the aligned class: the smallest class that fits and is a
		 * multiple of the alignment, or none */
		for (size_t a = 2 * QUANTUM; a <= PAGE; a *= 2) {
			size_t got = size_small_aligned(s, a), want = 0;
			for (unsigned k = c; k < NBINS && want == 0; k++)
				if (sizeclasses[k].size % a == 0)
					want = sizeclasses[k].size;
			if (got != want)
				return 1;
		}
	}
	return 0;
}
