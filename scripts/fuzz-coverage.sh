#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Source-line coverage of the dio_write fuzz target over a corpus with `cargo fuzz coverage`
# (LLVM source-based coverage), as a text summary and an HTML tree; the kernel-terms view of the
# same corpus is `diofuzz coverage CORPUS`.
#
#   scripts/fuzz-coverage.sh [CORPUS]     (default: the committed corpus/dio_write)
#
# Every variant runs and every finding is suppressed (like cmin), so crashing inputs count too.
# Needs the nightly toolchain and its llvm-tools component (installed here when missing).
# Output: fuzz/coverage/dio_write/{coverage.profdata,report.txt,html/index.html} (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-corpus/dio_write}
rustup toolchain list | grep -q '^nightly' || { echo "diofuzz: cargo fuzz coverage needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }
if ! rustup component list --toolchain nightly --installed | grep -q '^llvm-tools'; then
    echo "diofuzz: installing llvm-tools-preview for nightly" >&2
    rustup component add llvm-tools-preview --toolchain nightly >&2
fi
cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz >&2
out=fuzz/coverage/dio_write
mkdir -p "$out"
supp="$out/suppress-all.txt"
printf '# coverage: no finding stops an input\n*\n' > "$supp"
DIOFUZZ_VARIANT=all DIOFUZZ_SUPPRESS="$PWD/$supp" cargo +nightly fuzz coverage dio_write "$corpus" >&2
llvm=$(rustc +nightly --print sysroot)/lib/rustlib/$(rustc +nightly -vV | sed -n 's/^host: //p')/bin
bin=$( (ls -t target/*/coverage/*/release/dio_write fuzz/target/*/coverage/*/release/dio_write 2>/dev/null || true) | head -1)
[[ -n $bin ]] || { echo "diofuzz: no coverage binary found" >&2; exit 1; }
ignore='(\.cargo|/rustc/|/rustlib/|/fuzz/fuzz_targets/)'
"$llvm/llvm-cov" report "$bin" -instr-profile="$out/coverage.profdata" --ignore-filename-regex="$ignore" \
    | sed "s|$PWD/||" > "$out/report.txt"
"$llvm/llvm-cov" show "$bin" -instr-profile="$out/coverage.profdata" --ignore-filename-regex="$ignore" \
    -format=html -output-dir="$out/html" >/dev/null
tail -1 "$out/report.txt" | awk '{print "diofuzz: line coverage of the model over '"$corpus"': " $10 " (" $8 " lines)"}'
echo "diofuzz: $out/report.txt, $out/html/index.html" >&2
