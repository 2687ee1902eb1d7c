// SPDX-License-Identifier: GPL-2.0-only
//! Write the random generator's scenarios of one session-7 world kind (src/generators/lfs.rs) as
//! corpus bytes, for `diofuzz live DIR` (docs/live-bench.md, "Refusals audited"):
//!   cargo run --release --example lfs_worlds KIND COUNT DIR
//! KIND: `scaled` (no O_LARGEFILE next to a scaled limit), `bdev-past` (a block device written
//! past its end), `fault` (a fault point inside a page), `segs` (more iovecs than bytes), `b2k`
//! (2 KiB blocks).
use diofuzz::generators::random::generate;
use diofuzz::scenario::{FsKind, Scenario, HUGE_MAXBYTES};

fn wanted(kind: &str, s: &Scenario) -> bool {
    let r = &s.request;
    let off = if r.buf_align >= 4096 {
        0
    } else {
        r.buf_align as u64
    };
    match kind {
        "scaled" => {
            r.open.no_largefile
                && (s.world.s_maxbytes != HUGE_MAXBYTES
                    || s.world.s_bitmap_maxbytes != HUGE_MAXBYTES)
        }
        "bdev-past" => r.pos > s.world.i_size,
        "fault" => r.fault_at.is_some_and(|f| (off + f) % 4096 != 0),
        "segs" => r.len != 0 && r.nr_segs as u64 > r.len,
        "b2k" => s.world.blkbits == 11,
        _ => {
            eprintln!("unknown kind {kind} (scaled, bdev-past, fault, segs, b2k)");
            std::process::exit(2)
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [kind, n, out] = &a[..] else {
        eprintln!("usage: lfs_worlds KIND COUNT DIR");
        std::process::exit(2)
    };
    let n: usize = n.parse().unwrap_or_else(|_| {
        eprintln!("COUNT must be a number");
        std::process::exit(2)
    });
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out).expect("create DIR");
    let fss: &[FsKind] = match kind.as_str() {
        "bdev-past" => &[FsKind::Bdev],
        "scaled" => &[FsKind::Ext4],
        _ => &[FsKind::Ext4, FsKind::Xfs],
    };
    let mut k = 0;
    for seed in 1..50u64 {
        for i in 0..20000u64 {
            for &fs in fss {
                let s = generate(seed, i, fs);
                if wanted(kind, &s) {
                    let name = format!("{kind}-{seed}-{i}-{}", fs.name());
                    std::fs::write(out.join(name), s.encode().expect("encode")).expect("write");
                    k += 1;
                    if k == n {
                        return;
                    }
                }
            }
        }
    }
}
