#!/bin/bash -eu
# SPDX-License-Identifier: GPL-2.0-only
# OSS-Fuzz / ClusterFuzzLite build: every cargo-fuzz target of fuzz/, its seed corpus
# (corpus/<target>/ -> <target>_seed_corpus.zip), dictionary and .options into $OUT.
# Runs in base-builder-rust (cargo = nightly with OSS-Fuzz's flags); runs locally too:
#   SRC=/tmp/s OUT=/tmp/o WORK=/tmp/w RUSTUP_TOOLCHAIN=nightly bash oss-fuzz/build.sh
# with $SRC/diofuzz the checkout (or DIOFUZZ_SRC=path).

ROOT="${DIOFUZZ_SRC:-$SRC/diofuzz}"
cd "$ROOT"
mkdir -p "$OUT"

cargo fuzz build -O

TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="fuzz/target/${CARGO_BUILD_TARGET:-$TRIPLE}/release"

zip_dir() { # zip_dir DIR OUTFILE: the files of DIR, flat
  if command -v zip >/dev/null; then
    (cd "$1" && zip -q -j -r "$2" .)
  else
    python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
d, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        if os.path.isfile(p):
            z.write(p, n)
PY
  fi
}

n=0
for src in fuzz/fuzz_targets/*.rs; do
  t="$(basename "${src%.rs}")"
  # Benchmark baselines (noop: engine overhead only) are not fuzz targets: do not ship them.
  if grep -q "^//! Baseline" "$src"; then echo "diofuzz build.sh: skipping baseline $t"; continue; fi
  cp "$BIN_DIR/$t" "$OUT/$t"
  n=$((n + 1))
  if [ -d "corpus/$t" ] && [ -n "$(ls -A "corpus/$t")" ]; then
    rm -f "$OUT/${t}_seed_corpus.zip"
    zip_dir "corpus/$t" "$OUT/${t}_seed_corpus.zip"
  fi
  [ -f "fuzz/$t.dict" ] && cp "fuzz/$t.dict" "$OUT/$t.dict"
  [ -f "fuzz/$t.options" ] && cp "fuzz/$t.options" "$OUT/$t.options"
done
echo "diofuzz build.sh: $n target(s) in $OUT"
