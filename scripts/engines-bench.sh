#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Rerun the engine benchmark (time to exposure per known finding and exec/s per engine) with the
# settings of docs/engines-bench.md. A benchmark, not a test: it takes a while (at most
# engines x variants x trials x cap seconds, less when every known finding shows up early).
# Usage: scripts/engines-bench.sh [extra diofuzz bench options, e.g. --trials 3 --cap 20]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec ./target/release/diofuzz bench \
  --engines all --variants thread-v1,v6.12,thread-v2 --trials 10 --cap 15 --exec-time 15 \
  --out target/diofuzz-engines/bench/bench.md "$@"
