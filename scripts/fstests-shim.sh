#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Run one generated fstests test (docs/findings/<id>/fstests) on this host WITHOUT fstests: a
# minimal stand-in for the fstests helpers the test uses, on a scratch XFS made on a loop device.
# The _require_* lines are not evaluated (except that a helper program must build and that
# xfs_io must know `pwrite -A` when the test uses it). Root only; removes what it made.
#
#   scripts/fstests-shim.sh docs/findings/K4
#
# Prints the test's output, keeps it as <dir>/fstests-<release>.out.bad when it differs from
# the golden NNN.out (fstests' name for a failing run), and exits 0 when it matches, 1 when it
# does not, 2 when it cannot run here.
set -euo pipefail
dir=${1:?usage: scripts/fstests-shim.sh docs/findings/<id>}
[[ $(id -u) == 0 ]] || { echo "fstests-shim: needs root (loop device, mount)"; exit 2; }
test=$(ls "$dir"/fstests/tests/generic/[0-9]* | grep -v '\.out$' | head -1)
seq=${test##*/}
work=$(mktemp -d /tmp/diofuzz-fstests-shim.XXXXXX)
img=$work/scratch.img
SCRATCH_MNT=$work/mnt
mkdir -p "$work/src" "$SCRATCH_MNT"
SCRATCH_DEV=
cleanup() {
    umount "$SCRATCH_MNT" 2>/dev/null || true
    [[ -n $SCRATCH_DEV ]] && losetup -d "$SCRATCH_DEV" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
if grep -q 'pwrite -A' "$test" && ! xfs_io -c "help pwrite" | grep -q -- '^ -A'; then
    echo "fstests-shim: $(xfs_io -V) has no pwrite -A (RWF_ATOMIC): cannot run $test here"; exit 2
fi
for c in "$dir"/fstests/src/*.c; do
    [[ -e $c ]] || continue
    cc -O2 -o "$work/src/$(basename "$c" .c)" "$c"
done
truncate -s 512M "$img"
SCRATCH_DEV=$(losetup -f --show "$img")
here=$work tmp=$work/tmp seqres=$work/full XFS_IO_PROG=xfs_io
export SCRATCH_DEV SCRATCH_MNT
out=$work/out
(
    set +eu
    _begin_fstest() { :; }
    _require_scratch() { :; }; _require_odirect() { :; }; _require_xfs_io_command() { :; }
    _require_scratch_write_atomic() { :; }; _require_scratch_write_atomic_multi_fsblock() { :; }
    _require_atomic_write_test_commands() { :; }; _require_scratch_reflink() { :; }
    _notrun() { echo "notrun: $*"; exit 0; }
    _require_test_program() { [[ -x $here/src/$1 ]] || { echo "notrun: no $1"; exit 0; }; }
    _scratch_mkfs() { mkfs.xfs -f "$@" "$SCRATCH_DEV" >> "$seqres" 2>&1; }
    _scratch_mkfs_blocksized() { mkfs.xfs -f -b size="$1" "$SCRATCH_DEV" >> "$seqres" 2>&1; }
    _scratch_mount() { mount "$@" "$SCRATCH_DEV" "$SCRATCH_MNT"; }
    _try_scratch_mount() { mount "$@" "$SCRATCH_DEV" "$SCRATCH_MNT"; }
    _scratch_cycle_mount() { umount "$SCRATCH_MNT" && mount ${1:+-o "$1"} "$SCRATCH_DEV" "$SCRATCH_MNT"; }
    _get_filesize() { stat -c %s "$1"; }
    echo "QA output created by $seq"
    eval "$(grep -v '^\. \./common/' "$test" | sed 's/^exit$//')"
) > "$out" 2>&1
cat "$out"
if cmp -s "$out" "$test.out"; then
    echo "fstests-shim: $seq passed on $(uname -r)"
    exit 0
fi
cp "$out" "$dir/fstests-$(uname -r).out.bad"
echo "fstests-shim: $seq FAILED on $(uname -r) (output kept in $dir/fstests-$(uname -r).out.bad)"
exit 1
