#!/bin/bash
# bench/run.sh -- build and run phmalloc's benchmarks against its peers and
# write bench/results.md and bench/results.svg (generated; never edit them).
#
#   bench/run.sh BUILDDIR          (what `make bench` runs)
#
# Environment:
#   BENCH_QUICK=1        3 rounds, a quarter of the work (< 2 min)
#   BENCH_ROUNDS=N       rounds per figure (default 7; 3 with BENCH_QUICK)
#   BENCH_SCALE=F        multiplies the work of every process-mode workload
#   BENCH_ONLY="w1 w7"   run only these workloads (w1..w13, cg for callgrind,
#                        sys for the system calls under strace)
#   BENCH_SYS_SCALE=F    work multiplier of the strace runs (default 0.01)
#   BENCH_ALLOCS="phmalloc glibc"   process-mode allocators to run
#   BENCH_OUT=FILE       write the report here (default SRCDIR/bench/results.md)
#   BENCH_NO_INSTALL=1   never apt-get install; report what is missing
#   BENCH_TIMEOUT=S      seconds one driver run may take (default 120)
#
# Method: for every figure the allocators run interleaved (A B C A B C ...,
# the order rotated each round), each run a fresh process; the report gives
# the median, the spread (min-max) and the ratio to phmalloc in the same run.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

builddir=${1:?usage: run.sh BUILDDIR}
builddir=$(cd "$builddir" && pwd) || exit 1
srcdir=$(cd "$(dirname "$0")/.." && pwd) || exit 1
MAKE=${MAKE:-make}
quick=${BENCH_QUICK:-0}
[ "$quick" = 0 ] && quick=
if [ -n "$quick" ]; then
	rounds=${BENCH_ROUNDS:-3}; scale=${BENCH_SCALE:-0.25}
	shm_ms=300; cg_pats="pair16 fifo256 ring"
else
	rounds=${BENCH_ROUNDS:-7}; scale=${BENCH_SCALE:-1}
	shm_ms=1000; cg_pats="pair16 fifo256 ring"
fi
# strace makes every system call cost tens of microseconds, and an
# allocator that makes one per operation would take minutes at full scale;
# a count per 1,000 operations needs little work.
sys_scale=${BENCH_SYS_SCALE:-0.01}
only=${BENCH_ONLY:-"w1 cg w1u w2 w3 w4 w5 w6 w10 w11 w12 w13 sys w7 w8 w9"}
want_allocs=${BENCH_ALLOCS:-"phmalloc glibc jemalloc mimalloc tcmalloc"}
report=${BENCH_OUT:-$srcdir/bench/results.md}
reset_blocks=1000000
shm_mib=256
reset_mib=512
timeout_s=${BENCH_TIMEOUT:-120}   # seconds per driver run; a run past it counts as failed

out=$builddir/bench/out
rm -rf "$out"
mkdir -p "$out/runs" || exit 1
raw=$out/raw.tsv
notes=$out/notes.tsv
meta=$out/meta.txt
: >"$raw"
: >"$notes"
: >"$meta"
t_start=$(date +%s)
# shm objects of this run are named /phb-PID-...; remove leftovers on exit
trap 'rm -f /dev/shm/phb-$$-* 2>/dev/null' EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }
# note KIND TEXT: something the report must say (missing, failed, ...)
note() { printf '%s\t%s\n' "$1" "$2" >>"$notes"; log "$1: $2"; }
meta() { printf '%s=%s\n' "$1" "$2" >>"$meta"; }
wants() { case " $only " in *" $1 "*) return 0;; esac; return 1; }

# ---------------------------------------------------------------------
# 1. packages: install what is missing (apt-get update first), or say so

pkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need="libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libboost-dev libmm-dev valgrind strace"
missing=
if command -v dpkg-query >/dev/null; then
	for p in $need; do pkg_ok "$p" || missing="$missing $p"; done
	if [ -n "$missing" ] && [ -z "${BENCH_NO_INSTALL:-}" ] &&
	   [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing:$missing"
		# shellcheck disable=SC2086 # a list of package names
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $missing; } \
			>"$out/apt.log" 2>&1 || log "apt-get failed, see $out/apt.log"
		still=
		for p in $missing; do pkg_ok "$p" || still="$still $p"; done
		missing=$still
	fi
	for p in $missing; do note missing "Debian package $p is not installed"; done
else
	note missing "dpkg-query not found: cannot check the peer packages"
fi

