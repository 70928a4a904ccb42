/*
 * bench/phb_common.h -- helpers shared by the benchmark drivers.
 *
 * Every driver prints its figures as lines
 *     RESULT metric=NAME value=NUMBER [key=value ...]
 * and, when a path cannot run, one line
 *     UNAVAILABLE reason text
 * and exits with status 3.  bench/run.sh collects these lines.
 */
#ifndef PHB_COMMON_H
#define PHB_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PHB_EXIT_UNAVAILABLE 3

static inline uint64_t phb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep until the CLOCK_MONOTONIC instant t (ns); lets separately started
 * processes begin their timed loops together. */
static inline void phb_wait_until(uint64_t t)
{
	struct timespec ts;
	ts.tv_sec = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* xorshift64*: cheap, deterministic, the same sequence for every allocator. */
static inline uint64_t phb_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* A kB figure ("VmHWM", "VmRSS") from /proc/self/status, or -1. */
static inline long phb_status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static inline void phb_result(const char *metric, double value)
{
	printf("RESULT metric=%s value=%.6g hwm_kb=%ld\n", metric, value,
	       phb_status_kb("VmHWM"));
	fflush(stdout);
}

static inline double phb_scale(const char *arg)
{
	double s = arg ? strtod(arg, NULL) : 1.0;
	return s > 0 ? s : 1.0;
}

/* Sizes of the ring workloads: uniform in [lo, hi], from a fixed seed. */
#define PHB_NSIZES 65536u
static inline void phb_fill_sizes(uint32_t *sizes, uint32_t lo, uint32_t hi,
                                  uint64_t seed)
{
	uint64_t s = seed ? seed : 88172645463325252ull;
	for (uint32_t i = 0; i < PHB_NSIZES; i++)
		sizes[i] = lo + (uint32_t)(phb_rand(&s) % (hi - lo + 1));
}

/* Hide a pointer from the optimiser so that malloc/free pairs stay. */
#define PHB_ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

/*
 * The shared-heap workload: a ring of PHB_RING live blocks of 16..512 B;
 * each step frees the oldest block and allocates a new one.  Runs from the
 * instant start_ns for dur_ns, checking the clock every 1024 steps.
 * ALLOC(sz) and FREE(p) are expressions, so each driver inlines its own
 * allocator and no call goes through a function pointer.
 */
#define PHB_RING 1024u
#define PHB_RING_TIMED(ALLOC, FREE, ring, sizes, start_ns, dur_ns, ops_out, ns_out) \
	do { \
		uint64_t phb_i_ = 0, phb_t0_, phb_t1_; \
		for (uint32_t phb_k_ = 0; phb_k_ < PHB_RING; phb_k_++) { \
			(ring)[phb_k_] = ALLOC((sizes)[phb_k_]); \
			if (!(ring)[phb_k_]) { \
				printf("UNAVAILABLE allocation failed during warm-up\n"); \
				exit(PHB_EXIT_UNAVAILABLE); \
			} \
		} \
		phb_wait_until(start_ns); \
		phb_t0_ = phb_now_ns(); \
		do { \
			for (uint32_t phb_k_ = 0; phb_k_ < 1024; phb_k_++, phb_i_++) { \
				uint32_t phb_r_ = (uint32_t)phb_i_ & (PHB_RING - 1); \
				FREE((ring)[phb_r_]); \
				char *phb_p_ = (char *)ALLOC((sizes)[phb_i_ & (PHB_NSIZES - 1)]); \
				if (!phb_p_) { \
					printf("UNAVAILABLE allocation failed in the timed loop\n"); \
					exit(PHB_EXIT_UNAVAILABLE); \
				} \
				phb_p_[0] = (char)phb_i_; \
				(ring)[phb_r_] = phb_p_; \
			} \
			phb_t1_ = phb_now_ns(); \
		} while (phb_t1_ - phb_t0_ < (dur_ns)); \
		for (uint32_t phb_k_ = 0; phb_k_ < PHB_RING; phb_k_++) \
			FREE((ring)[phb_k_]); \
		*(ops_out) = phb_i_; \
		*(ns_out) = phb_t1_ - phb_t0_; \
	} while (0)

#endif
