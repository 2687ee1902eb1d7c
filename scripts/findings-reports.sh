#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Regenerate docs/findings/: one `diofuzz report` folder per confirmed kernel finding (README,
# "Confirmed on Linux 6.18"): report.txt, path.txt, repro.c, scenario.json, and an fstests test.
#
#   scripts/findings-reports.sh [OUTDIR] [--live]
#
# --live also runs each C reproducer on a scratch filesystem of this host (root, loop devices,
# mkfs.xfs) and keeps its output as live-<release>.txt. KERNELS names the kernels the findings
# were confirmed on (default: 6.18.44, where `diofuzz live` confirmed them).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/findings}
live=()
[[ ${2:-} == --live ]] && live=(--live)
kernel=${KERNELS:-6.18.44}
# The committed lab runs of each reproducer on Debian kernels (`diofuzz repro FINDING --run --kernel V
# > docs/findings/ID/lab-RELEASE.txt`), quoted in the report and listed under "Reproduced on".
labs() { local f; for f in docs/findings/"$1"/lab-*.txt; do [[ -e $f ]] && printf -- '--lab-output\0%s\0' "$f"; done; true; }
lab() { mapfile -d '' -t L < <(labs "$1"); }
cargo build --release -q -p diofuzz-tools
d=./target/release/diofuzz
r=corpus/regressions
lab K1
$d report $r/live_k1_xfs_atomic_short_rlimit "${L[@]}" --id K1 --seq 900 --kernel "$kernel" -o "$out/K1" "${live[@]}" \
    --title "xfs: software atomic write under RLIMIT_FSIZE returns short (16384 of 32768)"
lab K2
$d report $r/live_k3_xfs_atomic_append_stale "${L[@]}" --id K2 --seq 901 --property O3 --kernel "$kernel" -o "$out/K2" "${live[@]}" \
    --title "xfs: O_APPEND moves an atomic write to an unaligned i_size after the alignment check"
lab K3
$d report $r/live_k3_xfs_atomic_append_stale "${L[@]}" --id K3 --seq 902 --property O6 --kernel "$kernel" -o "$out/K3" "${live[@]}" \
    --title "xfs: O_APPEND atomic write exposes another file's stale data in the EOF block"
lab K4
$d report $r/live_k4_xfs_head_rezeroing "${L[@]}" --id K4 --seq 903 --kernel "$kernel" -o "$out/K4" "${live[@]}" \
    --title "iomap/xfs: DIO write with a buffer faulting part-way returns 8192 but its last 2560 bytes read back as zeroes"
lab K6
$d report $r/live_k6_xfs_atomic_truncated_stale "${L[@]}" --id K6 --seq 904 --property O6 --kernel "$kernel" -o "$out/K6" "${live[@]}" \
    --title "xfs: atomic write cut by RLIMIT_FSIZE remaps a partly written CoW staging block (stale data over old file data)"
lab K12
$d report $r/isize_ext4_buffered_efault_past_eof "${L[@]}" --id K12 --seq 905 --kernel "$kernel" -o "$out/K12" "${live[@]}" \
    --title "ext4: a buffered write past EOF that fails with -EFAULT moves i_size to the write position (6.14+)"
lab K13
$d report $r/isize_ext4_dio_zero_progress_past_eof "${L[@]}" --id K13 --seq 906 --kernel "$kernel" -o "$out/K13" "${live[@]}" \
    --title "ext4: an O_DIRECT write past EOF that fails with -EFAULT leaves i_size and i_disksize at the write position"
lab K14
# Not on this host's 6.18 (-EINVAL, 963845748fe6): explained on v6.16, confirmed by the lab runs only.
$d report $r/k14_ext4_prealloc_misaligned_dio_stale "${L[@]}" --id K14 --seq 907 --property O6 --variant v6.16 -o "$out/K14" \
    --title "ext4: a misaligned O_DIRECT write past EOF into preallocated blocks succeeds through the page cache with stale device data in the block (6.15 - 6.17.7)"
