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
# SOAK_RUNS (stop after this many executions; default: time only), ASAN_OPTIONS.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/soak.sh SECONDS [OUTDIR]}
out=${2:-target/soak}
rm -rf "$out"; mkdir -p "$out/corpus" "$out/collect" "$out/artifacts"
cp corpus/dio_write/* "$out/corpus/"
variant=${DIOFUZZ_VARIANT:-v7.3}
runs=()
[ -n "${SOAK_RUNS:-}" ] && runs=(-runs="$SOAK_RUNS")
# Build (a 1-second run on an empty corpus), then run the built binary directly.
mkdir -p "$out/warm"
DIOFUZZ_CORPUS="$out/warm" DIOFUZZ_ARTIFACTS="$out/artifacts/" scripts/fuzz.sh 1 >/dev/null 2>&1 || true
bin=$(ls -t fuzz/target/*/release/dio_write | head -1)
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
