#!/bin/sh
# tools/deps.sh -- install what building and testing phmalloc needs, from
# Debian's packages.  Does nothing when everything is already there.
set -eu
need=""
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in build-essential autoconf automake libtool pkg-config check \
	valgrind clang perl gawk sqlite3 python3 coreutils mandoc librsvg2-bin; do
	have "$pkg" || need="$need $pkg"
done
if [ -n "$need" ]; then
	echo "tools/deps.sh: installing:$need"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi
