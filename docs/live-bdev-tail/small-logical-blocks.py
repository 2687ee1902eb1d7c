#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Buffered writes near the end of a loop device of 1 or 2 KiB logical blocks whose size is not
# whole logical blocks (session 10, resumeholder): which writes fail with -EIO.
import fcntl, os, struct, subprocess, sys, tempfile
BLKBSZSET, BLKBSZGET = 0x40081271, 0x80081270
cases = [  # (lbs, size, blksize, pos, len, model's return)
    (1024, 9728, 4096, 8192, 1024, 'EIO'),
    (1024, 9728, 4096, 4096, 5120, 4096),
    (1024, 9728, 1024, 8192, 1024, 1024),
    (1024, 9728, 1024, 8292, 500, 500),
    (1024, 9728, 2048, 8192, 1024, 'EIO'),
    (1024, 9728, 1024, 8192, 1536, 'EIO'),
    (1024, 9728, 1024, 9216, 512, 'EIO'),
    (1024, 9728, 1024, 4096, 5120, 5120),
    (1024, 9728, 1024, 4096, 5632, 4096),
    (2048, 11264, 2048, 8192, 2048, 2048),
    (2048, 11264, 2048, 8192, 3072, 'EIO'),
    (2048, 11264, 4096, 8192, 2048, 'EIO'),
]
d = tempfile.mkdtemp(prefix='diofuzz-tail1k-')
ok = bad = 0
for lbs, size, bs, pos, n, want in cases:
    img = os.path.join(d, 'img')
    with open(img, 'wb') as f:
        f.write(b'\0' * size)
    dev = subprocess.check_output(['losetup', '-f', '--show', '-b', str(lbs), img], text=True).strip()
    try:
        fd = os.open(dev, os.O_RDWR)
        try:
            fcntl.ioctl(fd, BLKBSZSET, struct.pack('i', bs))
            got_bs = struct.unpack('q', fcntl.ioctl(fd, BLKBSZGET, b'\0' * 8))[0]
            try:
                got = os.pwrite(fd, b'\x5a' * n, pos)
                os.fsync(fd)
            except OSError as e:
                got = os.strerror(e.errno) if e.errno != 5 else 'EIO'
        finally:
            os.close(fd)
        lbs_dev = open('/sys/block/%s/queue/logical_block_size' % os.path.basename(dev)).read().strip()
        v = 'agree' if got == want else 'DISAGREE'
        ok += got == want; bad += got != want
        print(f'lbs {lbs_dev} size {size} bs {got_bs} pwrite({pos}, {n}) = {got}, model {want}: {v}')
    finally:
        subprocess.call(['losetup', '-d', dev])
os.remove(os.path.join(d, 'img')); os.rmdir(d)
print(f'{ok} agree, {bad} disagree'); sys.exit(1 if bad else 0)
