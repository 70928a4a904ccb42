#!/bin/sh
# tools/test.sh -- the whole test suite, as CI runs it.  Each stage builds
# in its own directory under build/ and prints its time; the last line is
# "N passed, N failed" over the stages.  Exit status 0 only if all passed.
#
#   sh tools/test.sh               the suite, as CI runs it
#   sh tools/test.sh --under-load  the same while four CPU-bound processes
#                                  keep the machine busy (a packager's
#                                  loaded build machine): it must pass too
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
hogs=""
if [ "${1:-}" = "--under-load" ]; then
	for i in 1 2 3 4; do
		sh -c 'while :; do :; done' &
		hogs="$hogs $!"
	done
	trap 'kill $hogs 2>/dev/null' EXIT INT TERM
	echo "under load: 4 CPU-bound processes ($hogs) on $(nproc) CPUs"
fi
suite_start=$(date +%s)
sh tools/deps.sh || exit 1
autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; exit 1; }
passed=0
failed=0
failures=""

# stage NAME DIR CONFIGURE-ARGS... -- configure and build in build/DIR, then
# run "make $TARGETS" there (TARGETS defaults to check).
stage() {
	name=$1 dir=$2
	shift 2
	start=$(date +%s)
	log="$top/build/$dir.log"
	mkdir -p "$top/build/$dir"
	if (cd "$top/build/$dir" && "$top/configure" "$@" >"$log" 2>&1 &&
	    make -j2 >>"$log" 2>&1 &&
	    make -j2 ${TARGETS:-check} >>"$log" 2>&1); then
		passed=$((passed + 1))
		echo "PASS: $name ($(( $(date +%s) - start )) s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "FAIL: $name ($(( $(date +%s) - start )) s); log: build/$dir.log"
		grep -E "^(FAIL|ERROR):|[0-9]+%: Checks|error:" "$log" | head -20
	fi
}

# 1-3: make check in the three prefixes, the last with the jemalloc
# private-heap fork's documented configure line.
stage "default build (je_), make check" default
stage "private heap (ph_), make check" private --enable-private-heap
stage "jemalloc fork's configure line, make check" forkline \
	--disable-zone-allocator --disable-tcache --with-jemalloc-prefix=je_ \
	--enable-private-heap
# 4: the debug build: every ph_assert and ph_assert_valid on (base.h).
stage "debug build (--enable-debug), make check" debug --enable-debug \
	--enable-private-heap
# 4b: without statistics (--disable-stats): the counters read 0, as
# README says, and every test that reads them knows it.
stage "no statistics (--disable-stats), make check" nostats --disable-stats
# 5: AddressSanitizer + UBSan over the whole suite.
stage "ASan+UBSan build, make check" asan --enable-private-heap \
	CC=clang CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" \
	LDFLAGS="-fsanitize=address,undefined"
# 6: valgrind memcheck (in the default build's tree).
TARGETS=check-valgrind stage "valgrind memcheck" default
# 7: the drop-in build under LD_PRELOAD with real programs.
TARGETS=check-dropin stage "drop-in malloc under LD_PRELOAD" default
# 8: the tarball builds and passes its tests.
TARGETS=distcheck stage "make distcheck" default
# 9: make install, then a program outside the tree builds with pkg-config
# and runs the shared-heap demo against the installed library.
TARGETS=install stage "make install, pkg-config" \
	private --enable-private-heap --prefix="$top/build/root"
start=$(date +%s)
export PKG_CONFIG_PATH="$top/build/root/lib/pkgconfig"
if cc -o "$top/build/root/demo" "$top/examples/shm_demo.c" \
    $(pkg-config --cflags --libs phmalloc) -Wl,-rpath,"$top/build/root/lib" &&
    "$top/build/root/demo" -w 2 -n 1000 -j 1 >/dev/null; then
	passed=$((passed + 1))
	echo "PASS: a program outside the tree, built with pkg-config ($(( $(date +%s) - start )) s)"
else
	failed=$((failed + 1))
	failures="$failures pkg-config"
	echo "FAIL: a program outside the tree, built with pkg-config"
fi

echo
[ -n "$failures" ] && echo "failed stages:$failures"
echo "total $(( $(date +%s) - suite_start )) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