# ---------------------------------------------------------------------
# 2. build the drivers (EXTRA_PROGRAMS of bench/local.mk)

built() { [ -x "$builddir/bench/$1" ]; }
for prog in phb phb_phshm phb_boost phb_mm phb_phmap; do
	if ! $MAKE -C "$builddir" "bench/$prog" >"$out/build-$prog.log" 2>&1; then
		note build "bench/$prog did not build: $(grep -m1 -iE 'error|No rule' "$out/build-$prog.log" | cut -c1-200)"
	fi
done
if ! built phb; then
	log "the process-mode driver bench/phb did not build; see $out/build-phb.log"
	exit 1
fi
PHB=$builddir/bench/phb

# ---------------------------------------------------------------------
# 3. the machine

meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta nproc "$(nproc)"
meta cpu "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
meta kernel "$(uname -r)"
meta gcc "$(${CC:-gcc} --version 2>/dev/null | head -1)"
meta glibc "$(ldd --version 2>/dev/null | head -1 | sed 's/.* //')"
meta memory "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
for p in libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libboost-dev libmm-dev valgrind strace; do
	meta "pkg_$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)"
done
meta phmalloc_version "$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"/\1/p' "$builddir/config.h" 2>/dev/null)"
meta phmalloc_commit "$(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$srcdir" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
meta phmalloc_configure "$("$builddir/config.status" --config 2>/dev/null)"
meta phmalloc_prefix "$(sed -n 's/^#define PHMALLOC_PREFIX *"\(.*\)"/\1/p' "$builddir/include/phmalloc.h" 2>/dev/null)"
meta quick "${quick:-0}"
meta rounds "$rounds"
meta scale "$scale"
meta sys_scale "$sys_scale"
meta shm_ms "$shm_ms"
meta reset_blocks "$reset_blocks"

# ---------------------------------------------------------------------
# 4. process-mode allocators: one driver binary, LD_PRELOAD

libdir=$(gcc -print-multiarch 2>/dev/null); libdir=/usr/lib/${libdir:-x86_64-linux-gnu}
pkglib() { # PACKAGE BASENAME: the library file the package installed
	local f
	f=$(dpkg -L "$1" 2>/dev/null | grep -m1 "/$2\$")
	[ -n "$f" ] || f=$libdir/$2
	echo "$f"
}
declare -A LIB
LIB[glibc]=
LIB[jemalloc]=$(pkglib libjemalloc2 libjemalloc.so.2)
LIB[mimalloc]=$(pkglib libmimalloc2.0 libmimalloc.so.2)
LIB[tcmalloc]=$(pkglib libtcmalloc-minimal4 libtcmalloc_minimal.so.4)
LIB[phmalloc]=$builddir/.libs/libphdropin.so

allocs=
for a in $want_allocs; do
	lib=${LIB[$a]-unknown}
	if [ "$lib" = unknown ]; then note unavailable "$a: unknown allocator name"; continue; fi
	if [ -n "$lib" ] && [ ! -f "$lib" ]; then
		note unavailable "$a: $lib not found"; continue
	fi
	got=$(LD_PRELOAD=$lib timeout 30 "$PHB" info 2>"$out/info-$a.err" | sed -n 's/^INFO malloc_lib=//p')
	case "$a:$got" in
	glibc:*libc.so*) ;;
	*:"$lib") ;;
	*) note unavailable "$a: malloc does not resolve to $lib under LD_PRELOAD (got '${got:-nothing}'; $(head -c 200 "$out/info-$a.err"))"
	   continue ;;
	esac
	allocs="$allocs $a"
	meta "lib_$a" "${lib:-(none: the C library)}"
