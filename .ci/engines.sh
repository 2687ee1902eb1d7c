#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# CI for the fuzzing engines (called by .ci/run; self-contained: installs what it needs).
#  1. tools: nightly Rust, cargo-fuzz, cargo-afl (AFL++), honggfuzz (+ binutils-dev libunwind-dev)
#  2. every engine builds dio_write and fuzzes the newest variant (or ENGINES_CI_NEWEST_VARIANT)
#     with suppressions/newest.txt for ENGINES_CI_SECONDS (45): no crash allowed
#  3. every engine finds a thread-v1 finding within ENGINES_CI_CAP seconds (60; the oracle must fail)
#  4. oss-fuzz/build.sh and .clusterfuzzlite/build.sh run with SRC/OUT/WORK in temp folders and
#     every produced binary runs over its seed corpus zip with -runs=0
#  5. cmin and tmin smoke tests on copies
# Nothing in the checkout changes (no corpus merge; findings go to a temp folder).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
SECONDS_NEWEST="${ENGINES_CI_SECONDS:-45}"
CAP="${ENGINES_CI_CAP:-60}"
TMP="$(mktemp -d /tmp/diofuzz-engines-ci.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
export PATH="$HOME/.cargo/bin:$PATH"
fail=0
step() { echo; echo "=== engines CI: $* ($(date -u +%H:%M:%S))"; }
bad() { echo "ENGINES CI FAILURE: $*"; fail=1; }

step "tools"
command -v cargo >/dev/null || { echo "cargo (rustup) is required"; exit 2; }
# No toolchain download (only crates.io and Debian's packages are reachable): without nightly,
# stable with RUSTC_BOOTSTRAP=1 builds the fuzz targets.
NIGHTLY_TC=nightly
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  NIGHTLY_TC=stable
fi
if command -v apt-get >/dev/null; then
  missing=""
  for p in build-essential binutils-dev libunwind-dev zip unzip python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    echo "installing:$missing (apt-get)"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing
  fi
fi
cargo fuzz --version >/dev/null 2>&1 || { echo "installing: cargo install --locked cargo-fuzz"; cargo install --locked cargo-fuzz; }
cargo afl --version >/dev/null 2>&1 || { echo "installing: cargo install --locked cargo-afl"; cargo install --locked cargo-afl; }
cargo hfuzz version >/dev/null 2>&1 || { echo "installing: cargo install --locked honggfuzz"; cargo install --locked honggfuzz; }

# SysV shm segments nothing is attached to, before the engines run (AFL++ leaked three per
# attempt when diofuzz killed it mid-cleanup: 28 GB after one CI run, which starved the lab's VM)
orphan_shm() { awk 'NR>1 && $7==0 {print $2}' /proc/sysvipc/shm 2>/dev/null | sort; }
SHM_BEFORE="$TMP/shm.before"
orphan_shm > "$SHM_BEFORE"

step "build diofuzz"
cargo build --release --quiet
DIOFUZZ="$ROOT/target/release/diofuzz"

# summary.json check: engine $2 in $1 has at least one signature (thread-v1) / none (newest)
sigs_of() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for e in d["engines"]:
    if e["engine"] == sys.argv[2]:
        print(len(e["signatures"]) + (1 if e["crash_files"] and not e["signatures"] else 0),
              e["execs"], round(e["exec_per_sec"]), e["first_crash_seconds"], e["status"])
        break
else:
    print("missing")
PY
}

# The newest variant by default; ENGINES_CI_NEWEST_VARIANT=v6.18 (say) to pin another one.
VARIANT_ARGS=()
[ -n "${ENGINES_CI_NEWEST_VARIANT:-}" ] && VARIANT_ARGS=(--variant "$ENGINES_CI_NEWEST_VARIANT")
step "newest variant ${ENGINES_CI_NEWEST_VARIANT:-}, suppressions/newest.txt, ${SECONDS_NEWEST}s, all engines side by side"
set +e
"$DIOFUZZ" fuzz --engine all --target dio_write "${VARIANT_ARGS[@]}" --time "$SECONDS_NEWEST" \
  --suppress "$ROOT/suppressions/newest.txt" --no-merge --findings "$TMP/newest" 2>&1 | tail -25
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || bad "newest variant: diofuzz fuzz exited $rc (1 = a new crash, 2 = an engine failed)"
for e in libfuzzer afl honggfuzz; do
  read -r n execs eps first status < <(sigs_of "$TMP/newest/summary.json" "$e" 2>/dev/null || echo "missing")
  echo "newest/$e: signatures=$n execs=$execs exec/s=$eps status=$status"
  [ "$n" = 0 ] || bad "newest/$e: $n unsuppressed signature(s), see above"
  [ "${execs:-0}" -gt 0 ] 2>/dev/null || bad "newest/$e: did not run"
