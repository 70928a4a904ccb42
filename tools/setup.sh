#!/bin/sh
# tools/setup.sh -- build phmalloc (ph_ prefix, private heaps) and run the
# main job: separately started processes sharing a heap in POSIX shm, then
# a reset (examples/shm_demo).
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p build/main
cd build/main
[ -f Makefile ] || ../../configure --enable-private-heap >/dev/null
make -j2 >/dev/null
echo "built: build/main/.libs/libphmalloc.so (prefix ph_)"
./examples/shm_demo "$@"
