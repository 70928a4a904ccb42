/*
 * phstat.c -- look inside a heap that other processes may be using.
 *
 *   phstat [--check] [--json] [--svg FILE] NAME
 *
 * NAME is a heap file or a POSIX shm name ("/name").  The heap is read
 * through a private copy (snapshot.c): no lock is taken and nothing is
 * written.  Exit codes are listed below and in phstat(1).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "phstat.h"

/* Exit codes (phstat(1) documents them). */
enum {
	EXIT_GOOD = 0,       /* read it (and --check found nothing wrong) */
	EXIT_BROKEN = 1,     /* --check: an invariant is broken */
	EXIT_USAGE = 2,      /* bad arguments */
	EXIT_OPEN = 3,       /* cannot open, read or map NAME */
	EXIT_NOTHEAP = 4,    /* NAME holds no heap */
	EXIT_VERSION = 5,    /* a heap of another format version */
	EXIT_TRUNCATED = 6,  /* the file is shorter than the heap */
	EXIT_BUSY = 7,       /* no consistent copy: --check inconclusive */
	EXIT_OUTPUT = 8,     /* cannot write the output or get memory */
};

static const char usage_line[] =
    "usage: phstat [--check] [--json] [--svg FILE] NAME";

static void usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "phstat: %s%s%s (try phstat --help)\n", what,
	    arg ? " " : "", arg ? arg : "");
	exit(EXIT_USAGE);
}

static void help(void)
{
	printf("%s\n"
	    "Shows what a phmalloc heap (a file or a POSIX shm name /NAME)\n"
	    "holds, read-only, without disturbing the processes using it.\n"
	    "  -c, --check      check every invariant; exit 1 if one is broken\n"
	    "  -j, --json       print the same as JSON\n"
	    "  -s, --svg FILE   draw a map of the heap's pages into FILE\n"
	    "  -h, --help       this text\n"
	    "  -V, --version    the version\n"
	    "Exit: 0 good, 1 broken, 2 usage, 3 cannot open, 4 not a heap,\n"
	    "5 other format version, 6 truncated, 7 busy (no consistent copy),\n"
	    "8 cannot write output.\n", usage_line);
}

/* ---- text ------------------------------------------------------------------- */

/* "16.0 MiB": bytes for a person to read. */
const char *human(uint64_t bytes, char buf[32])
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, 32, "%.*f %s", v < 10 ? 1 : 0, v, unit[u]);
	return buf;
}

static void print_text(const struct phstat *p)
{
	const struct snap *s = p->snap;
	const struct heap *h = s->h;
	const struct stats_snapshot *st = &p->stats;
	const struct snap_census *k = &s->census;
	char b1[32], b2[32];

	printf("heap %s: %s (%" PRIu64 " bytes, %u pages of %zu bytes), "
	    "format %u, created at %#" PRIx64 "%s\n", s->name,
	    human(h->size, b1),
	    h->size, h->npages, PAGE, h->version, h->base,
	    (h->flags & HEAP_F_GROW) ? ", growable" : "");
	if (s->consistent)
		printf("snapshot: consistent (attempt %u)\n", s->attempts);
	else
		printf("snapshot: INCONSISTENT after %u attempts (the heap kept "
		    "changing while read; numbers may disagree)\n",
		    s->attempts);
	if (!s->lock_held)
		printf("lock: free\n");
	else if (s->lock_owner_died)
		printf("lock: held by a process that died (the next locker "
		    "repairs the heap)\n");
	else
		printf("lock: held by thread %u\n", s->lock_owner);
	printf("epoch: %" PRIu64 " (bumped by every reset and detach), "
	    "repairs: %" PRIu64 "\n", st->epoch, st->nrepairs);
	printf("size %zu, metadata %zu, allocated %zu, active %zu, free %zu, "
	    "dirty %zu, backed %zu\n", st->size, st->metadata, st->allocated,
	    st->active, st->free, st->dirty, st->backed);
	printf("largest free run: %s (%zu bytes) of %" PRIu64 " free runs\n",
	    human(st->largest_free, b1), st->largest_free, k->free_runs);
	printf("pages: %" PRIu64 " metadata, %" PRIu64 " slab, %" PRIu64
	    " large, %" PRIu64 " thread cache, %" PRIu64 " free dirty, %"
	    PRIu64 " free clean, %" PRIu64 " unbacked; high-water mark %u\n",
	    k->pages[USE_META], k->pages[USE_SLAB], k->pages[USE_LARGE],
	    k->pages[USE_TCACHE], k->pages[USE_FREE_DIRTY],
	    k->pages[USE_FREE_CLEAN], k->pages[USE_UNBACKED], h->hwm);
	if (!k->walk_ok)
		printf("pages: the walk of the runs stopped early (damaged "
		    "page map; try --check)\n");
	printf("small blocks by class (live = used - cached):\n"
	    "  class   size  slabs   blocks     used   cached     live\n");
	unsigned shown = 0;
	for (unsigned c = 0; c < NBINS; c++) {
		const struct snap_class *cl = &k->classes[c];
		if (cl->slabs == 0 && cl->cached == 0)
			continue;
		uint64_t live = cl->used >= cl->cached ? cl->used - cl->cached :
		    0;
		printf("  %5u %6u %6u %8" PRIu64 " %8" PRIu64 " %8" PRIu64
		    " %8" PRIu64 "\n", c, sizeclasses[c].size, cl->slabs,
		    cl->blocks, cl->used, cl->cached, live);
		shown++;
	}
	if (shown == 0)
		printf("  (none)\n");
	printf("large blocks: %" PRIu64 " (%s)\n", k->large_blocks,
	    human(k->large_bytes, b2));
	printf("roots:");
	unsigned nroots = 0;
	for (unsigned r = 0; r < NROOTS; r++)
		if (h->roots[r] != 0) {
			printf("%s %u -> offset %#" PRIx64, nroots ? "," : "", r,
			    h->roots[r]);
			nroots++;
		}
	printf("%s\n", nroots ? "" : " none set");
	printf("thread caches: %zu%s\n", s->ntcaches, s->tcache_list_ok ? "" :
	    " (the list is damaged after these)");
	for (size_t i = 0; i < s->ntcaches; i++) {
		const struct snap_tcache *t = &s->tcaches[i];
		printf("  offset %#" PRIx64 ": pid %u thread %u, %s, %" PRIu64
		    " blocks (%" PRIu64 " bytes) cached\n", t->off, t->pid,
		    t->tid, t->alive ? "alive" : "DEAD", t->blocks, t->bytes);
	}
	printf("processes: %zu\n", s->nprocs);
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct snap_proc *q = &s->procs[i];
		printf("  pid %u: %s, %s, %u thread cache%s\n", q->pid,
		    q->alive ? "alive" : "DEAD (reclaimed at the next attach "
		    "or ph_heap_recover)", q->recorded ? "attached" :
		    "not in the attach table", q->tcaches,
		    q->tcaches == 1 ? "" : "s");
	}
	if (p->checked)
		printf("check: %s%s\n", p->check_ok ? "ok" : "FAILED: ",
		    p->check_ok ? "" : p->why);
}

