#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `diofuzz report` folders for worlds the confirmed findings (docs/findings) do not have: mkfs and
# mount options (data=journal, nodelalloc with chattr +j, ext4 without extents, 1 KiB blocks, XFS
# reflink=0), a race after open, dirty and written-back pages. Each is a confirmed finding's
# scenario (K4, K12, K13) or a corpus regression (o8_ext4_unaligned_pos_einval_buffered) with that
# one change (tools/tests/data/fstests-worlds/*.json), reported on the variant it has a finding
# on. Their tests then run under real fstests:
#
#   scripts/fstests-worlds.sh OUTDIR
#   scripts/fstests-run.sh FSTESTS_DIR OUTDIR/*/
#
# What each should do on Linux 6.18 (docs/findings/README.md, "Under real fstests"): the v6.18
# ones fail on their filesystem (the model has the finding on 6.18), the v6.16 ones pass (it has
# none on 6.18).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/fstests-worlds.sh OUTDIR}
cargo build --release -q -p diofuzz-tools
d=./target/release/diofuzz
w=tools/tests/data/fstests-worlds
r=corpus/regressions
rep() { local src=$1 id=$2 v=$3; rm -rf "${out:?}/$id"; $d report "$src" --id "$id" --variant "$v" -o "$out/$id" >/dev/null; }
for n in k12_dj k13_dj k13_j k13_noext k13_1k k13_race_j k4_noreflink; do rep $w/$n.json $n v6.18; done
for n in o8_1k o8_dirty o8_noext o8_race_j o8_wb; do rep $w/$n.json $n v6.16; done
rep $r/o8_ext4_unaligned_pos_einval_buffered o8_unaligned_pos v6.16
rep $r/o8_ext4_unaligned_buffer_einval_buffered o8_unaligned_buf v6.16
ls "$out"/*/fstests/tests/generic/[0-9]* | grep -v '\.out$'