done
allocs=${allocs# }
log "process-mode allocators: $allocs; $rounds rounds; scale $scale"

# rotate LIST by N: interleave allocators in a different order each round
rotate() {
	local n=$1; shift
	local -a v=("$@")
	local k=${#v[@]} i
	for ((i = 0; i < k; i++)); do printf '%s ' "${v[(i + n) % k]}"; done
}

# record WORKLOAD ALLOC ROUND FILE [PROC]: RESULT lines -> raw.tsv
record() {
	awk -v w="$1" -v a="$2" -v r="$3" -v p="${5:-0}" '
	/^RESULT / {
		m = ""; v = ""; h = ""
		for (i = 2; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "metric") m = kv[2]
			else if (kv[1] == "value") v = kv[2]
			else if (kv[1] == "hwm_kb") h = kv[2]
		}
		if (m != "" && v != "") printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w, a, r, p, m, v, h
	}' "$4" >>"$raw"
}

declare -A FAILED
# outcome WORKLOAD ALLOC ROUND RC FILE: note a failed run once per figure
outcome() {
	local w=$1 a=$2 r=$3 rc=$4 f=$5 why
	[ "$rc" = 0 ] && grep -q '^RESULT ' "$f" && return 0
	if grep -q '^UNAVAILABLE ' "$f"; then
		why=$(sed -n 's/^UNAVAILABLE //p' "$f" | head -1)
	elif [ "$rc" = 124 ]; then why="timed out after ${timeout_s}s"
	elif [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
	else why="exit status $rc"; fi
	why="$why; $(tail -c 300 "$f.err" 2>/dev/null | tr '\n' ' ')"
	if [ -z "${FAILED[$w/$a]:-}" ]; then
		FAILED[$w/$a]=1
		note failed "$w $a round $r: $why"
	fi
	return 1
}

# run_proc WORKLOAD ALLOC ROUND ARGS...: one driver run under LD_PRELOAD
run_proc() {
	local w=$1 a=$2 r=$3; shift 3
	local f=$out/runs/$w-$a-$r.out rc
	LD_PRELOAD=${LIB[$a]} timeout "$timeout_s" "$PHB" "$@" >"$f" 2>"$f.err"
	rc=$?
	outcome "$w" "$a" "$r" "$rc" "$f" && record "$w" "$a" "$r" "$f"
}

# process-mode workloads, each figure interleaving the allocators
declare -A PW=([w1]="pair16 fifo256 ring" [w2]=larson [w3]=xmalloc [w4]=scratch
	[w5]=sizemix [w6]=frag [w10]=fork [w11]=memalign [w12]=classes [w13]=handoff)
proc_wks="w1 w2 w3 w4 w5 w6 w10 w11 w12 w13"
for wk in $proc_wks; do
	wants "$wk" || continue
	for w in ${PW[$wk]}; do
		log "$wk $w"
		for ((r = 1; r <= rounds; r++)); do
			# shellcheck disable=SC2086 # a list of names
			for a in $(rotate "$r" $allocs); do
				[ -n "${FAILED[$w/$a]:-}" ] && continue
				run_proc "$w" "$a" "$r" "$w" "$scale"
			done
		done
	done
done

# instructions per pair under callgrind (repeatable, so one round)
if wants cg; then
	if ! command -v valgrind >/dev/null; then
		note missing "valgrind is not installed: no instruction counts"
	else
		for w in $cg_pats; do
			log "callgrind $w"
			for a in $allocs; do
				[ -n "${FAILED[$w/$a]:-}" ] && continue
				f=$out/runs/cg-$w-$a
				PHB_CALLGRIND=1 LD_PRELOAD=${LIB[$a]} \
					timeout "$timeout_s" valgrind --tool=callgrind \
					--callgrind-out-file="$f.cg" --toggle-collect='phb_measured*' \
					"$PHB" "$w" >"$f.out" 2>"$f.out.err"
				rc=$?
				if outcome "cg_$w" "$a" 1 "$rc" "$f.out"; then
					pairs=$(sed -n 's/^RESULT metric=pairs value=//p' "$f.out")
					ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f.cg" | head -1)
					[ -n "$ir" ] || ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f.cg" | head -1)
					if [ -n "$ir" ] && [ -n "$pairs" ]; then
						printf '%s\t%s\t1\t0\tir_per_pair\t%s\t\n' "$w" "$a" \
							"$(awk -v i="$ir" -v p="$pairs" 'BEGIN {printf "%.1f", i / p}')" >>"$raw"
					else
						note failed "callgrind $w $a: no instruction total in $f.cg"
					fi
				fi
			done
		done
	fi
fi

# W1u: the 16 B pair without a thread cache (PHMALLOC_CONF and MALLOC_CONF
# tcache:false: each allocator reads its own), phmalloc and jemalloc, timed
# (interleaved) and under callgrind; the report sets each beside its own
# cached pair (pair16 above).
if wants w1u; then
	log "w1u pair16 without a thread cache"
	ua=""
	for a in phmalloc jemalloc; do
		case " $allocs " in *" $a "*) ua="$ua $a" ;; esac
	done
	for ((r = 1; r <= rounds; r++)); do
		# shellcheck disable=SC2086 # a list of names
		for a in $(rotate "$r" $ua); do
			[ -n "${FAILED[pair16u/$a]:-}" ] && continue
			f=$out/runs/pair16u-$a-$r.out
			PHMALLOC_CONF=tcache:false MALLOC_CONF=tcache:false \
				LD_PRELOAD=${LIB[$a]} timeout "$timeout_s" "$PHB" pair16 \
				"$scale" >"$f" 2>"$f.err"
			rc=$?
			outcome pair16u "$a" "$r" "$rc" "$f" && record pair16u "$a" "$r" "$f"
		done
	done
	if command -v valgrind >/dev/null; then
		for a in $ua; do
			f=$out/runs/cg-pair16u-$a
			PHMALLOC_CONF=tcache:false MALLOC_CONF=tcache:false \
				PHB_CALLGRIND=1 LD_PRELOAD=${LIB[$a]} \
				timeout "$timeout_s" valgrind --tool=callgrind \
				--callgrind-out-file="$f.cg" --toggle-collect='phb_measured*' \
				"$PHB" pair16 >"$f.out" 2>"$f.out.err"
			rc=$?
			if outcome cg_pair16u "$a" 1 "$rc" "$f.out"; then
				pairs=$(sed -n 's/^RESULT metric=pairs value=//p' "$f.out")
				ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f.cg" | head -1)
				[ -n "$ir" ] || ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f.cg" | head -1)
				[ -n "$ir" ] && [ -n "$pairs" ] &&
					printf '%s\t%s\t1\t0\tir_per_pair\t%s\t\n' pair16u "$a" \
					"$(awk -v i="$ir" -v p="$pairs" 'BEGIN {printf "%.1f", i / p}')" >>"$raw"
			fi
		done
	fi
fi

# system calls per 1,000 operations: one run of each process-mode
# workload under `strace -f -c` per allocator (strace is deterministic
# enough for counts, and slow, so one run at BENCH_SYS_SCALE).  The driver
# says how many malloc/free/realloc/memalign calls the run made
# (INFO alloc_ops=N); every system call of the process is counted,
# start-up included, which `phb info` under strace shows on its own.

# sys_record WORKLOAD ALLOC STRACE_FILE OPS: counts -> raw.tsv, per 1,000 ops
sys_record() {
	awk -v w="$1" -v a="$2" -v ops="$4" '
	# strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall
	/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ {
		n = $4; name = $NF
		if (name == "total") total = n
		else if (name == "rt_sigprocmask") mask += n
		else if (name ~ /^(mmap|munmap|mremap|madvise|brk|mprotect)$/) mem += n
		else if (name == "futex") futex += n
		else if (name == "sched_yield") yield += n
	}
	END {
		if (total == "") exit 1
		k = ops > 0 ? 1000 / ops : 0
		printf "%s\t%s\t1\t0\tsys_calls\t%d\t\n", w, a, total
		if (ops > 0) {
			printf "%s\t%s\t1\t0\talloc_ops\t%d\t\n", w, a, ops
			printf "%s\t%s\t1\t0\tsys_per_kop\t%.4f\t\n", w, a, total * k
			printf "%s\t%s\t1\t0\tsigmask_per_kop\t%.4f\t\n", w, a, mask * k
			printf "%s\t%s\t1\t0\tsysmem_per_kop\t%.4f\t\n", w, a, mem * k
			printf "%s\t%s\t1\t0\tfutex_per_kop\t%.4f\t\n", w, a, futex * k
			printf "%s\t%s\t1\t0\tyield_per_kop\t%.4f\t\n", w, a, yield * k
		} else {
			printf "%s\t%s\t1\t0\tsigmask_calls\t%d\t\n", w, a, mask
		}
	}' "$3" >>"$raw"
}

# sys_run WORKLOAD ALLOC ARGS...: one driver run under strace; WORKLOAD
# startup is `phb info`, which runs no workload and counts no operations
sys_run() {
	local w=$1 a=$2 f ops rc; shift 2
	f=$out/runs/sys-$w-$a
	LD_PRELOAD=${LIB[$a]} timeout "$timeout_s" strace -f -c -o "$f.strace" \
		"$PHB" "$@" >"$f.out" 2>"$f.out.err"
	rc=$?
	if [ "$w" = startup ]; then
		ops=0
		[ "$rc" = 0 ] || { note failed "strace phb info $a: exit status $rc"; return; }
	else
		outcome "sys_$w" "$a" 1 "$rc" "$f.out" || return
		ops=$(sed -n 's/^INFO alloc_ops=//p' "$f.out" | head -1)
	fi
	if [ -z "$ops" ] || ! sys_record "$w" "$a" "$f.strace" "$ops"; then
		note failed "strace $w $a: no alloc_ops line or no total in $f.strace"
	fi
}

if wants sys; then
	if ! command -v strace >/dev/null; then
		note missing "strace is not installed: no system call counts"
	else
		sys_ws=
		for wk in $proc_wks; do wants "$wk" && sys_ws="$sys_ws ${PW[$wk]}"; done
		# BENCH_ONLY=sys alone: every process-mode workload
		[ -n "$sys_ws" ] || for wk in $proc_wks; do sys_ws="$sys_ws ${PW[$wk]}"; done
		log "system calls under strace, scale $sys_scale:$sys_ws"
		for a in $allocs; do sys_run startup "$a" info; done
		for w in $sys_ws; do
			for a in $allocs; do
				[ -n "${FAILED[$w/$a]:-}" ] && continue
				sys_run "$w" "$a" "$w" "$sys_scale"
			done
		done
	fi
fi

# ---------------------------------------------------------------------
# 5. shared heaps: phmalloc (separately exec'd processes), Boost, OSSP mm

shared=
if built phb_phshm; then shared="$shared phmalloc"
else note unavailable "phmalloc shared: not available (bench/phb_phshm did not build)"; fi
if built phb_boost; then shared="$shared boost"
else note unavailable "Boost.Interprocess: not available (bench/phb_boost did not build; needs libboost-dev)"; fi
if built phb_mm; then shared="$shared mm"
else note unavailable "OSSP mm: not available (bench/phb_mm did not build; needs libmm-dev)"; fi
shared=${shared# }
declare -A SHDRV=([phmalloc]=phb_phshm [boost]=phb_boost)
declare -A SHUNAVAIL

# run_shared ALLOC NPROC ROUND: NPROC processes in one heap
run_shared() {
	local a=$1 np=$2 r=$3 w=shared$2 name=/phb-$$-$1-$2-$3 rc=0 i start f
	f=$out/runs/$w-$a-$r
	if [ "$a" = mm ]; then
		timeout "$timeout_s" "$builddir/bench/phb_mm" run "$np" "$shm_ms" "$shm_mib" >"$f.out" 2>"$f.out.err"
		rc=$?
		outcome "$w" "$a" "$r" "$rc" "$f.out" && record "$w" "$a" "$r" "$f.out"
		return
	fi
	local drv=$builddir/bench/${SHDRV[$a]}
	"$drv" create "$name" "$shm_mib" >"$f.create" 2>"$f.create.err"
	rc=$?
	if [ "$rc" != 0 ]; then
		outcome "$w" "$a" "$r" "$rc" "$f.create"
		"$drv" unlink "$name" >/dev/null 2>&1
		SHUNAVAIL[$a]=1
		[ "$a" = phmalloc ] && note unavailable "phmalloc shared: not available ($(
			sed -n 's/^UNAVAILABLE //p' "$f.create" | head -1; [ "$rc" = 3 ] ||
			echo "create exited $rc: $(tail -c 200 "$f.create.err" | tr '\n' ' ')"))"
		return
	fi
	start=$(( $("$PHB" clock) + 300000000 ))
	local -a pids=()
	for ((i = 1; i <= np; i++)); do
		timeout "$timeout_s" "$drv" run "$name" "$start" "$shm_ms" >"$f.p$i" 2>"$f.p$i.err" &
		pids+=($!)
	done
	for ((i = 1; i <= np; i++)); do
		wait "${pids[i - 1]}"; rc=$?
		outcome "$w" "$a" "$r" "$rc" "$f.p$i" && record "$w" "$a" "$r" "$f.p$i" "$i"
	done
	"$drv" unlink "$name" >/dev/null 2>&1
}

