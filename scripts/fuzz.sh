#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The main job: fuzz the dio_write target with libFuzzer on the working corpus fuzz/corpus/dio_write
# (git-ignored), seeded from the committed corpus/dio_write; the git tree stays clean.
#
#   scripts/fuzz.sh [SECONDS] [-- extra libFuzzer flags]
#
# SECONDS: how long (default: until Ctrl-C). Environment:
#   DIOFUZZ_VARIANT   kernel variant to fuzz (default: the newest, v7.3); `cargo run -- variants`
#   DIOFUZZ_SUPPRESS  suppression file (default: suppressions/newest.txt for v6.18 and later,
#                     none for older variants, so their known bugs show)
#   DIOFUZZ_CORPUS    corpus folder (default: the working corpus fuzz/corpus/dio_write, which gets
#                     every committed seed it lacks; new inputs are added to it). Grow the
#                     committed corpus on purpose with `diofuzz cmin --promote`.
#   DIOFUZZ_ARTIFACTS where crashes go (default: fuzz/artifacts/dio_write/)
#   DIOFUZZ_MUTATOR   field (default: the model's field-aware mutator, src/mutate.rs) or bytes
#                     (libFuzzer's own byte mutations)
# Installs cargo-fuzz when missing; uses the nightly toolchain when rustup has one, else
# RUSTC_BOOTSTRAP=1 on stable. Exit status: libFuzzer's (0 = no crash).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=0
if [[ $# -gt 0 && $1 != -- ]]; then secs=$1; shift; fi
[[ $# -gt 0 && $1 == -- ]] && shift

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "diofuzz: cargo-fuzz is missing; installing it (cargo install --locked cargo-fuzz)" >&2
    cargo install --locked cargo-fuzz >&2
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    echo "diofuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
fi

variant=${DIOFUZZ_VARIANT:-v7.3}
export DIOFUZZ_VARIANT=$variant
if [[ -z ${DIOFUZZ_SUPPRESS+x} ]]; then
    case $variant in
        v6.18|v6.19|v7.0|v7.1|v7.2|v7.3|6.18|6.19|7.0|7.1|7.2|7.3) export DIOFUZZ_SUPPRESS=$PWD/suppressions/newest.txt ;;
        *) export DIOFUZZ_SUPPRESS= ;;
    esac
fi
# ASan's fake stacks (stack-use-after-return) cost half the executions and find nothing in safe
# Rust; a user's own ASAN_OPTIONS win.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=0}
if [[ -n ${DIOFUZZ_CORPUS:-} ]]; then
    corpus=$DIOFUZZ_CORPUS
else
    corpus=fuzz/corpus/dio_write
    [[ -L fuzz/corpus ]] && { echo "diofuzz: fuzz/corpus is a link (old layout): remove it" >&2; exit 2; }
    mkdir -p "$corpus"
    for f in corpus/dio_write/*; do
        [[ -e $corpus/${f##*/} ]] || cp "$f" "$corpus/"
    done
fi
artifacts=${DIOFUZZ_ARTIFACTS:-fuzz/artifacts/dio_write/}
mkdir -p "$artifacts"
echo "diofuzz: fuzzing dio_write on $variant (suppressions: ${DIOFUZZ_SUPPRESS:-none}), corpus $corpus, ${secs}s (0 = until stopped)" >&2
exec cargo "${toolchain[@]}" fuzz run dio_write -O "$corpus" -- \
    -max_len=256 -max_total_time="$secs" -artifact_prefix="$artifacts" -dict=fuzz/dio_write.dict \
    -print_final_stats=1 "$@"
