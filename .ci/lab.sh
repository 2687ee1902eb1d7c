#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# diofuzz lab in CI: install QEMU and the guest's host tools, boot the newest Debian kernel
# (downloaded into the cache when it is empty) and run ext4 atomic writes on the scsi_debug
# disk plus XFS on loop and the raw block device on a disk partition (90 scenarios), print the
# agreement; then the lab integration tests.
# Prints an explicit SKIP line with the reason when the machine cannot; never a silent pass.
set -u
cd "$(dirname "$0")/.."
t0=$(date +%s)
skip() { echo "SKIP lab: $*"; exit 0; }

command -v apt-get >/dev/null 2>&1 || skip "no apt-get (Debian) to install QEMU and fetch kernels"
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
{ [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q "not a dynamic"; } || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v depmod >/dev/null 2>&1 || need+=(kmod)
command -v mkfs.xfs >/dev/null 2>&1 || need+=(xfsprogs)
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || skip "missing ${need[*]} and not root to install them"
	echo "lab: installing ${need[*]} with apt-get"
	apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
		skip "could not install ${need[*]}"
fi
echo "lab: install done in $(( $(date +%s) - t0 ))s"

cargo build -q --release || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The newest kernel with modules; the first run downloads it (~120 MB) into ~/.cache/diofuzz/lab.
./target/release/diofuzz lab --kernel newest --groups ext4-disk,xfs-loop,bdev-disk --count 30 --seed 1 --out "$out"
rc=$?
# 0: all agree; 1: disagreements or kernel findings (reported above, the matrix is the output).
[ $rc -le 1 ] || { echo "FAIL: diofuzz lab exited $rc"; exit 1; }
echo "lab: integration tests"
cargo test -q --release -p diofuzz-tools --test lab -- --nocapture --test-threads 1 || exit 1
echo "lab: OK in $(( $(date +%s) - t0 ))s"
