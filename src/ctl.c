/*
 * ctl.c -- mallctl, mallctlnametomib, mallctlbymib.
 *
 * The names form a small static tree; a name like "arenas.bin.3.size" is
 * walked component by component, a numeric component matching an indexed
 * node.  A MIB is the list of child positions (the number itself for an
 * indexed node), so nametomib once and bymib many times skips the string
 * work, as in jemalloc.  Statistics are a snapshot of the default heap taken
 * when "epoch" is written (and on first use).
 *
 * Errors, as jemalloc's: ENOENT unknown name, EPERM writing a read-only
 * node, EINVAL wrong sizes or values, EFAULT bad arguments.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CTL_MAX_DEPTH 6

typedef int ctl_fn(const size_t *mib, void *oldp, size_t *oldlenp,
                   void *newp, size_t newlen);

struct ctl_node {
	const char *name;              /* NULL: an indexed node */
	size_t nindex;                 /* indexed node: valid indices */
	const struct ctl_node *kids;   /* interior node's children */
	size_t nkids;
	ctl_fn *fn;                    /* leaf */
};

/* ---- value transfer ------------------------------------------------------ */

static int ctl_read(void *oldp, size_t *oldlenp, const void *v, size_t len)
{
	if (oldp == NULL || oldlenp == NULL)
		return 0;
	if (*oldlenp != len) {
		size_t n = *oldlenp < len ? *oldlenp : len;
		memcpy(oldp, v, n);
		*oldlenp = n;
		return EINVAL;
	}
	memcpy(oldp, v, len);
	return 0;
}

#define READONLY() do { if (newp != NULL || newlen != 0) return EPERM; } \
	while (0)
#define READ(type, val) do { type v_ = (val); \
	return ctl_read(oldp, oldlenp, &v_, sizeof(v_)); } while (0)

/* ---- statistics snapshot ---------------------------------------------------- */

static struct lock snap_lock;
static struct stats_snapshot snap;
static uint64_t snap_epoch;     /* 0: never taken */

/* A thread of the parent may have held snap_lock at a fork: in the child
 * it is nobody's, and the snapshot is taken again (registry.c: fork). */
PH_FORK_CHILD static void snap_fork_child(void)
{
	if (lock_held(&snap_lock)) {
		lock_reset(&snap_lock);
		snap_epoch = 0;
	}
}

static void __attribute__((constructor)) snap_fork_handler(void)
{
	pthread_atfork(NULL, NULL, snap_fork_child);
}

static struct heap *ctl_heap(void)
{
	struct heap *h = atomic_load(&default_heap);
	return h ? h : heap_process();
}

static void snap_refresh(void)
{
	struct stats_snapshot s;
	heap_stats_read_default(&s);
	lock_acquire(&snap_lock);
	snap = s;
	snap_epoch++;
	lock_release(&snap_lock);
}

static struct stats_snapshot snap_get(void)
{
	if (snap_epoch == 0)
		snap_refresh();
	lock_acquire(&snap_lock);
	struct stats_snapshot s = snap;
	lock_release(&snap_lock);
	return s;
}

/* ---- leaves ------------------------------------------------------------------- */

static int c_version(const size_t *mib, void *oldp, size_t *oldlenp,
                     void *newp, size_t newlen)
{
	READONLY();
	READ(const char *, PACKAGE_VERSION);
}

static int c_epoch(const size_t *mib, void *oldp, size_t *oldlenp,
                   void *newp, size_t newlen)
{
	if (newp != NULL) {
		if (newlen != sizeof(uint64_t))
			return EINVAL;
		snap_refresh();
	}
	READ(uint64_t, snap_epoch);
}

#define BOOL_LEAF(fname, expr) \
static int fname(const size_t *mib, void *oldp, size_t *oldlenp, \
                 void *newp, size_t newlen) \
{ READONLY(); READ(bool, (expr)); }
BOOL_LEAF(c_config_debug, config_debug)
BOOL_LEAF(c_config_stats, config_stats)
BOOL_LEAF(c_config_fill, config_fill)
BOOL_LEAF(c_config_tcache, config_tcache)
BOOL_LEAF(c_opt_abort_conf, opts.abort_conf)
BOOL_LEAF(c_opt_tcache, opts.tcache)
BOOL_LEAF(c_opt_stats_print, opts.stats_print)
/* opt.paranoid (tcache.c): what PHMALLOC_CONF says even before the first
 * malloc has read it (conf_init parses once and allocates nothing). */
