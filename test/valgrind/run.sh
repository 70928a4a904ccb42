#!/bin/sh
# test/valgrind/run.sh -- memcheck sees phmalloc's blocks, and the unit
# tests run clean under it.  Skips (77) when valgrind is not installed.
set -u
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not found: skipped"; exit 77; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail=0

# 1. The misuse in vg_check is reported, each in its place.
valgrind --leak-check=full ./test/valgrind/vg_check >"$log" 2>&1
for want in "Invalid read of size 1" "Invalid write of size 1" \
	"definitely lost: 112 bytes in 1 blocks"; do
	if ! grep -q "$want" "$log"; then
		echo "FAIL: memcheck did not report: $want"
		fail=1
	fi
done
reads=$(grep -c "Invalid read of size 1" "$log")
[ "$reads" -ge 2 ] || { echo "FAIL: expected 2 reads after free, got $reads"; fail=1; }
[ $fail -eq 0 ] && echo "ok: memcheck reports phmalloc misuse"

# 2. The unit tests run clean under memcheck (each test in its own child;
# run_suite.h stretches their timeouts under valgrind and on a busy machine).
for t in test_sizeclass test_page test_slab test_heap test_repair test_tcache test_ctl; do
	if CK_FORK=yes CK_EXCLUDE_TAGS=misuse \
	    valgrind -q --error-exitcode=9 "./test/unit/$t" >"$log" 2>&1; then
		echo "ok: $t under memcheck"
	else
		echo "FAIL: $t under memcheck"; tail -20 "$log"; fail=1
	fi
done
exit $fail