/* ---- JSON --------------------------------------------------------------------- */

static void json_string(const char *v)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

static void print_json(const struct phstat *p)
{
	const struct snap *s = p->snap;
	const struct heap *h = s->h;
	const struct stats_snapshot *st = &p->stats;
	const struct snap_census *k = &s->census;

	printf("{\"name\": ");
	json_string(s->name);
	printf(", \"format\": %u, \"base\": %" PRIu64 ", \"page_size\": %zu, "
	    "\"pages\": %u, \"growable\": %s,\n", h->version, h->base, PAGE,
	    h->npages, (h->flags & HEAP_F_GROW) ? "true" : "false");
	printf(" \"snapshot\": {\"consistent\": %s, \"attempts\": %u},\n",
	    s->consistent ? "true" : "false", s->attempts);
	printf(" \"lock\": {\"held\": %s, \"owner_tid\": %u, "
	    "\"owner_died\": %s},\n", s->lock_held ? "true" : "false",
	    s->lock_owner, s->lock_owner_died ? "true" : "false");
	printf(" \"epoch\": %" PRIu64 ", \"repairs\": %" PRIu64 ",\n",
	    st->epoch, st->nrepairs);
	printf(" \"stats\": {\"size\": %zu, \"metadata\": %zu, \"allocated\": "
	    "%zu, \"active\": %zu, \"free\": %zu, \"largest_free\": %zu, "
	    "\"dirty\": %zu, \"backed\": %zu},\n", st->size, st->metadata,
	    st->allocated, st->active, st->free, st->largest_free, st->dirty,
	    st->backed);
	printf(" \"layout\": {\"slabmap_offset\": %zu, \"pagemap_offset\": %zu, "
	    "\"page_entry_size\": %zu, \"first_page\": %u, \"hwm\": %u, "
	    "\"limit\": %u},\n", (size_t)HEAP_HDR_BYTES,
	    (size_t)((char *)heap_pages(s->h) - (char *)s->h),
	    sizeof(struct page), h->first_page, h->hwm, h->limit);
	printf(" \"page_use\": {");
	for (unsigned u = 0; u < USE_COUNT; u++)
		printf("%s\"%s\": %" PRIu64, u ? ", " : "",
		    snap_use_name((enum snap_use)u), k->pages[u]);
	printf("}, \"walk_ok\": %s, \"free_runs\": %" PRIu64 ",\n",
	    k->walk_ok ? "true" : "false", k->free_runs);
	printf(" \"classes\": [");
	for (unsigned c = 0; c < NBINS; c++) {
		const struct snap_class *cl = &k->classes[c];
		uint64_t live = cl->used >= cl->cached ? cl->used - cl->cached :
		    0;
		printf("%s\n  {\"class\": %u, \"size\": %u, \"slabs\": %u, "
		    "\"blocks\": %" PRIu64 ", \"used\": %" PRIu64 ", \"cached\": "
		    "%" PRIu64 ", \"live\": %" PRIu64 "}", c ? "," : "", c,
		    sizeclasses[c].size, cl->slabs, cl->blocks, cl->used,
		    cl->cached, live);
	}
	printf("],\n \"large\": {\"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64
	    "},\n", k->large_blocks, k->large_bytes);
	printf(" \"roots\": [");
	unsigned nroots = 0;
	for (unsigned r = 0; r < NROOTS; r++)
		if (h->roots[r] != 0)
			printf("%s{\"key\": %u, \"offset\": %" PRIu64 "}",
			    nroots++ ? ", " : "", r, h->roots[r]);
	printf("],\n \"tcaches\": [");
	for (size_t i = 0; i < s->ntcaches; i++) {
		const struct snap_tcache *t = &s->tcaches[i];
		printf("%s\n  {\"offset\": %" PRIu64 ", \"pid\": %u, \"tid\": %u, "
		    "\"alive\": %s, \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64
		    "}", i ? "," : "", t->off, t->pid, t->tid,
		    t->alive ? "true" : "false", t->blocks, t->bytes);
	}
	printf("], \"tcache_list_ok\": %s,\n \"processes\": [",
	    s->tcache_list_ok ? "true" : "false");
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct snap_proc *q = &s->procs[i];
		printf("%s\n  {\"pid\": %u, \"start\": %" PRIu64 ", \"alive\": %s, "
		    "\"attached\": %s, \"tcaches\": %u}", i ? "," : "", q->pid,
		    q->start, q->alive ? "true" : "false",
		    q->recorded ? "true" : "false", q->tcaches);
	}
	printf("]");
	if (p->checked) {
		printf(",\n \"check\": {\"ok\": %s, \"invariant\": ",
		    p->check_ok ? "true" : "false");
		if (p->check_ok)
			printf("null");
		else
			json_string(p->why);
		printf("}");
	}
	printf("}\n");
}