static int c_opt_paranoid(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	READONLY();
	conf_init();
	READ(bool, opts.paranoid);
}

/* [jemalloc] opt.junk is a string ("true", "false", "alloc", "free") and
 * opt.junk and opt.zero exist only where config.fill is true. */
static int c_opt_junk(const size_t *mib, void *oldp, size_t *oldlenp,
                      void *newp, size_t newlen)
{
	if (!config_fill)
		return ENOENT;
	READONLY();
	READ(const char *, opts.junk ? "true" : "false");
}

static int c_opt_zero(const size_t *mib, void *oldp, size_t *oldlenp,
                      void *newp, size_t newlen)
{
	if (!config_fill)
		return ENOENT;
	READONLY();
	READ(bool, opts.zero);
}

/* [jemalloc] opt.narenas: the arenas the process heap has (PHMALLOC_CONF's
 * narenas, else 4 per CPU; fewer where address space is short). */
static int c_opt_narenas(const size_t *mib, void *oldp, size_t *oldlenp,
                         void *newp, size_t newlen)
{
	READONLY();
	READ(unsigned, heap_narenas());
}

/* [jemalloc] opt.thp: "auto", "default", "always" or "never"
 * (PHMALLOC_CONF=thp; jemalloc has no "auto"). */
static int c_opt_thp(const size_t *mib, void *oldp, size_t *oldlenp,
                     void *newp, size_t newlen)
{
	static const char *const names[] = {
		[THP_DEFAULT] = "default", [THP_ALWAYS] = "always",
		[THP_NEVER] = "never", [THP_AUTO] = "auto" };
	conf_init();
	READONLY();
	READ(const char *, names[opts.thp]);
}

/* [jemalloc] opt.percpu_arena: threads are not bound to arenas by CPU. */
static int c_opt_percpu_arena(const size_t *mib, void *oldp,
                              size_t *oldlenp, void *newp, size_t newlen)
{
	READONLY();
	READ(const char *, "disabled");
}

static int c_config_prefix(const size_t *mib, void *oldp, size_t *oldlenp,
                           void *newp, size_t newlen)
{
	READONLY();
	READ(const char *, PH_STR(PH_PREFIX));
}

static int c_opt_decay_ms(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	READONLY();
	READ(ssize_t, (ssize_t)opts.decay_ms);
}

static int c_opt_reserve(const size_t *mib, void *oldp, size_t *oldlenp,
                         void *newp, size_t newlen)
{
	READONLY();
	READ(size_t, opts.reserve);
}

#define VALUE_LEAF(fname, type, expr) \
static int fname(const size_t *mib, void *oldp, size_t *oldlenp, \
                 void *newp, size_t newlen) \
{ READONLY(); READ(type, (expr)); }
#define SIZE_LEAF(fname, expr) VALUE_LEAF(fname, size_t, expr)
SIZE_LEAF(c_arenas_page, PAGE)
SIZE_LEAF(c_arenas_quantum, QUANTUM)
SIZE_LEAF(c_stats_allocated, snap_get().allocated)
SIZE_LEAF(c_stats_active, snap_get().active)
SIZE_LEAF(c_stats_resident, snap_get().resident)
SIZE_LEAF(c_stats_mapped, snap_get().mapped)
SIZE_LEAF(c_stats_metadata, snap_get().metadata)
SIZE_LEAF(c_stats_dirty, snap_get().dirty)

/* stats.thp.collapsed and stats.thp.refused (thp.c), in every build. */
VALUE_LEAF(c_stats_thp_collapsed, uint64_t, thp_count(false))
VALUE_LEAF(c_stats_thp_refused, uint64_t, thp_count(true))

static int c_arenas_narenas(const size_t *mib, void *oldp, size_t *oldlenp,
                            void *newp, size_t newlen)
{
	READONLY();
	struct heap *h = ctl_heap();
	READ(unsigned, heap_is_process(h) ? heap_narenas_total() : 1u);
}

