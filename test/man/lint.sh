#!/bin/sh
# test/man/lint.sh -- every manual page in man/ is clean under mandoc's
# lint (warnings and worse; style hints such as a page not installed on
# this machine are not counted).  Skipped (77) where mandoc is missing;
# tools/deps.sh installs it, so CI runs it.
if ! command -v mandoc >/dev/null 2>&1; then
	echo "mandoc is not installed: skipped"
	exit 77
fi
status=0
n=0
for page in "${srcdir:-.}"/man/*.[1-9]; do
	[ -f "$page" ] || continue
	n=$((n + 1))
	out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		echo "$page: mandoc -Tlint exit $rc"
		echo "$out"
		status=1
	fi
done
if [ "$n" -eq 0 ]; then
	echo "no manual pages found in ${srcdir:-.}/man"
	exit 1
fi
echo "$n pages checked"
exit $status
