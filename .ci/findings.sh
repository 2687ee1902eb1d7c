#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# CI: every fstests test under docs/findings/ parses as bash and has fstests' golden output file,
# and the committed reports are what `diofuzz report` generates from the current model (without
# the live runs, which need root and loop devices).
set -euo pipefail
cd "$(dirname "$0")/.."
n=0
for t in docs/findings/*/fstests/tests/generic/[0-9]*; do
    [[ $t == *.out ]] && continue
    bash -n "$t" || { echo "FAIL: $t does not parse as bash"; exit 1; }
    seq=${t##*/}
    head -1 "$t.out" | grep -qx "QA output created by $seq" || { echo "FAIL: $t.out is not fstests golden output for $seq"; exit 1; }
    n=$((n + 1))
done
[[ $n -gt 0 ]] || { echo "FAIL: no fstests test under docs/findings"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/findings-reports.sh "$tmp" >/dev/null 2>&1
for d in docs/findings/*/; do
    id=$(basename "$d")
    for f in report.txt path.txt repro.c scenario.json; do
        # report.txt quotes the live output, which a run without --live does not have.
        if [[ $f == report.txt ]]; then
            strip() { sed '/^Output on Linux/,/^Why this breaks/{/^Why this breaks/!d}' "$1" | cat -s; }
            diff <(strip "$d/$f") <(strip "$tmp/$id/$f") >/dev/null \
                || { echo "FAIL: docs/findings/$id/$f is stale: run scripts/findings-reports.sh docs/findings --live"; exit 1; }
        else
            cmp -s "$d/$f" "$tmp/$id/$f" || { echo "FAIL: docs/findings/$id/$f is stale: run scripts/findings-reports.sh docs/findings --live"; exit 1; }
        fi
    done
    diff -r "$d/fstests" "$tmp/$id/fstests" >/dev/null || { echo "FAIL: docs/findings/$id/fstests is stale"; exit 1; }
done
echo "$n fstests tests parse; docs/findings matches the model"
