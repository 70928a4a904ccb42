/*
 * conf.c -- run-time options from PHMALLOC_CONF, in jemalloc's form
 * "name:value,name:value".
 *
 * Parsed once, before the process heap exists, so nothing here may
 * allocate: the string is copied to a stack buffer and parsed in place.
 * An unknown or malformed option gets one line on stderr and is ignored
 * (abort_conf:true anywhere in the string turns that into an abort, as in
 * jemalloc).  A setuid or setgid process reads no PHMALLOC_CONF.
 */
#define _GNU_SOURCE   /* secure_getenv */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"

#define CONF_MAX      1024                  /* longest string we read */
#define RESERVE_MIN   ((size_t)64 << 20)

struct opts opts = {
	.abort_conf = false,
	.junk = false,
	.zero = false,
	.tcache = true,
	.stats_print = false,
	.decay_ms = 10000,
	.reserve = (size_t)256 << 30,
	.narenas = 0,               /* 0: ARENAS_PER_CPU per CPU (heap.c) */
	.paranoid = false,
	.thp = THP_AUTO,
};

static void conf_bad(const char *name, size_t nlen, const char *why)
{
	if (opts.abort_conf)
		report_fatal("bad option '%.*s' in PHMALLOC_CONF: %s",
		    (int)nlen, name, why);
	report_warn("bad option '%.*s' in PHMALLOC_CONF: %s (ignored)",
	    (int)nlen, name, why);
}

static bool parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* [jemalloc] abort_conf holds for the whole string, the options before it
 * and a string too long included: its last valid item says, read in a
 * first pass (conf_apply then only checks it). */
static bool conf_wants_abort(const char *s)
{
	bool want = opts.abort_conf;
	for (const char *item = s;; item++) {
		size_t n = strcspn(item, ",");
		if (n > 11 && strncmp(item, "abort_conf:", 11) == 0) {
			char v[8] = "";
			if (n - 11 < sizeof(v))
				memcpy(v, item + 11, n - 11);
			(void)parse_bool(v, &want);
		}
		item += n;
		if (*item == '\0')
			return want;
	}
}

static bool parse_int(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return false;
	*out = x;
	return true;
}

/* A size with an optional k/m/g/t suffix (powers of 1024). */
static bool parse_size(const char *v, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno != 0 || end == v || v[strspn(v, " \t\n\v\f\r")] == '-')
		return false;   /* (strtoull skips white space, then negates) */
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end != '\0' || (shift && x > (~0ull >> shift)))
		return false;
	*out = (size_t)(x << shift);
	return true;
}

/* Applies one name:value pair; both are NUL-terminated. */
static void conf_apply(const char *name, const char *v)
{
	size_t nlen = strlen(name);
	bool b;
	int64_t i;
	size_t z;

#define BOOL_OPT(n, field) \
	if (strcmp(name, n) == 0) { \
		if (parse_bool(v, &b)) \
			opts.field = b; \
		else \
			conf_bad(name, nlen, "expects true or false"); \
		return; \
	}
	if (strcmp(name, "abort_conf") == 0) {   /* conf_parse's first pass */
		if (!parse_bool(v, &b))
			conf_bad(name, nlen, "expects true or false");
		return;
	}
	BOOL_OPT("tcache", tcache)
	BOOL_OPT("stats_print", stats_print)
	BOOL_OPT("paranoid", paranoid)
#undef BOOL_OPT
	if (strcmp(name, "junk") == 0 || strcmp(name, "zero") == 0) {
		if (!parse_bool(v, &b))
			conf_bad(name, nlen, "expects true or false");
		else if (!config_fill)
			conf_bad(name, nlen, "this build lacks --enable-fill");
		else if (name[0] == 'j')
			opts.junk = b;
		else
			opts.zero = b;
		return;
	}
	if (strcmp(name, "decay_ms") == 0 ||
	    strcmp(name, "dirty_decay_ms") == 0) {
		if (parse_int(v, &i) && i >= -1)
			opts.decay_ms = i;
		else
			conf_bad(name, nlen, "expects -1 (never) or milliseconds");
		return;
	}
	if (strcmp(name, "reserve") == 0) {
		if (parse_size(v, &z) && z >= RESERVE_MIN)
			opts.reserve = z;
		else
			conf_bad(name, nlen, "expects a size of at least 64m");
		return;
	}
	if (strcmp(name, "thp") == 0) {
		if (strcmp(v, "auto") == 0)
			opts.thp = THP_AUTO;
		else if (strcmp(v, "default") == 0)
			opts.thp = THP_DEFAULT;
		else if (strcmp(v, "always") == 0)
			opts.thp = THP_ALWAYS;
		else if (strcmp(v, "never") == 0)
			opts.thp = THP_NEVER;
		else
			conf_bad(name, nlen, "expects auto, default, always or never");
		return;
	}
	if (strcmp(name, "narenas") == 0) {
		if (parse_int(v, &i) && i >= 1 && i <= ARENAS_MAX)
			opts.narenas = (unsigned)i;
		else
			conf_bad(name, nlen, "expects 1 to " PH_STR(ARENAS_MAX));
		return;
	}
	conf_bad(name, nlen, "unknown option");
}

void conf_parse(const char *s)
{
	char buf[CONF_MAX];
	opts.abort_conf = conf_wants_abort(s);
	size_t len = strlen(s);
	if (len >= sizeof(buf)) {
		conf_bad(s, 16, "string too long");
		return;
	}
	memcpy(buf, s, len + 1);
	for (char *item = buf, *next; item != NULL; item = next) {
		next = strchr(item, ',');
		if (next != NULL)
			*next++ = '\0';
		if (*item == '\0')
			continue;   /* empty item, e.g. a trailing comma */
		char *colon = strchr(item, ':');
		if (colon == NULL || colon == item) {
			conf_bad(item, strlen(item), "expects name:value");
			continue;
		}
		*colon = '\0';
		conf_apply(item, colon + 1);
	}
}

void conf_init(void)
{
	static _Atomic bool done;
	bool expect = false;
	if (!atomic_compare_exchange_strong(&done, &expect, true))
		return;
	opts.tcache = config_tcache;
	/* Not in a setuid or setgid process: whoever runs it must not set
	 * its allocator's options (jemalloc asks the same). */
#ifdef HAVE_SECURE_GETENV
	const char *s = secure_getenv("PHMALLOC_CONF");
#else
	const char *s = getuid() == geteuid() && getgid() == getegid() ?
	    getenv("PHMALLOC_CONF") : NULL;
#endif
	if (s != NULL)
		conf_parse(s);
	if (!config_tcache)
		opts.tcache = false;
}