if wants w7; then
	for np in 1 2; do
		log "w7 shared heap, $np process(es)"
		for ((r = 1; r <= rounds; r++)); do
			# shellcheck disable=SC2086 # a list of names
			for a in $(rotate "$r" $shared); do
				[ -n "${SHUNAVAIL[$a]:-}" ] && continue
				[ -n "${FAILED[shared$np/$a]:-}" ] && continue
				run_shared "$a" "$np" "$r"
			done
		done
	done
fi

if wants w8; then
	log "w8 reset with $reset_blocks live blocks"
	for ((r = 1; r <= rounds; r++)); do
		for a in $(rotate "$r" phmalloc boost); do
			case " $shared " in *" $a "*) ;; *) continue;; esac
			[ -n "${FAILED[reset/$a]:-}" ] && continue
			f=$out/runs/reset-$a-$r.out
			timeout "$timeout_s" "$builddir/bench/${SHDRV[$a]}" reset "/phb-$$-reset-$a" \
				"$reset_blocks" "$reset_mib" >"$f" 2>"$f.err"
			rc=$?
			outcome reset "$a" "$r" "$rc" "$f" && record reset "$a" "$r" "$f"
			sed -n 's/^INFO heap=/reset heap: /p' "$f" | head -1 >"$out/reset-$a.info"
			"$builddir/bench/${SHDRV[$a]}" unlink "/phb-$$-reset-$a" >/dev/null 2>&1
		done
	done
	[ -s "$out/reset-phmalloc.info" ] && meta reset_heap "$(sed 's/^reset heap: //' "$out/reset-phmalloc.info")"