/* ---- main ----------------------------------------------------------------------- */

static int exit_for(int err)
{
	switch (err) {
	case SNAP_EOPEN:    return EXIT_OPEN;
	case SNAP_ENOTHEAP: return EXIT_NOTHEAP;
	case SNAP_EVERSION: return EXIT_VERSION;
	case SNAP_ETRUNC:   return EXIT_TRUNCATED;
	case SNAP_EBUSY:    return EXIT_BUSY;
	default:            return EXIT_OUTPUT;
	}
}

/* The option getopt_long refused: a short one by its letter (it may sit in
 * a cluster, as -xc), a long one as written. */
static const char *option_named(char **argv)
{
	static char shortopt[3] = "-?";
	if (optopt == 0)
		return argv[optind - 1];
	shortopt[1] = (char)optopt;
	return shortopt;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool check = false, json = false;
	const char *svg = NULL;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":cjs:hV", longopts,
	    NULL)) != -1) {
		switch (opt) {
		case 'c': check = true; break;
		case 'j': json = true; break;
		case 's':
			if (optarg[0] == '\0')
				usage_error("--svg needs a file name", NULL);
			svg = optarg;
			break;
		case 'h': help(); return EXIT_GOOD;
		case 'V': printf("phstat (phmalloc) %s\n", PACKAGE_VERSION);
			return EXIT_GOOD;
		case ':': usage_error("option needs an argument:",
			    option_named(argv));
			break;
		default: usage_error("unknown option", option_named(argv));
		}
	}
	if (optind == argc)
		usage_error("missing heap NAME", NULL);
	if (argc - optind > 1)
		usage_error("one NAME only; extra:", argv[optind + 1]);
	const char *name = argv[optind];
	if (name[0] == '\0')
		usage_error("empty heap NAME", NULL);

	struct snap s;
	int err = snap_open(&s, name);
	if (err) {
		fprintf(stderr, "phstat: %s: %s\n", name, s.why);
		snap_close(&s);
		return exit_for(err);
	}
	struct phstat p = { .snap = &s };
	heap_stats_read_locked(s.h, &p.stats);
	if (check) {
		p.checked = true;
		p.check_ok = heap_validate_locked(s.h, p.why,
		    sizeof(p.why)) == 0;
	}
	if (svg != NULL && svg_write(&p, svg) != 0) {
		fprintf(stderr, "phstat: %s: cannot write: %s\n", svg,
		    strerror(errno));
		snap_close(&s);
		return EXIT_OUTPUT;
	}
	if (json)
		print_json(&p);
	else
		print_text(&p);
	int rc = EXIT_GOOD;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "phstat: cannot write the output: %s\n",
		    strerror(errno));
		rc = EXIT_OUTPUT;
	} else if (check && !p.check_ok) {
		fprintf(stderr, "phstat: %s: broken invariant: %s%s\n", name,
		    p.why, s.consistent ? "" : " (the copy was inconsistent: "
		    "the heap changed while read)");
		rc = s.consistent ? EXIT_BROKEN : EXIT_BUSY;
	}
	snap_close(&s);
	return rc;
}
