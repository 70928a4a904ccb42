#!/bin/sh
# test/house/check_names.sh -- every `file.c:function` and `function()`
# that a comment in src/ or include/, doc/*.md or man/*.3 names exists
# (tools/check_names.py).  First the checker's self-test, which must see a
# made-up name fail, then the tree.  Skipped (77) without python3.
if ! command -v python3 >/dev/null 2>&1; then
	echo "python3 is not installed: skipped"
	exit 77
fi
top=${srcdir:-.}
python3 "$top/tools/check_names.py" --root "$top" --self-test || exit 1
exec python3 "$top/tools/check_names.py" --root "$top"
