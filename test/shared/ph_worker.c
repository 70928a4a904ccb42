/*
 * ph_worker.c -- the other process of the multi-process tests, started by
 * exec so that it shares nothing with the test but the heap.
 *
 *   ph_worker churn NAME SECONDS TAG   allocate/free in shm heap NAME and
 *                                      trade blocks through its mailbox
 *   ph_worker race SHM ADDR SIZE KEY WHEN
 *                                      at time WHEN, config_private_heap on
 *                                      SHM mapped at ADDR; fill root KEY
 *   ph_worker hammer NAME TAG          churn in NAME until killed, counting
 *                                      rounds in the mailbox (kill test)
 *   ph_worker create FILE              make a file-backed heap and a list
 *   ph_worker verify FILE              reopen it and check the list
 *
 * Exit status 0 means every check held; the reason is printed otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <phmalloc.h>

#include "shared.h"

#define DIE(...) do { fprintf(stderr, "ph_worker: " __VA_ARGS__); \
	fputc('\n', stderr); exit(2); } while (0)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One round of the churn: 1000 malloc/free, some large, some traded. */
static void churn_round(ph_heap_t *h, struct mailbox *mb, uint64_t **ring,
                        unsigned nring, uint64_t tag, uint64_t *seed,
                        unsigned large_every)
{
	for (int k = 0; k < 1000; k++) {
		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = *seed;
		unsigned i = (unsigned)(r >> 33) % nring;
		if (ring[i]) {
			if (!block_ok(ring[i]) || ring[i][0] != tag)
				DIE("block %p corrupted", (void *)ring[i]);
			/* Every 8th block goes to the mailbox for another
			 * process; whatever was there is freed. */
			if ((r >> 20) % 8 == 0) {
				unsigned s = (unsigned)(r >> 40) % MAILBOX_SLOTS;
				uint64_t *old = atomic_exchange(&mb->slot[s],
				    ring[i]);
				if (old) {
					if (!block_ok(old))
						DIE("mailbox block bad");
					if (old[0] != tag)
						atomic_fetch_add(&mb->passed, 1);
					ph_heap_free(h, old);
				}
			} else {
				ph_heap_free(h, ring[i]);
			}
		}
		size_t size = 16 + (r >> 45) % 1000;
		if ((r >> 10) % large_every == 0)
			size = 16384 + (r >> 40) % 32768;
		ring[i] = ph_heap_malloc(h, size);
		if (ring[i] == NULL)
			DIE("out of memory");
		block_fill(ring[i], ph_heap_usable_size(h, ring[i]) & ~7ul, tag);
	}
}

static int hammer(const char *name, uint64_t tag)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 0, 0);
	if (h == NULL)
		DIE("open %s: %s", name, strerror(errno));
	struct mailbox *mb = ph_heap_get_root(h, 0);
	if (mb == NULL)
		DIE("no mailbox");
	/* A killed worker's live blocks are lost until a reset: keep few. */
	enum { RING = 64 };
	uint64_t *ring[RING] = { 0 }, seed = tag * 7919 + 1;
	for (;;) {
		churn_round(h, mb, ring, RING, tag, &seed, 4);
		atomic_fetch_add(&mb->progress[tag % 64], 1);
	}
}

static int churn(const char *name, double seconds, uint64_t tag)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 0, 0);
	if (h == NULL)
		DIE("open %s: %s", name, strerror(errno));
	struct mailbox *mb = ph_heap_get_root(h, 0);
	if (mb == NULL)
		DIE("no mailbox");
	enum { RING = 512 };
	uint64_t *ring[RING] = { 0 }, ops = 0, seed = tag * 7919 + 1;
	double end = now() + seconds;
	while (now() < end) {
		churn_round(h, mb, ring, RING, tag, &seed, 64);
		ops += 1000;
	}
	for (int i = 0; i < RING; i++)
		if (ring[i])
			ph_heap_free(h, ring[i]);
	printf("%" PRIu64 "\n", ops);
	return ph_heap_close(h);
}

static int race(const char *shm, uintptr_t addr, size_t size, unsigned key,
                double when)
{
	int fd = shm_open(shm, O_RDWR, 0600);
	if (fd < 0)
		DIE("shm_open: %s", strerror(errno));
	void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p != (void *)addr)
		DIE("mmap at %#lx: %s", (unsigned long)addr, strerror(errno));
	struct timespec ts;
	do
		clock_gettime(CLOCK_REALTIME, &ts);
	while ((double)ts.tv_sec + ts.tv_nsec / 1e9 < when);
	int err = PHMALLOC_FN(config_private_heap)(p, size);
	if (err)
		DIE("config_private_heap: %s", strerror(err));
	enum { N = 1000 };
	uint64_t **blocks = PHMALLOC_FN(malloc)(N * sizeof(*blocks));
	for (int i = 0; i < N; i++) {
		blocks[i] = PHMALLOC_FN(malloc)(64);
		if (blocks[i] == NULL)
			DIE("malloc failed");
		block_fill(blocks[i], 64, key);
	}
	return ph_heap_set_root(ph_heap_default(), key, blocks);
}

static int create(const char *file)
{
	ph_heap_t *h = ph_heap_open(file, PERSIST_BASE, 8 << 20, PH_HEAP_CREATE |
	    PH_HEAP_EXCL);
	if (h == NULL)
		DIE("create %s: %s", file, strerror(errno));
	struct node *head = NULL;
	for (uint64_t i = 0; i < PERSIST_NODES; i++) {
		struct node *n = ph_heap_malloc(h, sizeof(*n));
		n->value = i * i;
		n->next = head;
		head = n;
	}
	char *big = ph_heap_malloc(h, PERSIST_BIG);
	memset(big, 0x3c, PERSIST_BIG);
	ph_heap_set_root(h, 0, head);
	ph_heap_set_root(h, 1, big);
	printf("%p %p\n", (void *)h, (void *)head);
	return ph_heap_close(h);
}

static int verify(const char *file)
{
	ph_heap_t *h = ph_heap_open(file, NULL, 0, 0);
	if (h == NULL)
		DIE("open %s: %s", file, strerror(errno));
	if (ph_heap_check(h) != 0)
		DIE("heap inconsistent");
	uint64_t want = PERSIST_NODES;
	for (struct node *n = ph_heap_get_root(h, 0); n; n = n->next) {
		want--;
		if (n->value != want * want)
			DIE("node %" PRIu64 " holds %" PRIu64, want, n->value);
	}
	if (want != 0)
		DIE("list short by %" PRIu64, want);
	unsigned char *big = ph_heap_get_root(h, 1);
	for (size_t i = 0; i < PERSIST_BIG; i += 4096)
		if (big[i] != 0x3c)
			DIE("big block byte %zu is %#x", i, big[i]);
	printf("%p %p\n", (void *)h, ph_heap_get_root(h, 0));
	return ph_heap_close(h);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "churn") == 0)
		return churn(argv[2], atof(argv[3]), strtoull(argv[4], 0, 0));
	if (argc == 7 && strcmp(argv[1], "race") == 0)
		return race(argv[2], strtoul(argv[3], 0, 0),
		    strtoul(argv[4], 0, 0), (unsigned)atoi(argv[5]),
		    atof(argv[6]));
	if (argc == 4 && strcmp(argv[1], "hammer") == 0)
		return hammer(argv[2], strtoull(argv[3], 0, 0));
	if (argc == 3 && strcmp(argv[1], "create") == 0)
		return create(argv[2]);
	if (argc == 3 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2]);
	fprintf(stderr, "usage: ph_worker churn|race|create|verify ...\n");
	return 2;
}