fi

# ---------------------------------------------------------------------
# 5b. workload 9: a hash map in a shared heap (phmalloc's ph::shared_allocator,
# Boost.Interprocess's allocator), and on std::allocator (glibc) for scale

# run_map ALLOC NPROC ROUND: NPROC processes, each with its own map in one
# heap (glibc: in its own memory, nothing shared)
run_map() {
	local a=$1 np=$2 r=$3 w=map$2 name=/phb-$$-map-$1-$2-$3 rc i start f drv
	local -a cmd
	f=$out/runs/$w-$a-$r
	case $a in
	boost) drv=$builddir/bench/phb_boost ;;
	*) drv=$builddir/bench/phb_phmap ;;
	esac
	if [ "$a" != glibc ]; then
		"$drv" create "$name" "$shm_mib" >"$f.create" 2>"$f.create.err"
		rc=$?
		if [ "$rc" != 0 ]; then
			outcome "$w" "$a" "$r" "$rc" "$f.create"
			"$drv" unlink "$name" >/dev/null 2>&1
			return
		fi
	fi
	start=$(( $("$PHB" clock) + 300000000 ))
	if [ "$a" = glibc ]; then cmd=(private "$start" "$shm_ms")
	else cmd=(maprun "$name" "$start" "$shm_ms"); fi
	local -a pids=()
	for ((i = 1; i <= np; i++)); do
		timeout "$timeout_s" "$drv" "${cmd[@]}" >"$f.p$i" 2>"$f.p$i.err" &
		pids+=($!)
	done
	for ((i = 1; i <= np; i++)); do
		wait "${pids[i - 1]}"; rc=$?
		outcome "$w" "$a" "$r" "$rc" "$f.p$i" && record "$w" "$a" "$r" "$f.p$i" "$i"
	done
	[ "$a" = glibc ] || "$drv" unlink "$name" >/dev/null 2>&1
}

