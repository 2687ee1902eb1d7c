#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Runs repro.c on a scratch inline-data ext4 whose device holds 0x55 everywhere (root, a loop
# device). Usage: sh run.sh [BLOCKSIZE]   (from this folder; creates and removes ./img and ./mnt)
set -e
cc -O1 -o repro repro.c
python3 -c "open('img','wb').write(b'\x55'*(64<<20))"
mkfs.ext4 -q -F -b "${1:-4096}" -O inline_data -I 1024 -E nodiscard,lazy_itable_init=0 img
mkdir -p mnt
mount -o loop img mnt
trap 'umount mnt 2>/dev/null; rm -rf img mnt repro' EXIT
./repro mnt