/* [jemalloc] arenas.create: a new arena, reached with MALLOCX_ARENA(i)
 * (heap.c: created arenas).  Custom extent hooks are not supported. */
static int c_arenas_create(const size_t *mib, void *oldp, size_t *oldlenp,
                           void *newp, size_t newlen)
{
	(void)mib;
	if (newp != NULL || newlen != 0)
		return EINVAL;   /* extent hooks */
	if (!heap_is_process(ctl_heap()))
		return EPERM;    /* a private heap has no arenas */
	if (oldp == NULL || oldlenp == NULL || *oldlenp != sizeof(unsigned))
		return EINVAL;   /* the index must go somewhere */
	unsigned i;
	int err = heap_arena_create(&i);
	if (err != 0)
		return err;
	READ(unsigned, i);
}

static int c_arenas_nbins(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	READONLY();
	READ(unsigned, (unsigned)NBINS);
}

/* [jemalloc] large size classes: every whole number of pages above the
 * largest small class, up to the largest block (size_usable rounds a
 * large request up to pages).  lextent i is LEXTENT_FIRST + i pages. */
#define LEXTENT_FIRST  ((SMALL_MAX >> LG_PAGE) + 1)
#define NLEXTENTS      ((size_t)(HEAP_ALLOC_MAX >> LG_PAGE) - LEXTENT_FIRST + 1)

static int c_arenas_nlextents(const size_t *mib, void *oldp,
                              size_t *oldlenp, void *newp, size_t newlen)
{
	READONLY();
	READ(unsigned, (unsigned)NLEXTENTS);
}

/* mib[2] is the index of arenas.lextent.<i>.size */
static int c_lextent_size(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	READONLY();
	READ(size_t, (size_t)(LEXTENT_FIRST + mib[2]) << LG_PAGE);
}

/* mib[2] is the bin index of arenas.bin.<i>.* */
static int c_bin_size(const size_t *mib, void *oldp, size_t *oldlenp,
                      void *newp, size_t newlen)
{
	READONLY();
	sizeclass_init();
	READ(size_t, (size_t)sizeclasses[mib[2]].size);
}

static int c_bin_nregs(const size_t *mib, void *oldp, size_t *oldlenp,
                       void *newp, size_t newlen)
{
	READONLY();
	sizeclass_init();
	READ(uint32_t, sizeclasses[mib[2]].nblocks);
}

static int c_bin_slab_size(const size_t *mib, void *oldp, size_t *oldlenp,
                           void *newp, size_t newlen)
{
	READONLY();
	sizeclass_init();
	READ(size_t, (size_t)sizeclasses[mib[2]].npages * PAGE);
}

/* mib[2] is the bin index of stats.bins.<i>.* */
static int c_sbin_curregs(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	READONLY();
	READ(size_t, (size_t)snap_get().bins[mib[2]].curblocks);
}

static int c_sbin_nmalloc(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	READONLY();
	READ(uint64_t, snap_get().bins[mib[2]].nmalloc);
}

static int c_sbin_ndalloc(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	READONLY();
	READ(uint64_t, snap_get().bins[mib[2]].ndalloc);
}

static int c_sbin_nslabs(const size_t *mib, void *oldp, size_t *oldlenp,
                         void *newp, size_t newlen)
{
	READONLY();
	READ(size_t, (size_t)snap_get().bins[mib[2]].nslabs);
}

/* Void actions: neither read nor written. */
static int c_action(void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
	return (oldp != NULL || (oldlenp != NULL && *oldlenp != 0) ||
	    newp != NULL || newlen != 0) ? EINVAL : 0;
}

/* [jemalloc] MALLCTL_ARENAS_ALL: arena.4096.* means every arena, and so
 * does arena.<narenas>.* (jemalloc's older spelling). */
#define ARENAS_ALL 4096

