#!/bin/sh
# test/dropin/run.sh -- real programs from Debian's packages run under
# LD_PRELOAD of the drop-in build (empty prefix), with allocation-heavy
# work; each output must equal the run without it.
#   run.sh PATH-TO-libphdropin.so [PATH-TO-fork_stdio]
set -u
so=${1:-.libs/libphdropin.so}
fork_stdio=${2:-}
[ -f "$so" ] || { echo "no $so"; exit 1; }
so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
skip=0

check() {   # check NAME COMMAND...: same output with and without phmalloc
	name=$1
	shift
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "SKIP: $name ($1 not installed)"
		skip=$((skip + 1))
		return
	fi
	"$@" >"$work/plain" 2>&1
	LD_PRELOAD=$so "$@" >"$work/ph" 2>&1
	if cmp -s "$work/plain" "$work/ph"; then
		echo "PASS: $name ($(wc -c <"$work/ph") bytes of output)"
		pass=$((pass + 1))
	else
		echo "FAIL: $name: output differs under phmalloc"
		diff "$work/plain" "$work/ph" | head -5
		fail=$((fail + 1))
	fi
}

# The preload is really in place.
if LD_PRELOAD=$so cat /proc/self/maps | grep -q libphdropin; then
	echo "PASS: libphdropin is mapped into preloaded programs"
	pass=$((pass + 1))
else
	echo "FAIL: libphdropin is not mapped under LD_PRELOAD"
	fail=$((fail + 1))
fi
if PHMALLOC_CONF=stats_print:true LD_PRELOAD=$so perl -e 1 2>&1 |
    grep -q "phmalloc statistics"; then
	echo "PASS: phmalloc's allocator serves the preloaded program"
	pass=$((pass + 1))
else
	echo "FAIL: no phmalloc statistics from the preloaded program"
	fail=$((fail + 1))
fi

awk 'BEGIN { srand(7); for (i = 0; i < 300000; i++)
	printf "%d %s\n", int(rand() * 1e9), substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }' \
	>"$work/lines"
check "sort of 300,000 lines" sort -k2,2 -k1,1n "$work/lines"
check "perl hash of 300,000 keys, sorted" perl -e '
	my %h; for my $i (1 .. 300000) { $h{"k" . ($i * 7919 % 1000003)} = "v" x ($i % 50) }
	my $n = 0; for my $k (sort keys %h) { $n += length $h{$k} } print scalar(keys %h), " $n\n"'
check "gawk associative arrays" gawk '{ c[$2]++; s[$2] = s[$2] substr($1, 1, 3) }
	END { n = asorti(c, k); for (i = 1; i <= n; i++) print k[i], c[k[i]], length(s[k[i]]) }' \
	"$work/lines"
check "python3 dict and list churn" python3 -c '
d = {}
for i in range(200000):
    d[str(i * 7919 % 1000003)] = [i] * (i % 20)
for i in range(0, 200000, 3):
    d.pop(str(i * 7919 % 1000003), None)
print(len(d), sum(len(v) for v in d.values()))'
check "sqlite3 200,000 rows with an index" sqlite3 :memory: "
	CREATE TABLE t(a INTEGER, b TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
	INSERT INTO t SELECT (i * 7919) % 100003, printf('row %d %s', i, hex(randomblob(0)) || substr('xxxxxxxxxxxxxxxxxxxx', 1, i % 20)) FROM n;
	CREATE INDEX ta ON t(a);
	SELECT count(*), sum(length(b)), max(a) FROM t WHERE a BETWEEN 1000 AND 90000;"
# fork while threads are inside stdio and malloc (glibc's
# tst-malloc-fork-deadlock): the run must end.  The timeout only catches a
# hang, generously: 300 forks take about a second.
if [ -n "$fork_stdio" ]; then
	if LD_PRELOAD=$so timeout 600 "$fork_stdio" 300 >"$work/fork" 2>&1; then
		echo "PASS: $(cat "$work/fork")"
		pass=$((pass + 1))
	else
		rc=$?
		[ $rc -eq 124 ] && echo "FAIL: fork with threads in stdio hung" ||
			echo "FAIL: fork with threads in stdio: exit $rc: $(cat "$work/fork")"
		fail=$((fail + 1))
	fi
fi
echo "dropin: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -ge 5 ]
