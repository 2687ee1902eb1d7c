#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Soak: libFuzzer with the field-aware mutator on the newest variant with the shipped suppressions,
# in record-and-continue mode (DIOFUZZ_COLLECT: an unsuppressed finding is recorded, not fatal),
# for SECONDS; then the RSS over executions (from libFuzzer's status lines) and every unsuppressed
# signature recorded.
#
#   scripts/soak.sh SECONDS [OUTDIR]      (OUTDIR default: target/soak)
#
# Environment: DIOFUZZ_VARIANT (default v7.3, the newest), DIOFUZZ_MUTATOR (default field),
# SOAK_RUNS (libFuzzer: stop after this many executions; default: time only), ASAN_OPTIONS,
# SOAK_ENGINE (libfuzzer, the default; afl or honggfuzz: run through `diofuzz fuzz`),
# SOAK_BIN (libFuzzer: soak this already built dio_write binary instead of building one).
# On a shared machine with sched_autogroup (/proc/sys/kernel/sched_autogroup_enabled), nice alone
# does not keep the soak's core: `echo -20 > /proc/PID/autogroup` does (docs/engines-bench.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/soak.sh SECONDS [OUTDIR]}
out=${2:-target/soak}
rm -rf "$out"; mkdir -p "$out/corpus" "$out/collect" "$out/artifacts"
cp corpus/dio_write/* "$out/corpus/"
variant=${DIOFUZZ_VARIANT:-v7.3}
engine=${SOAK_ENGINE:-libfuzzer}
if [ "$engine" != libfuzzer ]; then
    # AFL++ / honggfuzz: `diofuzz fuzz --record-and-continue` for SECONDS; the target processes'
    # RSS is sampled every 5 s (AFL++ also reports its own peak_rss_mb).
    case $engine in afl|honggfuzz) ;; *) echo "soak: SOAK_ENGINE=$engine: want libfuzzer, afl or honggfuzz" >&2; exit 2 ;; esac
    cargo build --release -q -p diofuzz-tools
    ( while sleep 5; do
        # the target binary itself (harness/afl/target/.../dio_write, hfuzz_target/.../dio_write), not the engine
        ps -eo rss=,args= | awk -v t="$(date +%s)" '$2 ~ /(harness\/afl\/target|hfuzz_target).*\/dio_write$/ {if ($1 > m) m = $1} END {print t, m + 0}'
      done ) > "$out/rss.txt" &
    sampler=$!
    trap 'kill $sampler 2>/dev/null' EXIT
    echo "soak: $engine on $variant, suppressions/newest.txt, mutator ${DIOFUZZ_MUTATOR:-field}, ${secs}s -> $out" >&2
    target/release/diofuzz fuzz --engine "$engine" --variant "$variant" --time "$secs" --no-merge \
        --record-and-continue --corpus "$out/corpus" --findings "$out/findings" \
        --mutator "${DIOFUZZ_MUTATOR:-field}" > "$out/log" 2>&1 || true
    kill $sampler 2>/dev/null || true
    cp -r "target/diofuzz-engines/dio_write-$variant/$engine/collect" "$out/collect" 2>/dev/null || true
    grep -A3 '^engine ' "$out/log" || tail -20 "$out/log"
    [ "$engine" = afl ] && grep -h 'peak_rss_mb\|execs_done' target/diofuzz-engines/dio_write-$variant/afl/*/default/fuzzer_stats target/diofuzz-engines/dio_write-$variant/afl/*/fuzzer_stats 2>/dev/null || true
    python3 - "$out/rss.txt" <<'PY'
import sys
pts = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
pts = [(t, kb) for t, kb in pts if kb > 0]
if not pts:
    sys.exit("soak: no target process seen")
t0 = pts[0][0]
print(f"target RSS (sampled every 5 s): first {pts[0][1] // 1024} MB, peak {max(k for _, k in pts) // 1024} MB, last {pts[-1][1] // 1024} MB over {pts[-1][0] - t0} s")
half = [p for p in pts if p[0] - t0 >= (pts[-1][0] - t0) / 2]
print(f"second half: {half[0][1] // 1024} -> {half[-1][1] // 1024} MB")
PY
    echo "unsuppressed signatures recorded: $(cat "$out/collect/signatures.tsv" 2>/dev/null | wc -l)"
    cut -f2,3 "$out/collect/signatures.tsv" 2>/dev/null | head -20 || true
    exit 0
fi
runs=()
[ -n "${SOAK_RUNS:-}" ] && runs=(-runs="$SOAK_RUNS")
# Build (a 1-second run on an empty corpus), then run the built binary directly.
if [ -n "${SOAK_BIN:-}" ]; then
    bin=$SOAK_BIN
    [ -x "$bin" ] || { echo "soak: SOAK_BIN=$bin is not an executable file" >&2; exit 2; }
else
    mkdir -p "$out/warm"
    DIOFUZZ_CORPUS="$out/warm" DIOFUZZ_ARTIFACTS="$out/artifacts/" scripts/fuzz.sh 1 >/dev/null 2>&1 || true
    bin=$(ls -t fuzz/target/*/release/dio_write | head -1)
fi
echo "soak: $bin on $variant, suppressions/newest.txt, mutator ${DIOFUZZ_MUTATOR:-field}, ${secs}s -> $out" >&2
DIOFUZZ_VARIANT=$variant DIOFUZZ_SUPPRESS="$PWD/suppressions/newest.txt" DIOFUZZ_COLLECT="$out/collect" \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=0} \
    "$bin" "$out/corpus" -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2560 -timeout=10 \
    -dict=fuzz/dio_write.dict -artifact_prefix="$out/artifacts/" -print_final_stats=1 "${runs[@]}" > "$out/log" 2>&1 || true
# RSS per executions: libFuzzer's "#N ... rss: XMb" lines.
python3 - "$out/log" <<'PY'
import re, sys
pts = [(int(m.group(1)), int(m.group(2))) for m in
       (re.search(r"^#(\d+)\s.*rss: (\d+)Mb", l) for l in open(sys.argv[1], errors="replace")) if m]
if not pts:
    sys.exit("soak: no status lines in the log")
n, r = pts[-1]
print(f"executions: {n}, peak RSS: {max(x[1] for x in pts)} MB, last RSS: {r} MB")
marks = [10**5, 10**6] + [k * 10**6 for k in range(2, 1000)]
rows = []
for m in marks:
    at = [p for p in pts if p[0] >= m]
    if at:
        rows.append(at[0])
print("executions  RSS MB")
for e, mb in rows:
    print(f"{e:>10}  {mb}")
half = [p for p in pts if p[0] >= n // 2]
if len(half) > 1 and n > 2 * 10**6:
    (e0, r0), (e1, r1) = half[0], half[-1]
    print(f"growth over the second half: {(r1 - r0) / ((e1 - e0) / 1e6):.2f} MB per 10^6 executions")
PY
echo "unsuppressed signatures recorded: $(cat "$out/collect/signatures.tsv" 2>/dev/null | wc -l)"
cut -f2,3 "$out/collect/signatures.tsv" 2>/dev/null | head -20 || true
