#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# CI: libFuzzer with the field-aware mutator (src/mutate.rs) must expose the seed thread's own
# chain on thread-v1 -- ext4_iomap_end returns -ENOTBLK after zero progress, __iomap_dio_rw
# consumes it (short write), ext4_dio_write_iter sends the remainder to generic_perform_write --
# by its exact signature (corpus/regressions/thread_s4_append_zero_progress.expect), within
# THREAD_CHAIN_CAP seconds (90) of fuzzing, starting from the seeds that produce no finding on
# thread-v1. The engine runs in record-and-continue mode (DIOFUZZ_COLLECT), so other findings do
# not stop it; the step ends as soon as the chain is recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
CAP=${THREAD_CHAIN_CAP:-90}
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill -- -"$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The chain's root cause as known-findings.json names it (a glob over signatures), property O1.
pat=$(python3 -c 'import json; print(next(k["signature"] for k in json.load(open("known-findings.json")) if "iomap_end returned -ENOTBLK after zero progress" in k["signature"]))')
echo "looking for: O1:ext4:$pat (example: corpus/regressions/thread_s4_append_zero_progress)"

cargo build -q --release
mkdir -p "$work/seeds" "$work/collect" "$work/artifacts"
for f in corpus/dio_write/*; do
    if ./target/release/diofuzz replay "$f" --variant thread-v1 --quiet >/dev/null; then cp "$f" "$work/seeds/"; fi
done
echo "$(ls "$work/seeds" | wc -l) of $(ls corpus/dio_write | wc -l) seeds produce no finding on thread-v1"

# Build first (a 1-second run on an empty corpus), so that the cap counts fuzzing only.
mkdir -p "$work/warm"
DIOFUZZ_CORPUS="$work/warm" DIOFUZZ_ARTIFACTS="$work/artifacts/" scripts/fuzz.sh 1 >/dev/null 2>&1 || true
t0=$(date +%s)
DIOFUZZ_VARIANT=thread-v1 DIOFUZZ_SUPPRESS= DIOFUZZ_MUTATOR=field DIOFUZZ_COLLECT="$work/collect" \
    DIOFUZZ_CORPUS="$work/seeds" DIOFUZZ_ARTIFACTS="$work/artifacts/" \
    setsid scripts/fuzz.sh "$CAP" > "$work/log" 2>&1 &
pid=$!
# The hash of the first recorded signature of the chain (empty if none yet).
match() {
    python3 - "$work/collect/signatures.tsv" "O1:ext4:$pat" <<'PY'
import fnmatch, sys
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) > 2 and fnmatch.fnmatchcase(f[2], sys.argv[2]):
        print(f[0]); break
PY
}
found=
while (( $(date +%s) - t0 < CAP + 5 )); do
    if [[ -f $work/collect/signatures.tsv ]] && h=$(match) && [[ -n $h ]]; then
        found=$(( $(date +%s) - t0 )); break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
done
kill -- -"$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
if [[ -z $found && -f $work/collect/signatures.tsv ]] && h=$(match) && [[ -n $h ]]; then found=$CAP; fi
n=$(wc -l < "$work/collect/signatures.tsv" 2>/dev/null || echo 0)
if [[ -z $found ]]; then
    echo "FAIL: the thread chain was not exposed within ${CAP}s ($n other signature(s) recorded)"
    tail -5 "$work/log"
    exit 1
fi
echo "thread chain exposed after ${found}s of fuzzing ($n signature(s) recorded in all)"
{ ./target/release/diofuzz replay "$work/collect/$h.input" --variant thread-v1 --quiet || true; } | grep -E "verdict|signature" | head -4