static int c_arena_purge(const size_t *mib, void *oldp, size_t *oldlenp,
                         void *newp, size_t newlen)
{
	/* mib[1] is the arena: one of the process heap's, or 0 for a
	 * configured private heap. */
	struct heap *h = ctl_heap();
	bool process = heap_is_process(h);
	unsigned n = process ? heap_narenas_total() : 1u;
	bool all = mib[1] == ARENAS_ALL || mib[1] == n;
	if (mib[1] > n && !all)
		return ENOENT;
	int err = c_action(oldp, oldlenp, newp, newlen);
	for (unsigned i = all ? 0 : (unsigned)mib[1];
	    err == 0 && i < (all ? n : (unsigned)mib[1] + 1); i++) {
		struct heap *a = process ? heap_arena_if_any(i) : h;
		if (a != NULL)   /* NULL: not made (yet) */
			heap_purge(a, true);
	}
	return err;
}

/* [jemalloc] arena.<i>.reset and arena.<i>.destroy: only for created
 * arenas (EFAULT for the others, as jemalloc).  No thread may use the
 * arena's blocks afterwards. */
static int c_arena_reset(const size_t *mib, void *oldp, size_t *oldlenp,
                         void *newp, size_t newlen)
{
	int err = c_action(oldp, oldlenp, newp, newlen);
	if (err)
		return err;
	struct heap *h = heap_arena_created((unsigned)mib[1]);
	if (h == NULL)
		return EFAULT;
	heap_reset(h);
	return 0;
}

static int c_arena_destroy(const size_t *mib, void *oldp, size_t *oldlenp,
                           void *newp, size_t newlen)
{
	int err = c_action(oldp, oldlenp, newp, newlen);
	return err ? err : heap_arena_destroy((unsigned)mib[1]);
}

/* [jemalloc] thread.arena: the calling thread's arena; writing moves the
 * thread (its cache goes back first).  EPERM while malloc uses a private
 * heap, which has no arenas. */
static int c_thread_arena(const size_t *mib, void *oldp, size_t *oldlenp,
                          void *newp, size_t newlen)
{
	(void)mib;
	bool process = heap_is_process(ctl_heap());
	unsigned old = process ? heap_arena_index() : 0;
	if (newp != NULL || newlen != 0) {
		unsigned want;
		/* [jemalloc] a bad read size is refused before the move */
		if (newp == NULL || newlen != sizeof(want) || (oldp != NULL &&
		    oldlenp != NULL && *oldlenp != sizeof(old)))
			return EINVAL;
		if (!process)
			return EPERM;
		memcpy(&want, newp, sizeof(want));
		int err = heap_arena_set(want);
		if (err != 0)
			return err;
	}
	READ(unsigned, old);
}

/* [jemalloc] thread.allocated, thread.deallocated and their p forms (a
 * pointer to the calling thread's counter, valid while it lives), counted
 * by malloc.c in builds with statistics; ENOENT without, as jemalloc. */
#define COUNTER_LEAF(fname, type, expr) \
static int fname(const size_t *mib, void *oldp, size_t *oldlenp, \
                 void *newp, size_t newlen) \
{ if (!config_stats) return ENOENT; READONLY(); READ(type, (expr)); }
COUNTER_LEAF(c_thread_allocated, uint64_t, tthread.allocated)
COUNTER_LEAF(c_thread_allocatedp, uint64_t *, &tthread.allocated)
COUNTER_LEAF(c_thread_deallocated, uint64_t, tthread.deallocated)
COUNTER_LEAF(c_thread_deallocatedp, uint64_t *, &tthread.deallocated)

static int c_thread_tcache_flush(const size_t *mib, void *oldp,
                                 size_t *oldlenp, void *newp, size_t newlen)
{
	int err = c_action(oldp, oldlenp, newp, newlen);
	if (err == 0)
		tcache_flush_thread();
	return err;
}

/* ---- the tree --------------------------------------------------------------- */

#define LEAF(n, f)      { .name = n, .fn = f }
#define NODE(n, k)      { .name = n, .kids = k, .nkids = sizeof(k) / sizeof(k[0]) }
#define INDEXED(cnt, k) { .name = NULL, .nindex = cnt, .kids = k, \
	.nkids = sizeof(k) / sizeof(k[0]) }

