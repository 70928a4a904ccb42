#!/bin/sh
# test/house/check_layers.sh -- no file of the engine calls a higher
# layer: the objects of libphinternal.la against the layer table
# tools/layers.txt (tools/check_layers.py).  First the checker's
# self-test, which must see a call up fail, then the objects, which
# `make` built (libphinternal.la is in all): src/libphinternal_la-*.o of
# the build directory, where automake runs the tests, or src/.libs/ in a
# build without static objects.  A leftover object whose source is gone
# from src/ is not checked.  Skipped (77) without python3, nm or cc.
if ! command -v python3 >/dev/null 2>&1; then
	echo "python3 is not installed: skipped"
	exit 77
fi
top=${srcdir:-.}
tool="$top/tools/check_layers.py"
python3 "$tool" --self-test || exit $?
set --
for dir in src src/.libs; do
	for o in "$dir"/libphinternal_la-*.o; do
		stem=${o##*/libphinternal_la-}
		if [ -f "$o" ] && [ -f "$top/src/${stem%.o}.c" ]; then
			set -- "$@" "$o"
		fi
	done
	[ $# -gt 0 ] && break
done
if [ $# -eq 0 ]; then
	echo "no src/libphinternal_la-*.o in $(pwd): build libphinternal.la"
	exit 1
fi
exec python3 "$tool" --table "$top/tools/layers.txt" \
	--prefix libphinternal_la- "$@"
