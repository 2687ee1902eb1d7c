// SPDX-License-Identifier: GPL-2.0-only
//! Inline-data and fscrypt-encrypted ext4 inodes in the model, per variant (ext4_dio_alignment,
//! fs/ext4/inode.c: 0 for inline data in every version; for an encrypted inode the fs block size
//! where fscrypt can do DIO on it, which 7.3 made every encrypted file), and the validity rule
//! that keeps inline data off encrypted inodes.

mod common;
use common::go;
use diofuzz::generators::{hole, written, KIB};
use diofuzz::scenario::*;
use diofuzz::validity;

/// A plain (not atomic) O_DIRECT write of `len` at `pos` on an ext4 file of `i_size` bytes over
/// `blocks`, on a loop-like device (no atomic units).
fn dio(i_size: u64, blocks: Vec<BlockState>, pos: u64, len: u64) -> Scenario {
    let mut s = Scenario {
        fs: FsKind::Ext4,
        ..Scenario::default()
    };
    s.world.i_size = i_size;
    s.world.blocks = blocks;
    s.request.open.direct = true;
    s.request.pos = pos;
    s.request.len = len;
    s.request.rwf = Rwf::default();
    s
}

fn encrypted(pos: u64, len: u64) -> Scenario {
    let mut s = dio(16 * KIB, vec![written(); 4], pos, len);
    s.world.inode.encrypted = true;
    s
}

fn took_dio(s: &Scenario, var: &str) -> bool {
    go(s, var).trace.entered("iomap_dio_rw")
}

#[test]
fn encrypted_aligned_dio_is_buffered_before_7_3_and_direct_on_7_3() {
    let s = encrypted(0, 4096);
    assert!(validity::is_valid(&s));
    for v in ["v6.12", "v6.18", "v7.2"] {
        let x = go(&s, v);
        assert!(
            !x.trace.entered("iomap_dio_rw"),
            "{v}: fscrypt_dio_supported() false"
        );
        assert!(x.buffered_calls > 0, "{v}");
        assert_eq!(x.ret, 4096, "{v}");
    }
    let x = go(&s, "v7.3");
    assert!(
        x.trace.entered("iomap_dio_rw"),
        "7.3: blk-crypto for every file"
    );
    assert_eq!(x.buffered_calls, 0);
    assert_eq!(x.ret, 4096);
}

#[test]
fn encrypted_dio_needs_fs_block_alignment_on_7_3_and_falls_back_otherwise() {
    // 512-aligned but not 4 KiB-aligned: a plain file takes DIO (loop's 512-byte sectors), an
    // encrypted one falls back to buffered on 7.3 (ext4_should_use_dio: IS_ALIGNED(pos | iov
    // alignment, i_blocksize)) instead of failing.
    let plain = dio(16 * KIB, vec![written(); 4], 512, 4096);
    assert!(took_dio(&plain, "v7.3"));
    let mut enc = plain.clone();
    enc.world.inode.encrypted = true;
    let x = go(&enc, "v7.3");
    assert!(!x.trace.entered("iomap_dio_rw"));
    assert!(x.buffered_calls > 0);
    assert_eq!(x.ret, 4096);
    // A user buffer off the block alignment alone is enough.
    let mut buf = encrypted(0, 4096);
    buf.request.buf_align = 512;
    assert!(!took_dio(&buf, "v7.3"));
}

#[test]
fn inline_crypt_mount_gives_encrypted_dio_on_every_version() {
    let mut s = encrypted(0, 4096);
    s.world.mount.inline_crypt = true;
    for v in ["v6.12", "v6.18", "v7.3"] {
        assert!(took_dio(&s, v), "{v}");
    }
}

#[test]
fn encrypted_atomic_write_goes_buffered_before_7_3_only() {
    // ext4_inode_can_atomic_write() does not look at encryption: the atomic write is accepted,
    // then S1 takes it to the page cache where fscrypt cannot do DIO.
    let mut s = diofuzz::generators::base();
    s.world.inode.encrypted = true;
    let x = go(&s, "v6.18");
    assert!(!x.trace.entered("iomap_dio_rw"));
    assert!(x.buffered_calls > 0);
    let x = go(&s, "v7.3");
    assert!(x.trace.entered("iomap_dio_rw"));
    assert_eq!(x.buffered_calls, 0);
    assert_eq!(x.ret, 4096);
}

#[test]
fn inline_data_always_goes_buffered() {
    let mut s = dio(100, vec![hole()], 0, 4096);
    s.world.inode.inline_data = true;
    s.world.inode.extents = false;
    assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
    for v in ["v6.12", "v6.18", "v7.2", "v7.3"] {
        let x = go(&s, v);
        assert!(!x.trace.entered("iomap_dio_rw"), "{v}");
        assert!(x.buffered_calls > 0, "{v}");
        assert_eq!((x.ret, x.after.i_size), (4096, 4096), "{v}");
    }
}

#[test]
fn inline_data_holds_at_most_an_inode_minus_128_bytes() {
    // The largest inode is a block (ext4_fill_super); measured on 6.18: a 4 KiB inode holds
    // 3968 bytes inline, a 1 KiB inode 896 (inode size - 128).
    let mut s = dio(3968, vec![hole()], 0, 4096);
    s.world.inode.inline_data = true;
    s.world.inode.extents = false;
    assert!(validity::is_valid(&s), "{:?}", validity::violations(&s));
    s.world.i_size = 3969;
    let v = validity::violations(&s);
    assert!(v.iter().any(|v| v.rule.id == "W6-inline"), "{v:?}");
    let mut n = s.clone();
    validity::normalise(&mut n);
    assert!(n.world.i_size <= 3968 && n.world.inode.inline_data);
}

#[test]
fn an_encrypted_inode_has_no_inline_data() {
    // fs/ext4/ialloc.c __ext4_new_inode: "Encrypted inodes cannot have inline data" (no
    // EXT4_STATE_MAY_INLINE_DATA when EXT4_ENCRYPT_FL is set).
    let mut s = dio(100, vec![hole()], 0, 4096);
    s.world.inode.inline_data = true;
    s.world.inode.extents = false;
    s.world.inode.encrypted = true;
    let v = validity::violations(&s);
    assert!(v.iter().any(|v| v.rule.id == "W6-inline"), "{v:?}");
    let mut n = s.clone();
    validity::normalise(&mut n);
    assert!(validity::is_valid(&n));
    assert!(n.world.inode.encrypted && !n.world.inode.inline_data);
}