static const struct ctl_node config_kids[] = {
	LEAF("debug", c_config_debug), LEAF("stats", c_config_stats),
	LEAF("fill", c_config_fill), LEAF("tcache", c_config_tcache),
	LEAF("prefix", c_config_prefix),
};
static const struct ctl_node opt_kids[] = {
	LEAF("abort_conf", c_opt_abort_conf), LEAF("junk", c_opt_junk),
	LEAF("zero", c_opt_zero), LEAF("tcache", c_opt_tcache),
	LEAF("stats_print", c_opt_stats_print),
	LEAF("decay_ms", c_opt_decay_ms), LEAF("dirty_decay_ms", c_opt_decay_ms),
	LEAF("reserve", c_opt_reserve), LEAF("narenas", c_opt_narenas),
	LEAF("thp", c_opt_thp),
	LEAF("percpu_arena", c_opt_percpu_arena),
	LEAF("paranoid", c_opt_paranoid),
};
static const struct ctl_node bin_kids[] = {
	LEAF("size", c_bin_size), LEAF("nregs", c_bin_nregs),
	LEAF("slab_size", c_bin_slab_size),
};
static const struct ctl_node bin_index[] = { INDEXED(NBINS, bin_kids) };
static const struct ctl_node lextent_kids[] = {
	LEAF("size", c_lextent_size),
};
static const struct ctl_node lextent_index[] = {
	INDEXED(NLEXTENTS, lextent_kids)
};
static const struct ctl_node arenas_kids[] = {
	LEAF("narenas", c_arenas_narenas), LEAF("nbins", c_arenas_nbins),
	LEAF("page", c_arenas_page), LEAF("quantum", c_arenas_quantum),
	NODE("bin", bin_index), LEAF("nlextents", c_arenas_nlextents),
	LEAF("create", c_arenas_create),
	NODE("lextent", lextent_index),
};
static const struct ctl_node arena_i_kids[] = {
	LEAF("purge", c_arena_purge), LEAF("reset", c_arena_reset),
	LEAF("destroy", c_arena_destroy),
};
static const struct ctl_node arena_index[] = {
	INDEXED(ARENAS_ALL + 1, arena_i_kids)
};
static const struct ctl_node sbin_kids[] = {
	LEAF("curregs", c_sbin_curregs), LEAF("nmalloc", c_sbin_nmalloc),
	LEAF("ndalloc", c_sbin_ndalloc), LEAF("nslabs", c_sbin_nslabs),
};
static const struct ctl_node sbin_index[] = { INDEXED(NBINS, sbin_kids) };
static const struct ctl_node sthp_kids[] = {
	LEAF("collapsed", c_stats_thp_collapsed),
	LEAF("refused", c_stats_thp_refused),
};
static const struct ctl_node stats_kids[] = {
	LEAF("allocated", c_stats_allocated), LEAF("active", c_stats_active),
	LEAF("resident", c_stats_resident), LEAF("mapped", c_stats_mapped),
	LEAF("metadata", c_stats_metadata), LEAF("dirty", c_stats_dirty),
	NODE("bins", sbin_index), NODE("thp", sthp_kids),
};
static const struct ctl_node tcache_kids[] = {
	LEAF("flush", c_thread_tcache_flush),
};
static const struct ctl_node thread_kids[] = {
	LEAF("arena", c_thread_arena), NODE("tcache", tcache_kids),
	LEAF("allocated", c_thread_allocated),
	LEAF("allocatedp", c_thread_allocatedp),
	LEAF("deallocated", c_thread_deallocated),
	LEAF("deallocatedp", c_thread_deallocatedp),
};
static const struct ctl_node root_kids[] = {
	LEAF("version", c_version), LEAF("epoch", c_epoch),
	NODE("config", config_kids), NODE("opt", opt_kids),
	NODE("arenas", arenas_kids), NODE("arena", arena_index),
	NODE("stats", stats_kids), NODE("thread", thread_kids),
};
static const struct ctl_node root = NODE("", root_kids);

/* ---- walking ----------------------------------------------------------------- */

