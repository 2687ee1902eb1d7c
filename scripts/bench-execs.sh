#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# BENCHMARKS.md figure: libFuzzer exec/s of dio_write against the no-op target, both built the same
# way (cargo fuzz build -O, ASan, ASAN_OPTIONS as scripts/fuzz.sh sets them) and run in the same
# invocation on the same corpus: the seeds grown by WARMUP seconds of dio_write fuzzing first, so
# the figure is the steady state, not the corpus-discovery phase.
#   scripts/bench-execs.sh [SECONDS_PER_TARGET] [VARIANT] [WARMUP]
# dio_write runs with DIOFUZZ_COLLECT (findings are recorded, not fatal) so it runs the full time.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
variant=${2:-v7.3}
warmup=${3:-60}
tc=(); rustup toolchain list | grep -q '^nightly' && tc=(+nightly) || export RUSTC_BOOTSTRAP=1
cargo "${tc[@]}" fuzz build -O dio_write >/dev/null 2>&1
cargo "${tc[@]}" fuzz build -O noop >/dev/null 2>&1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=0}
bin=fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/grown"; cp corpus/dio_write/* "$work/grown/"
DIOFUZZ_VARIANT="$variant" DIOFUZZ_COLLECT="$work/collect" "$bin/dio_write" "$work/grown" -max_len=256 \
    -max_total_time="$warmup" >/dev/null 2>&1 || true
rate() {
    local t=$1; shift
    rm -rf "$work/$t"; cp -r "$work/grown" "$work/$t"
    env "$@" "$bin/$t" "$work/$t" -max_len=256 -max_total_time="$secs" -print_final_stats=1 2>&1 |
        awk '/stat::number_of_executed_units/ {n=$2} /stat::average_exec_per_sec/ {r=$2} END {print n, r}'
}
read -r n_noop r_noop < <(rate noop)
read -r n_dio r_dio < <(rate dio_write DIOFUZZ_VARIANT="$variant" DIOFUZZ_COLLECT="$work/collect")
echo "corpus:    $(ls "$work/grown" | wc -l) inputs after ${warmup}s of warm-up"
echo "noop:      $r_noop exec/s ($n_noop runs in ${secs}s)"
echo "dio_write: $r_dio exec/s ($n_dio runs in ${secs}s, variant $variant)"
awk -v a="$r_dio" -v b="$r_noop" 'BEGIN { printf "ratio:     %.3f of the no-op rate (goal: at least 0.50)\n", a / b }'