if wants w9; then
	maps=
	if built phb_phmap; then maps="phmalloc glibc"
	else note unavailable "phmalloc map: not available (bench/phb_phmap did not build)"; fi
	if built phb_boost; then maps="$maps boost"
	else note unavailable "Boost.Interprocess map: not available (bench/phb_boost did not build; needs libboost-dev)"; fi
	for np in 1 2; do
		log "w9 hash map in a shared heap, $np process(es)"
		for ((r = 1; r <= rounds; r++)); do
			# shellcheck disable=SC2086 # a list of names
			for a in $(rotate "$r" $maps); do
				[ -n "${FAILED[map$np/$a]:-}" ] && continue
				run_map "$a" "$np" "$r"
			done
		done
	done
fi

# ---------------------------------------------------------------------
# 6. the report

t_end=$(date +%s)
meta duration_s "$((t_end - t_start))"
meta shared_allocs "$shared"
meta allocs "$allocs"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! touch "$report" 2>/dev/null; then
	log "cannot write $report; writing $builddir/bench/results.md instead"
	report=$builddir/bench/results.md
fi
svg=${report%.md}.svg
"$py" "$srcdir/bench/report.py" --raw "$raw" --notes "$notes" --meta "$meta" \
	--out "$report" --svg "$svg" || exit 1
cp "$raw" "$out/raw-copy.tsv" 2>/dev/null
log "wrote $report and $svg in $((t_end - t_start)) s (raw figures: $raw)"