/* Finds the child of n for one name component; its MIB entry in *pos. */
static const struct ctl_node *ctl_child(const struct ctl_node *n,
                                        const char *comp, size_t len,
                                        size_t *pos)
{
	if (n->nkids == 1 && n->kids[0].name == NULL) {
		/* Indexed: the component is a number below nindex. */
		char num[24];
		if (len == 0 || len >= sizeof(num))
			return NULL;
		memcpy(num, comp, len);
		num[len] = '\0';
		char *end;
		unsigned long long v = strtoull(num, &end, 10);
		if (*end != '\0' || num[0] == '-' || v >= n->kids[0].nindex)
			return NULL;
		*pos = (size_t)v;
		return &n->kids[0];
	}
	for (size_t i = 0; i < n->nkids; i++)
		if (n->kids[i].name && strlen(n->kids[i].name) == len &&
		    memcmp(n->kids[i].name, comp, len) == 0) {
			*pos = i;
			return &n->kids[i];
		}
	return NULL;
}

static int ctl_lookup(const char *name, size_t *mib, size_t *miblen,
                      const struct ctl_node **out)
{
	const struct ctl_node *n = &root;
	size_t depth = 0;
	const char *p = name;
	if (name == NULL)
		return EFAULT;
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		size_t pos;
		if (n->fn != NULL || depth == *miblen)
			return ENOENT;
		n = ctl_child(n, p, len, &pos);
		if (n == NULL)
			return ENOENT;
		mib[depth++] = pos;
		p += len + (dot != NULL);
		if (dot != NULL && *p == '\0')
			return ENOENT;   /* trailing dot */
	}
	if (depth == 0)
		return ENOENT;
	*miblen = depth;
	*out = n;
	return 0;
}

static int ctl_by_mib(const size_t *mib, size_t miblen, void *oldp,
                      size_t *oldlenp, void *newp, size_t newlen)
{
	const struct ctl_node *n = &root;
	if (mib == NULL || miblen == 0 || miblen > CTL_MAX_DEPTH)
		return ENOENT;
	for (size_t d = 0; d < miblen; d++) {
		if (n->fn != NULL)
			return ENOENT;
		if (n->nkids == 1 && n->kids[0].name == NULL) {
			if (mib[d] >= n->kids[0].nindex)
				return ENOENT;
			n = &n->kids[0];
		} else {
			if (mib[d] >= n->nkids)
				return ENOENT;
			n = &n->kids[mib[d]];
		}
	}
	if (n->fn == NULL)
		return ENOENT;   /* not a leaf */
	if (oldp != NULL && oldlenp == NULL)
		return EFAULT;
	if (newp == NULL && newlen != 0)
		return EINVAL;
	return n->fn(mib, oldp, oldlenp, newp, newlen);
}

/* ---- the public calls ----------------------------------------------------------- */

PH_EXPORT int P(mallctl)(const char *name, void *oldp, size_t *oldlenp,
                         void *newp, size_t newlen)
{
	size_t mib[CTL_MAX_DEPTH], miblen = CTL_MAX_DEPTH;
	const struct ctl_node *n;
	int err = ctl_lookup(name, mib, &miblen, &n);
	if (err)
		return err;
	return ctl_by_mib(mib, miblen, oldp, oldlenp, newp, newlen);
}

PH_EXPORT int P(mallctlnametomib)(const char *name, size_t *mibp,
                                  size_t *miblenp)
{
	if (mibp == NULL || miblenp == NULL)
		return EFAULT;
	size_t mib[CTL_MAX_DEPTH], miblen = CTL_MAX_DEPTH;
	const struct ctl_node *n;
	int err = ctl_lookup(name, mib, &miblen, &n);
	if (err)
		return err;
	/* [jemalloc] a *miblenp shorter than the name translates that many
	 * components (a partial MIB, completed by the caller). */
	if (miblen > *miblenp)
		miblen = *miblenp;
	memcpy(mibp, mib, miblen * sizeof(size_t));
	*miblenp = miblen;
	return 0;
}

PH_EXPORT int P(mallctlbymib)(const size_t *mib, size_t miblen, void *oldp,
                              size_t *oldlenp, void *newp, size_t newlen)
{
	return ctl_by_mib(mib, miblen, oldp, oldlenp, newp, newlen);
}