done

step "thread-v1: every engine must find a finding within ${CAP}s"
set +e
"$DIOFUZZ" fuzz --engine all --target dio_write --variant thread-v1 --time "$CAP" --no-merge \
  --findings "$TMP/thread-v1" 2>&1 | grep -v '^diofuzz: \[.*found' | tail -25
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 1 ] || bad "thread-v1: diofuzz fuzz exited $rc, expected 1 (findings)"
for e in libfuzzer afl honggfuzz; do
  read -r n execs eps first status < <(sigs_of "$TMP/thread-v1/summary.json" "$e" 2>/dev/null || echo "missing")
  echo "thread-v1/$e: signatures=$n first crash at ${first}s status=$status"
  [ "${n:-0}" -ge 1 ] 2>/dev/null || bad "thread-v1/$e found nothing in ${CAP}s"
done

step "OSS-Fuzz and ClusterFuzzLite build.sh (run directly, no Docker)"
for script in oss-fuzz/build.sh .clusterfuzzlite/build.sh; do
  d="$TMP/$(dirname "$script" | tr -d .)"
  mkdir -p "$d/src" "$d/out" "$d/work"
  ln -s "$ROOT" "$d/src/diofuzz"
  if ! SRC="$d/src" OUT="$d/out" WORK="$d/work" SANITIZER=address FUZZING_ENGINE=libfuzzer \
      ARCHITECTURE=x86_64 RUSTUP_TOOLCHAIN=$NIGHTLY_TC bash "$script" > "$d/build.log" 2>&1; then
    tail -20 "$d/build.log"; bad "$script failed"; continue
  fi
  tail -1 "$d/build.log"
  nbin=0
  for b in "$d/out"/*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    t="$(basename "$b")"
    nbin=$((nbin + 1))
    [ -f "$d/out/$t.options" ] || bad "$script: no $t.options"
    seeds="$d/seeds-$t"; mkdir -p "$seeds"
    if [ -f "$d/out/${t}_seed_corpus.zip" ]; then
      unzip -q -o "$d/out/${t}_seed_corpus.zip" -d "$seeds"
    elif [ "$t" = dio_write ]; then
      bad "$script: no dio_write_seed_corpus.zip"
    fi
    if DIOFUZZ_SUPPRESS="$ROOT/suppressions/newest.txt" "$b" -runs=0 "$seeds" > "$d/run-$t.log" 2>&1; then
      echo "$script: $t ran over $(ls "$seeds" | wc -l) seed(s): $(grep -o 'INITED cov: [0-9]*' "$d/run-$t.log" | head -1)"
    else
      tail -15 "$d/run-$t.log"; bad "$script: $t -runs=0 over its seed corpus failed"
    fi
  done
  # Every real target of fuzz/fuzz_targets and no benchmark baseline (noop is not shipped).
  want=$(grep -L '^//! Baseline' "$ROOT"/fuzz/fuzz_targets/*.rs | wc -l)
  [ "$nbin" -eq "$want" ] || bad "$script produced $nbin binaries, want $want (the real targets)"
  [ ! -e "$d/out/noop" ] || bad "$script shipped the noop baseline"
done

step "cmin and tmin smoke tests (on copies)"
cp -r corpus/dio_write "$TMP/cmin-corpus"
before=$(ls "$TMP/cmin-corpus" | wc -l)
if "$DIOFUZZ" cmin --target dio_write --corpus "$TMP/cmin-corpus" --no-install; then
  after=$(ls "$TMP/cmin-corpus" | wc -l)
  echo "cmin: $before -> $after"
  [ "$after" -ge 1 ] && [ "$after" -le "$before" ] || bad "cmin: $before -> $after files"
else
  bad "diofuzz cmin failed"
fi
crash=$(ls "$TMP"/thread-v1/*/*.bin 2>/dev/null | head -1 || true)
if [ -n "$crash" ]; then
  if "$DIOFUZZ" tmin "$crash" --out "$TMP/min.bin"; then
    [ "$(stat -c %s "$TMP/min.bin")" -le "$(stat -c %s "$crash")" ] || bad "tmin grew the input"
  else
    bad "diofuzz tmin failed"
  fi
else
  bad "no thread-v1 crash file for tmin"
fi

step "no leaked shared memory"
leaked=$(orphan_shm | comm -13 "$SHM_BEFORE" - | wc -l)
echo "unattached SysV shm segments left by this run: $leaked"
[ "$leaked" = 0 ] || { bad "$leaked shm segments leaked (ipcs -m)"; ipcs -m | head -20; }

echo
if [ "$fail" = 0 ]; then echo "engines CI: all passed"; else echo "engines CI: FAILED"; fi
exit "$fail"
