#!/bin/sh
# Runs one libFuzzer target for a bounded time:
#   tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
# from a build directory where "make fuzz" ran (the binaries are in
# ./tests/fuzz or ./fuzz-build/tests/fuzz). New inputs go to a scratch
# directory (printed), the tree's corpus is only read; crashes are written
# to ./fuzz-TARGET-crash-*. Merge interesting inputs into the corpus with
#   fuzz_TARGET -merge=1 CORPUS SCRATCH
set -eu
target=$1
seconds=$2
shift 2
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
bin=tests/fuzz/fuzz_$target
[ -x "$bin" ] || bin=fuzz-build/tests/fuzz/fuzz_$target
[ -x "$bin" ] || { echo "run.sh: no $bin: run 'make fuzz' first" >&2; exit 1; }
corpus=$srcdir/tests/fuzz/corpus/$target
dict=$srcdir/tests/fuzz/$target.dict
scratch=${FUZZ_SCRATCH:-$(mktemp -d "/tmp/fuzz-$target.XXXXXX")}
mkdir -p "$scratch"
echo "run.sh: $bin for ${seconds}s, new inputs in $scratch" >&2
set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="./fuzz-$target-" "$@"
[ -f "$dict" ] && set -- -dict="$dict" "$@"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	exec "$bin" "$@" "$scratch" "$corpus"
