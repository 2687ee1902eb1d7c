#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Live-kernel differential tests (tests/live.rs + the live unit tests). Called by .ci/run.
# Prints an explicit SKIP line with the reason when the host cannot run them; never a silent pass.
set -u
cd "$(dirname "$0")/.."

skip() { echo "SKIP live: $*"; exit 0; }

[ "$(id -u)" = 0 ] || skip "not root (loop devices and mounts need CAP_SYS_ADMIN)"
[ -e /dev/loop-control ] || skip "no loop devices (/dev/loop-control missing)"
grep -qw tracefs /proc/filesystems || skip "no tracefs in this kernel"
grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null || true
grep -qw xfs /proc/filesystems || skip "kernel has no XFS"
grep -qw ext4 /proc/filesystems || skip "kernel has no ext4"

need=()
command -v mkfs.xfs >/dev/null 2>&1 || need+=(xfsprogs)
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
	if command -v apt-get >/dev/null 2>&1; then
		echo "live: installing ${need[*]} with apt-get (mkfs for the scratch filesystems)"
		apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null ||
			skip "could not install ${need[*]}"
	else
		skip "missing ${need[*]} and no apt-get to install them"
	fi
fi

echo "live: unit tests"
cargo test -q --lib live:: || exit 1
echo "live: integration tests (root, loop, tracefs, mkfs present)"
cargo test -q --test live -- --nocapture || exit 1
cargo test -q --test live_inode_kinds -- --nocapture || exit 1
cargo test -q --test live_limits -- --nocapture || exit 1
cargo test -q --test live_settle -- --nocapture || exit 1
cargo test -q --test live_probes -- --nocapture || exit 1
cargo test -q --test live_bdev_state -- --nocapture || exit 1
echo "live: OK"
