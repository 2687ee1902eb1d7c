// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz report FINDING`: everything a kernel developer needs for one finding, in one folder:
//!
//! - `report.txt`: a plain-text report to send (what happens, on which kernels, the minimal
//!   reproducer, why it breaks the contract, the decision path);
//! - `path.txt`: the model's decision path in kernel function names and the full trace;
//! - `repro.c`: the standalone C reproducer (`diofuzz repro`);
//! - `fstests/tests/generic/NNN` and `NNN.out`: an fstests test in fstests' own format;
//! - `live-<kernel>.txt` (with `--live`): the reproducer's output on this host's kernel.
//!
//! The fstests test is self-checking, as fstests' atomic write tests are: it builds the world
//! with xfs_io, issues the request, and checks the contract itself (no short atomic write, no
//! atomic write at an unaligned position, and after a remount the file holds exactly the old data
//! plus the bytes reported written: nothing else changed, no stale data); it prints only
//! "Silence is golden" when the kernel is right, so `NNN.out` is fstests' golden output and a
//! buggy kernel fails with a diff naming what broke. A request xfs_io cannot express (a user
//! buffer that faults part-way, an unaligned buffer, an fcntl toggle, a racing mmap writer) runs
//! the C reproducer as a helper program instead (`fstests/src/diofuzz-NNN.c`, to add to
//! fstests' src/), and the test checks the same contract on the helper's output: no short atomic
//! write, no unaligned atomic position, no stale data anywhere in the file, and the sectors it
//! reports written read back as written.

use crate::live::exec::landing;
use crate::live::plan::{plan, Call, Plan, Step};
use diofuzz::known::Known;
use diofuzz::oracle::{self, Finding, Prop};
use diofuzz::scenario::{FsKind, Scenario};
use diofuzz::variant::{self, Variant};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `diofuzz report`.
#[derive(clap::Args, Clone, Debug)]
pub struct ReportOpts {
    /// The finding: a corpus file, crash file or .json scenario
    pub finding: PathBuf,
    /// Kernels the finding was confirmed on (repeatable), e.g. 6.18.44
    #[arg(long = "kernel", value_name = "RELEASE")]
    pub kernels: Vec<String>,
    /// Model variant to explain it on [default: the one matching this host's kernel, else the newest]
    #[arg(long, value_name = "V", value_parser = crate::cli::one_variant)]
    pub variant: Option<&'static Variant>,
    /// Short id used in names and the subject (e.g. K1) [default: the file name]
    #[arg(long)]
    pub id: Option<String>,
    /// One-line title of the report [default: the finding's first detail]
    #[arg(long)]
    pub title: Option<String>,
    /// fstests test number to use (tests/generic/NNN; renumber when submitting)
    #[arg(long, value_name = "NNN", default_value = "900")]
    pub seq: u32,
    /// The finding to lead with when the input has several (O1..O12) [default: the first]
    #[arg(long, value_name = "PROPERTY")]
    pub property: Option<String>,
    /// Output folder [default: docs/findings/<id>]
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also run the C reproducer on a scratch filesystem of this host (root) and keep its output
    #[arg(long)]
    pub live: bool,
    /// The output of `diofuzz repro FINDING --run --kernel V` on a lab kernel (repeatable): a
    /// REPRODUCED run adds that kernel to "Reproduced on" and is quoted and kept as lab-<release>.txt
    #[arg(long = "lab-output", value_name = "FILE")]
    pub lab_outputs: Vec<PathBuf>,
}

/// A lab run of the reproducer (`diofuzz repro --run --kernel V`): the kernel release from its
/// first line (`repro: kernel 7.3.4 (7.3.4+deb13-amd64), ...`) and whether the program printed
/// REPRODUCED. Anything else is not such an output: an error, never a guess.
fn lab_run(path: &Path) -> Result<(String, String, bool), String> {
    let t = std::fs::read_to_string(path)
        .map_err(|e| format!("--lab-output {}: {e}", path.display()))?;
    let release = t
        .lines()
        .find_map(|l| l.strip_prefix("repro: kernel "))
        .and_then(|l| l.split_whitespace().next())
        .ok_or_else(|| {
            format!(
                "--lab-output {}: not the output of `diofuzz repro --run --kernel V` (no `repro: kernel RELEASE` line)",
                path.display()
            )
        })?
        .to_string();
    let reproduced = t.lines().any(|l| l.trim() == "REPRODUCED");
    Ok((release, t, reproduced))
}

/// What the contract says, per property (for the report's "why" section).
fn contract(p: Prop) -> &'static str {
    match p {
        Prop::O1 => "RWF_ATOMIC promises that the data goes to disk as one untorn unit through direct I/O. A copy through the page cache (generic_perform_write) or a DAX copy can be torn by a crash or a concurrent writer, so an atomic write must never take that path: the kernel has to complete it as direct I/O or fail it.",
        Prop::O2 => "An atomic write is all or nothing: it either writes the full length and returns it, or fails with -errno and changes nothing a reader can see. A short positive return is not allowed (pwritev2(2), RWF_ATOMIC; the checks in generic_atomic_write_valid() and the filesystems' ->write_iter assume it).",
        Prop::O3 => "An atomic write is accepted only with one segment, O_DIRECT, a power-of-two length within statx's [atomic_write_unit_min, atomic_write_unit_max], and a file position aligned to the length. The position that has to be aligned is the one the data is written at: validating one position and writing at another (O_APPEND moving ki_pos to i_size afterwards) defeats the rule.",
        Prop::O4 => "An atomic write must reach the device as one REQ_ATOMIC bio over the whole range (or one atomic remap on XFS's software path); splitting it loses the untorn guarantee.",
        Prop::O5 => "Kernel-internal error codes (-ENOTBLK, -EIOCBQUEUED on a synchronous call, -ENOPROTOOPT, ...) must never reach user space.",
        Prop::O6 => "A write that returns N must have put its data in the first N bytes at the position it wrote, moved the file position by N, and changed nothing else. In particular no other file's old data (free-space contents) may become readable, and no byte reported written may read back as anything but the new data.",
        Prop::O7 => "A WARN_ON/WARN_ON_ONCE must not be reachable from user space.",
        Prop::O8 => "A direct write that the direct-I/O path rejects (misaligned position, length or buffer, a pinning or bio error before any data was written) must return that error (open(2): EINVAL for unaligned O_DIRECT; fstests generic/767). Only the filesystem's own fallback signal (-ENOTBLK: page-cache invalidation failure, indirect hole, XFS CoW bounce) may send it to the page cache; the error must not become a buffered success.",
        Prop::O9 => "Every user page that bio_iov_iter_get_pages() pins (FOLL_PIN) for a bio must be released exactly once (bio_release_pages), on every path: a leaked pin keeps user memory pinned for good, a double release corrupts the page's pin count.",
        Prop::O10 => "XFS stages a CoW direct write in written CoW-fork blocks: iomap writes through the IOMAP_F_SHARED mapping, and I/O completion remaps only written CoW extents into the file (xfs_reflink_end_cow_extent_locked). A mapping over a delalloc reservation fails the write with -EIO (iomap: Direct I/O collision with buffered writes); one over unwritten CoW blocks loses the data written there. The DEBUG assertion xfs_check_atomic_cow_conversion (8d7bba1e8314) checks the same.",
        Prop::O11 => "A write that fails writes nothing it reports, so it must not change the file's size; a write that returns N may extend the file at most to its position plus N. The kernel undoes a failed extension itself (ext4_inode_extension_cleanup() after a direct write, ext4_truncate_failed_write() after a buffered one; iomap and XFS update the size at completion by the bytes written): an i_size beyond the reported bytes exposes a hole of zeroes to readers and to stat(), and on ext4 delalloc the in-memory size is then ahead of the on-disk one, so the size a reader saw goes back after a crash or remount.",
        Prop::O12 => "Blocks past the end of a file must be holes or unwritten extents (or hold zeroes) on ext4: when the file grows again, ext4_setattr zeroes only the tail of the old last block and an extending write zeroes nothing in between, so a written block past EOF that holds what the device had before is exposed to readers (stale data of other files or deleted ones).",
    }
}

/// The finding's world and call as xfs_io commands, or why xfs_io cannot express them.
fn xfs_io_script(p: &Plan, file: &str) -> Result<(String, String), String> {
    let c: &Call = &p.call;
    if c.read {
        return Err("a read".into());
    }
    if c.fault_at.is_some() {
        return Err("a user buffer that faults part-way".into());
    }
    if c.buf_offset != 0 {
        return Err("a user buffer not page aligned".into());
    }
    if !c.seg_at.is_empty() {
        return Err("a scattered iovec (each segment in its own page)".into());
    }
    if c.fcntl_toggle {
        return Err("an fcntl(F_SETFL) toggle of O_DIRECT after open".into());
    }
    if c.mmap_writer {
        return Err("a racing mmap writer".into());
    }
    if c.unlink {
        return Err("an inode unlinked after open".into());
    }
    let known_rwf = 0x2 /* DSYNC */ | 0x8 /* NOWAIT */ | 0x10 /* APPEND */ | 0x40 /* ATOMIC */;
    if c.rwf & !known_rwf != 0 {
        return Err(format!("RWF bits {:#x}", c.rwf & !known_rwf));
    }
    let nseg = c.segs.len().max(1) as u64;
    if c.segs.iter().any(|&s| s != c.len / nseg) {
        return Err("segments of different lengths".into());
    }
    if let Some(l) = c.rlimit_fsize {
        if l % 1024 != 0 {
            return Err("an RLIMIT_FSIZE not a multiple of 1 KiB (ulimit -f)".into());
        }
    }
    let bdev = p.key.fs == FsKind::Bdev;
    if bdev {
        crate::report_bdev::expressible(p)?;
    } else if c.after_open != Default::default() {
        return Err("a change between the call's open and the call (chattr, the i_rwsem holder, a settled conversion or writeback, a reflink, swapon/off, chmod, remount)".into());
    } else if c.pages.held() || c.pages.idle_writer {
        return Err("a page held under writeback or mapped dirty during the call".into());
    }
    // Set-up: one xfs_io run per step kind, in order.
    let mut setup = String::new();
    let mut cmds: Vec<String> = Vec::new();
    for s in &p.steps {
        match s {
            Step::Truncate(n) => cmds.push(format!("truncate {n}")),
            Step::WriteOld { off, len } => cmds.push(format!("pwrite -S 0x11 {off} {len}")),
            Step::Fallocate { off, len } => cmds.push(format!("falloc -k {off} {len}")),
            Step::CloneOld { off, len } => {
                let _ = writeln!(
                    setup,
                    "$XFS_IO_PROG -f -c \"pwrite -S 0x11 {off} {len}\" -c fsync {file}.donor >> $seqres.full"
                );
                cmds.push(format!("reflink {file}.donor {off} {off} {len}"));
            }
            Step::Fsync => cmds.push("fsync".into()),
            Step::DropCache => {
                // (A device's dirty pages are written first, as live's DropCache does: fsync.)
                if bdev {
                    cmds.push("fsync".into());
                }
                cmds.push(format!("fadvise -d 0 {}", p.i_size.max(1)))
            }
            Step::ReadPage { off } => cmds.push(format!("pread -q {off} 4096")),
            Step::WriteDirty { off, len } => cmds.push(format!("pwrite -S 0x22 {off} {len}")),
            Step::WriteZero { off, len } => cmds.push(format!("pwrite -S 0 {off} {len}")),
            Step::SetCowExtsize(bytes) => cmds.push(format!("cowextsize {bytes}")),
            Step::SetInodeFlags { .. } => return Err("inode flags set with chattr".into()),
            // A tail device's bytes past its edge (crate::report_bdev::setup runs them on the
            // backing file).
            Step::WriteBacking { off, len, old } => {
                cmds.push(crate::report_bdev::backing_cmd(*off, *len, *old))
            }
            Step::SetMode(_) => return Err("a setuid bit (IS_NOSEC clear)".into()),
            Step::SwapHeader | Step::SwapOn | Step::SwapAlignedPrefix { .. } => {
                return Err("a swap file (lab guests only)".into())
            }
            Step::ExpectInodeFlags(_) => {
                return Err(
                    "an inline-data or encrypted inode (needs its own mkfs features)".into(),
                )
            }
        }
    }
    if bdev {
        setup = crate::report_bdev::setup(p, &cmds);
    } else {
        let _ = write!(setup, "$XFS_IO_PROG -f");
        for c in &cmds {
            let _ = write!(setup, " -c \"{c}\"");
        }
        let _ = writeln!(setup, " {file} >> $seqres.full");
    }
    // The call.
    let mut open = String::new();
    if c.direct {
        open.push_str(" -d");
    }
    if c.append {
        open.push_str(" -a");
    }
    if c.dsync {
        open.push_str(" -D");
    }
    if c.sync {
        open.push_str(" -s");
    }
    let mut pw = String::from("pwrite");
    if c.rwf & 0x40 != 0 {
        pw.push_str(" -A");
    }
    if c.rwf & 0x2 != 0 {
        pw.push_str(" -D");
    }
    if c.rwf & 0x8 != 0 {
        pw.push_str(" -N");
    }
    let _ = write!(
        pw,
        " -V {nseg} -b {} -S 0x33 {} {}",
        c.len / nseg,
        c.pos,
        c.len
    );
    let call = match c.rlimit_fsize {
        Some(l) => format!(
            " (ulimit -f {}; $XFS_IO_PROG{open} -c \"{pw}\" {file}) 2>&1",
            l / 1024
        ),
        None => format!("$XFS_IO_PROG{open} -c \"{pw}\" {file} 2>&1"),
    };
    if c.rwf & 0x10 != 0 {
        return Err("RWF_APPEND (xfs_io has no flag for it; O_APPEND is -a)".into());
    }
    Ok((setup, call))
}

/// The file world a generic test cannot make: it formats SCRATCH_DEV ([`mkfs_line`]) and mounts
/// it ([`mount_line`]) but cannot change the device under it. Refused with the reason rather than
/// built on another filesystem.
fn file_mkfs_expressible(p: &Plan) -> Result<(), String> {
    let k = &p.key;
    let why = if k.lbs_bits != 9 {
        // (1 and 2 KiB too since session 12's generator stage file-small-lbs.)
        format!("a device of {}-byte logical blocks", 1u32 << k.lbs_bits)
    } else if k.dax != Default::default() {
        "a DAX mount".into()
    } else if k.stable {
        "a stable-writes device".into()
    } else if k.nvme {
        "an nvme-tcp namespace".into()
    } else {
        return Ok(());
    };
    Err(format!("not exported to fstests: {why}"))
}

/// A generic test formats with the filesystem's defaults (XFS: reflink on since xfsprogs 5.1,
/// which the software atomic write path needs) and sets what the world depends on: the block
/// size, and for ext4 no extents (`-O ^extent,^64bit`) or bigalloc clusters, for XFS no
/// reflink, as live's scratch filesystems do (tools/src/live/scratch.rs mkfs_args).
fn mkfs_line(p: &Plan) -> String {
    let k = &p.key;
    let bs = 1u32 << k.blkbits;
    let mut opts = Vec::new();
    match k.fs {
        FsKind::Ext4 => {
            if k.no_extents {
                opts.push("-O ^extent,^64bit".to_string());
            }
            if k.cluster_bits > 0 {
                opts.push(format!("-O bigalloc -C {}", bs << k.cluster_bits));
            }
        }
        FsKind::Xfs if !k.reflink => opts.push("-m reflink=0".into()),
        _ => {}
    }
    if opts.is_empty() && bs == 4096 {
        "_scratch_mkfs >> $seqres.full 2>&1".to_string()
    } else if opts.is_empty() {
        format!("_scratch_mkfs_blocksized {bs} >> $seqres.full 2>&1")
    } else {
        let b = if k.fs == FsKind::Xfs {
            format!("-b size={bs}")
        } else {
            format!("-b {bs}")
        };
        format!(
            "_scratch_mkfs \"{b} {}\" >> $seqres.full 2>&1 || _notrun \"mkfs {b} {} failed\"",
            opts.join(" "),
            opts.join(" ")
        )
    }
}

/// The mount with the world's options (data=journal, nodelalloc, nodioread_nolock), as live
/// mounts its scratch filesystems ([`crate::live::plan::FsKey::mount_data`]). The options are
/// ext4's: a generic test runs on any filesystem, where `_scratch_mount` would fail the test
/// (`_fail "mount ... failed"`, common/rc), so a filesystem that refuses them skips it instead.
fn mount_line(p: &Plan) -> String {
    match p.key.mount_data() {
        Some(o) => format!(
            "_try_scratch_mount -o {o} >> $seqres.full 2>&1 || _notrun \"mount -o {o} failed\""
        ),
        None => "_scratch_mount >> $seqres.full 2>&1".to_string(),
    }
}

/// The fstests test and its golden output.
pub fn fstests_test(
    s: &Scenario,
    f: &Finding,
    seq: u32,
    title: &str,
    id: &str,
    kernels: &[String],
) -> Result<(String, String, Option<String>), String> {
    let bdev = s.fs == FsKind::Bdev;
    let p = if bdev {
        crate::report_bdev::plan(s)?
    } else {
        plan(s).map_err(|e| format!("not expressible on a real kernel: {e}"))?
    };
    if let Some(d) = p.down {
        // fstests' _scratch_shutdown would do it; not written yet.
        return Err(format!(
            "not exported to fstests: a filesystem {}",
            d.label()
        ));
    }
    if !bdev {
        file_mkfs_expressible(&p)?;
    }
    let atomic = p.call.rwf & 0x40 != 0;
    let land = landing(&p);
    let len = p.call.len;
    let file = if bdev { "$dev" } else { "$SCRATCH_MNT/file" };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "#! /bin/bash\n# SPDX-License-Identifier: GPL-2.0\n# Copyright (c) 2026 The diofuzz authors.  All Rights Reserved.\n#\n# FS QA Test No. {seq}\n#\n# {title}\n#\n# Found by diofuzz ({id}, oracle {}: {}){}.\n# The test checks the write contract itself and prints nothing else when it holds.\n#",
        f.property,
        f.property.title(),
        if kernels.is_empty() {
            String::new()
        } else {
            format!("; reproduced on Linux {}", kernels.join(", "))
        }
    );
    let groups = if atomic {
        "auto quick rw atomicwrites"
    } else {
        "auto quick rw"
    };
    let _ = writeln!(t, ". ./common/preamble\n_begin_fstest {groups}\n");
    let _ = writeln!(t, ". ./common/filter");
    if atomic {
        let _ = writeln!(t, ". ./common/atomicwrites");
    }
    let clones = p.steps.iter().any(|s| matches!(s, Step::CloneOld { .. }));
    if clones {
        let _ = writeln!(t, ". ./common/reflink");
    }
    let _ = writeln!(t);
    let helper = xfs_io_script(&p, file);
    // Requirements.
    if bdev {
        t.push_str(crate::report_bdev::REQUIRE);
    } else {
        let _ = writeln!(t, "_require_scratch");
    }
    if atomic {
        let bs = 1u64 << p.key.blkbits;
        if len > bs {
            let _ = writeln!(t, "_require_scratch_write_atomic_multi_fsblock");
        } else {
            let _ = writeln!(t, "_require_scratch_write_atomic");
        }
    }
    if clones {
        let _ = writeln!(t, "_require_scratch_reflink");
    }
    // fstests has no _require for the block size: _scratch_mkfs_blocksized (or the mkfs line's
    // _notrun) skips the test where the filesystem cannot make it ([`mkfs_line`]).
    if p.call.direct {
        let _ = writeln!(t, "_require_odirect");
    }
    match &helper {
        Ok(_) => {
            if atomic {
                let _ = writeln!(t, "_require_atomic_write_test_commands");
            }
            for c in ["falloc", "fadvise", "truncate"] {
                let _ = writeln!(t, "_require_xfs_io_command \"{c}\"");
            }
        }
        Err(_) => {
            let _ = writeln!(t, "_require_test_program \"diofuzz-{seq}\"");
        }
    }
    if bdev {
        t.push('\n');
    } else {
        let _ = writeln!(t, "\n{}\n{}\n", mkfs_line(&p), mount_line(&p));
    }
    let helper_src = match helper {
        Ok((setup, call)) if bdev => {
            let _ = writeln!(
                t,
                "{setup}\n# The write ({len} bytes of 0x33).\nout=$({call})\necho \"$out\" >> $seqres.full\n\
                 ret=$(echo \"$out\" | grep wrote | awk -F'[/ ]' '{{print $2}}')\n\
                 test -n \"$ret\" || ret=0\nlanding={land}\n\n{}",
                crate::report_bdev::CHECK
            );
            None
        }
        Ok((setup, call)) => {
            let _ = writeln!(
                t,
                "# Free space holds a known pattern (0x55), so stale data would show.\n\
                 $XFS_IO_PROG -f -c \"pwrite -S 0x55 0 4m\" -c fsync $SCRATCH_MNT/stale >> $seqres.full\n\
                 rm -f $SCRATCH_MNT/stale\n\
                 sync\n\n\
                 # The file before the write: old data 0x11, dirty page cache 0x22.\n{setup}\
                 cp {file} $tmp.before\n\
                 size_before=$(_get_filesize {file})\n"
            );
            let _ = writeln!(
                t,
                "# The write ({} bytes of 0x33{}).\nout=$({call})\necho \"$out\" >> $seqres.full\n\
                 ret=$(echo \"$out\" | grep wrote | awk -F'[/ ]' '{{print $2}}')\n\
                 test -n \"$ret\" || ret=0",
                len,
                if p.call.append {
                    ", O_APPEND: it lands at i_size"
                } else {
                    ""
                }
            );
            let land_expr = if p.call.append {
                "$size_before".to_string()
            } else {
                land.to_string()
            };
            let _ = writeln!(t, "landing={land_expr}\n");
            if atomic {
                let _ = writeln!(
                    t,
                    "# All or nothing: an atomic write returns its full length or fails.\n\
                     if [ $ret -gt 0 ] && [ $ret -ne {len} ]; then\n\
                     \techo \"atomic write of {len} bytes returned $ret (short)\"\nfi\n\
                     # The position it is written at must be aligned to its length.\n\
                     if [ $ret -gt 0 ] && [ $((landing % {len})) -ne 0 ]; then\n\
                     \techo \"atomic write of {len} bytes written at unaligned offset $landing\"\nfi\n"
                );
            }
            let _ = writeln!(
                t,
                "# After a remount the file holds the old data plus the bytes reported written,\n\
                 # and nothing else (no stale data, no zeroes over written bytes).\n\
                 cp $tmp.before $tmp.expect\n\
                 if [ $ret -gt 0 ]; then\n\
                 \t$XFS_IO_PROG -c \"pwrite -S 0x33 $landing $ret\" $tmp.expect >> $seqres.full\nfi\n\
                 _scratch_cycle_mount{cycle_opts}\n\
                 if ! cmp {file} $tmp.expect > $tmp.cmp 2>&1; then\n\
                 \techo \"file data differs from the old data plus the $ret bytes written at $landing\"\n\
                 \tcat $tmp.cmp >> $seqres.full\n\
                 \tod -A d -t x1 {file} >> $seqres.full\nfi\n",
                // The remount keeps the world's mount options (_scratch_cycle_mount mounts with
                // none but fstests' MOUNT_OPTIONS unless given them).
                cycle_opts = p
                    .key
                    .mount_data()
                    .map(|o| format!(" \"{o}\""))
                    .unwrap_or_default()
            );
            None
        }
        Err(why) => {
            if bdev {
                t.push_str(&crate::report_bdev::device(&p, false));
            }
            let _ = writeln!(
                t,
                "# xfs_io cannot express this request ({why}): the helper builds the {}\n\
                 # and issues it, then prints the result and the data per 512-byte sector\n\
                 # (n = the new data, o/d = old data, 0 = zeroes, s/? = stale data).\n\
                 $here/src/diofuzz-{seq} {} > $tmp.out 2>&1\n\
                 rc=$?\n\
                 cat $tmp.out >> $seqres.full\n\
                 # Exit 2: the helper could not build the world here (it says why).\n\
                 if [ $rc -eq 2 ]; then\n\
                 \t_notrun \"diofuzz-{seq}: $(grep -m 1 'COULD NOT RUN' $tmp.out)\"\n\
                 fi\n\
                 # The call's line: pwritev2, preadv2 or aio_rw, with what it returned.\n\
                 if ! grep -q '^[a-z_0-9]*(pos ' $tmp.out; then\n\
                 \techo \"diofuzz-{seq} did not issue the call (exit $rc)\"\n\
                 fi\n\
                 ret=$(sed -n 's/^[a-z_0-9]*(pos .*) = \\(-\\?[0-9]*\\).*/\\1/p' $tmp.out)\n\
                 test -n \"$ret\" || ret=0\n\
                 landing=$(sed -n 's/.*data expected at \\([0-9]*\\).*/\\1/p' $tmp.out)\n\
                 test -n \"$landing\" || landing={land}\n\
                 data=$(sed -n 's/^data (O_DIRECT): *//p' $tmp.out | tr -d ' ')\n",
                if bdev { "device" } else { "file" },
                if bdev { "$dev" } else { "$SCRATCH_MNT" },
            );
            if atomic {
                let _ = writeln!(
                    t,
                    "if [ $ret -gt 0 ] && [ $ret -ne {len} ]; then\n\
                     \techo \"atomic write of {len} bytes returned $ret (short)\"\nfi\n\
                     if [ $ret -gt 0 ] && [ $((landing % {len})) -ne 0 ]; then\n\
                     \techo \"atomic write of {len} bytes written at unaligned offset $landing\"\nfi\n"
                );
            }
            let _ = writeln!(
                t,
                "# No sector holds another file's old data (the free-space pattern).\n\
                 case \"$data\" in\n\
                 *s*|*\\?*) echo \"stale data readable in the file: $data\" ;;\n\
                 esac\n\
                 # Every sector the call reports written reads back as the new data.\n\
                 if [ $ret -gt 0 ]; then\n\
                 \twritten=${{data:$((landing / 512)):$((ret / 512))}}\n\
                 \tif [ \"$written\" != \"$(printf 'n%.0s' $(seq $((ret / 512))))\" ]; then\n\
                 \t\techo \"bytes reported written do not read back as written: $written\"\n\
                 \tfi\nfi\n\
                 # The file grew only over the bytes reported written (none for an error).\n\
                 size=$(sed -n 's/^i_size \\([0-9]*\\);.*/\\1/p' $tmp.out)\n\
                 limit={size_before}\n\
                 if [ $ret -gt 0 ] && [ $((landing + ret)) -gt $limit ]; then limit=$((landing + ret)); fi\n\
                 if [ -n \"$size\" ] && [ $size -gt $limit ] && [ $ret -gt 0 ]; then\n\
                 \techo \"i_size $size beyond the $ret bytes reported written at $landing (was {size_before})\"\n\
                 elif [ -n \"$size\" ] && [ $size -gt $limit ]; then\n\
                 \techo \"i_size $size after a write at $landing that failed (returned $ret; was {size_before})\"\nfi\n",
                size_before = s.world.i_size
            );
            Some(crate::live::repro::c_program(s)?)
        }
    };
    let _ = writeln!(
        t,
        "echo \"Silence is golden\"\n\n# success, all done\nstatus=0\nexit"
    );
    let out = format!("QA output created by {seq}\nSilence is golden\n");
    Ok((t, out, helper_src))
}

fn host_release() -> String {
    crate::live::kernel_release()
}

/// Whether the scenario shows `main`'s finding on variant `v`: the same signature, or the same
/// property labelled with the same known-findings entry (one root cause can take a different path
/// on another version, e.g. `->iomap_end`'s -ENOTBLK up to 6.17 where 6.18 has the tail zeroing).
/// `series` names the variant in known-findings.json (a backported variant: its base).
fn has_finding(
    s: &Scenario,
    main: &Finding,
    known: Option<&Known>,
    v: &'static Variant,
    series: &str,
) -> bool {
    oracle::check(&diofuzz::model::run_quiet(s, v))
        .iter()
        .any(|f| {
            f.signature == main.signature
                || known.is_some_and(|k| {
                    f.property == main.property
                        && diofuzz::known::lookup(&f.signature, series)
                            .is_some_and(|x| std::ptr::eq(x, k))
                })
        })
}

/// Variants on which the model reports `main`'s finding ([`has_finding`]).
fn variants_with(s: &Scenario, main: &Finding, known: Option<&Known>) -> Vec<&'static str> {
    variant::VARIANTS
        .iter()
        .filter(|v| has_finding(s, main, known, v, v.name))
        .map(|v| v.name)
        .collect()
}

pub fn cli(o: &ReportOpts) -> Result<i32, String> {
    let s = diofuzz::input::load_scenario(&o.finding)?;
    let labs = o
        .lab_outputs
        .iter()
        .map(|f| lab_run(f))
        .collect::<Result<Vec<_>, _>>()?;
    let v = o
        .variant
        .or_else(|| crate::live::variant_for_release(&host_release()))
        .unwrap_or_else(variant::newest);
    let x = diofuzz::model::run(&s, v);
    let mut findings = oracle::check(&x);
    if let Some(p) = &o.property {
        let Some(i) = findings
            .iter()
            .position(|f| f.property.to_string().eq_ignore_ascii_case(p))
        else {
            return Err(format!(
                "{}: no {p} finding on {} (it has: {})",
                o.finding.display(),
                v.name,
                findings
                    .iter()
                    .map(|f| f.property.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let f = findings.remove(i);
        findings.insert(0, f);
    }
    let Some(main) = findings.first() else {
        return Err(format!(
            "{}: no finding on {} (pick the variant it was found on with --variant)",
            o.finding.display(),
            v.name
        ));
    };
    let id = o.id.clone().unwrap_or_else(|| {
        o.finding
            .file_stem()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "finding".into())
    });
    let dir = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("docs/findings").join(&id));
    let title = o
        .title
        .clone()
        .unwrap_or_else(|| format!("{} on {}: {}", main.property.title(), main.fs, main.detail));
    let mk = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
    };
    let write = |p: &Path, text: &str| {
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    mk(&dir)?;

    // The decision path and the trace.
    let mut path = String::new();
    for f in &findings {
        let _ = writeln!(
            path,
            "{} {} on {} [{}]: {}\n  decision path (kernel functions, in order):",
            f.property,
            f.property.title(),
            v.name,
            f.fs,
            f.detail
        );
        for (i, d) in f.path.iter().enumerate() {
            let _ = writeln!(path, "    {}. {d}", i + 1);
        }
        let _ = writeln!(path, "  signature: {}\n", f.signature);
    }
    let _ = writeln!(
        path,
        "trace ({}, ftrace function_graph style):\n{}",
        v.name,
        x.trace.render()
    );
    write(&dir.join("path.txt"), &path)?;

    // The C reproducer.
    let repro = crate::live::repro::c_program(&s)?;
    write(&dir.join("repro.c"), &repro)?;
    let scen_json = serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?;
    write(&dir.join("scenario.json"), &(scen_json + "\n"))?;

    // The fstests test.
    let fst = fstests_test(&s, main, o.seq, &title, &id, &o.kernels);
    let fst_note = match &fst {
        Ok((t, out, helper)) => {
            let g = dir.join("fstests/tests/generic");
            mk(&g)?;
            let tp = g.join(o.seq.to_string());
            write(&tp, t)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&tp, std::fs::Permissions::from_mode(0o755));
            }
            write(&g.join(format!("{}.out", o.seq)), out)?;
            if let Some(h) = helper {
                mk(&dir.join("fstests/src"))?;
                write(&dir.join(format!("fstests/src/diofuzz-{}.c", o.seq)), h)?;
                format!(
                    "fstests/tests/generic/{0} (+ {0}.out), with the helper fstests/src/diofuzz-{0}.c (the reproducer; add it to fstests' src/ and its Makefile)",
                    o.seq
                )
            } else {
                format!(
                    "fstests/tests/generic/{0} (+ {0}.out): xfs_io only; copy both into fstests and renumber",
                    o.seq
                )
            }
        }
        Err(e) => format!("no fstests test: {e}"),
    };

    // Live run of the reproducer on this host.
    let mut live_text = None;
    let mut kernels = o.kernels.clone();
    if o.live {
        let rel = host_release();
        match crate::live::repro::run_on_scratch(&s, &repro) {
            Ok((t, status)) => {
                write(&dir.join(format!("live-{rel}.txt")), &t)?;
                // Reproduced here (the reproducer's verdict, exit 0): this kernel counts.
                if status == 0 && kernels.is_empty() {
                    kernels.push(rel.clone());
                }
                live_text = Some((rel, t));
            }
            Err(e) => eprintln!("diofuzz report: --live: {e}"),
        }
    }
    // The plain-text report.
    let known = diofuzz::known::lookup(&main.signature, v.name);
    let sigvars = variants_with(&s, main, known);
    // Lab runs on Debian kernels under QEMU. The reproducer checks that the kernel does what the
    // model predicts for that release's variant: REPRODUCED is the bug where that variant has the
    // finding, and the model's fixed behaviour where it has not.
    let mut lab_texts = Vec::new();
    let mut fixed_on = Vec::new();
    let mut differs_on = Vec::new();
    for (f, (rel, t, matched)) in o.lab_outputs.iter().zip(labs) {
        let kept = dir.join(format!("lab-{rel}.txt"));
        if std::fs::canonicalize(f).ok() != std::fs::canonicalize(&kept).ok() {
            write(&kept, &t)?;
        }
        // That release's variant with its stable backports (6.17.13: v6.17+6.17.13).
        let has = crate::live::variant_for_release(&rel).is_some_and(|base| {
            match crate::live::Stable::new(base, &rel).variant {
                Some(bv) => has_finding(&s, main, known, bv, base.name),
                None => sigvars.contains(&base.name),
            }
        });
        let what = format!("{rel} (Debian, in QEMU)");
        match (matched, has) {
            (true, true) => kernels.push(what),
            (true, false) => fixed_on.push(what),
            (false, _) => differs_on.push(what),
        }
        lab_texts.push((rel, t));
    }
    let mut r = String::new();
    let _ = writeln!(r, "Subject: [BUG] {title}\n");
    let _ = writeln!(r, "What happens\n------------\n");
    for f in &findings {
        let _ = writeln!(r, "- {} ({}): {}", f.property.title(), f.property, f.detail);
    }
    if let Some(k) = known {
        let _ = writeln!(r, "\n{}", wrap(&k.description, 78));
    }
    let _ = writeln!(r, "\nWhere\n-----\n");
    let _ = writeln!(
        r,
        "Filesystem: {}. Reproduced on: {}.\nThe diofuzz model of the kernel predicts it for: {} (see path.txt).",
        main.fs,
        if kernels.is_empty() {
            "not yet run on a real kernel".to_string()
        } else {
            format!("Linux {}", kernels.join(", "))
        },
        if sigvars.is_empty() {
            v.name.to_string()
        } else {
            sigvars.join(", ")
        }
    );
    if !fixed_on.is_empty() {
        let _ = writeln!(
            r,
            "Not present on: Linux {} (the model predicts no such finding there, and the kernel did what the model predicts).",
            fixed_on.join(", ")
        );
    }
    if !differs_on.is_empty() {
        let _ = writeln!(
            r,
            "The kernel did not do what the model predicts on: Linux {} (see its output below).",
            differs_on.join(", ")
        );
    }
    let _ = writeln!(r, "\nReproducer\n----------\n");
    let _ = writeln!(
        r,
        "repro.c in this folder is standalone (libc only):\n\n    cc -O2 -o repro repro.c && ./repro /mnt/scratch   # a directory on {}\n\nThe request, with the world it runs in:\n",
        match main.fs {
            "xfs" => "an XFS filesystem (reflink=1, the default)",
            "ext4" => "an ext4 filesystem",
            _ => "the filesystem named below",
        }
    );
    if let Ok(p) = plan(&s) {
        let _ = writeln!(r, "{}", describe(&p));
    }
    if let Some((rel, t)) = &live_text {
        let _ = writeln!(r, "\nOutput on Linux {rel} (this host):\n");
        for l in t.lines() {
            let _ = writeln!(r, "    {l}");
        }
    }
    for (rel, t) in &lab_texts {
        let _ = writeln!(
            r,
            "\nOutput on Linux {rel} (Debian's kernel package, in a QEMU guest: `diofuzz repro FINDING --run --kernel {rel}`):\n"
        );
        for l in t.lines() {
            let _ = writeln!(r, "    {l}");
        }
    }
    let _ = writeln!(
        r,
        "\nWhy this breaks the contract\n----------------------------\n"
    );
    let mut seen = Vec::new();
    for f in &findings {
        if !seen.contains(&f.property) {
            seen.push(f.property);
            let _ = writeln!(r, "{}: {}\n", f.property, wrap(contract(f.property), 78));
        }
    }
    let _ = writeln!(r, "How it gets there\n-----------------\n");
    for (i, d) in main.path.iter().enumerate() {
        let _ = writeln!(r, "  {}. {d}", i + 1);
    }
    let _ = writeln!(r, "\nRegression test\n---------------\n\n{fst_note}");
    let _ = writeln!(
        r,
        "\nFound with diofuzz (model variant {}, signature {}).",
        v.name, main.signature
    );
    write(&dir.join("report.txt"), &r)?;
    eprintln!("diofuzz report: wrote {}", dir.display());
    if let Err(e) = &fst {
        eprintln!("diofuzz report: {e}");
    }
    Ok(0)
}

/// The plan in words (for the report).
fn describe(p: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "    filesystem: {}, block size {}{}",
        p.key.fs.name(),
        1u32 << p.key.blkbits,
        if p.key.fs == FsKind::Xfs && p.key.reflink {
            ", reflink"
        } else {
            ""
        }
    );
    for st in &p.steps {
        let _ = writeln!(s, "    set-up: {st:?}");
    }
    let c = &p.call;
    let _ = writeln!(
        s,
        "    call: pwritev2(pos {}, len {}, RWF {:#x}) on a file opened{}{}{}{}{}{}",
        c.pos,
        c.len,
        c.rwf,
        if c.direct { " O_DIRECT" } else { "" },
        if c.append { " O_APPEND" } else { "" },
        if c.dsync { " O_DSYNC" } else { "" },
        if c.sync { " O_SYNC" } else { "" },
        c.rlimit_fsize
            .map(|l| format!(", RLIMIT_FSIZE {l}"))
            .unwrap_or_default(),
        c.fault_at
            .map(|f| format!(", the user buffer faults from byte {f} on"))
            .unwrap_or_default()
    );
    s
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for w in text.split_whitespace() {
        if line > 0 && line + 1 + w.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(w);
        line += w.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use diofuzz::oracle::{Finding, Prop};
    use diofuzz::scenario::{BlockState, Extent, FsKind, PageState, Race, Scenario};

    fn finding() -> Finding {
        Finding {
            property: Prop::O6,
            variant: "v7.3",
            fs: "ext4",
            path: vec![],
            signature: String::new(),
            detail: "test".into(),
        }
    }

    /// 1 KiB-block ext4, 6 written blocks, O_DIRECT 1024 at 4096.
    fn ext4_1k() -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Default::default()
        };
        s.world.device = Default::default();
        s.world.blkbits = 10;
        s.world.i_size = 6144;
        s.world.blocks = vec![
            BlockState {
                kind: Extent::Written,
                ..Default::default()
            };
            6
        ];
        s.request.open.direct = true;
        s.request.pos = 4096;
        s.request.len = 1024;
        s
    }

    /// A world the generic test cannot make (its device) is refused with the reason, not built
    /// on the default filesystem; mkfs and mount options are written into the test.
    #[test]
    fn mount_options_are_refused() {
        let mut s = ext4_1k();
        s.world.lbs_bits = 12;
        s.world.blkbits = 12;
        s.world.i_size = 16384;
        s.world.blocks.truncate(4);
        let e = super::fstests_test(&s, &finding(), 900, "t", "id", &[]).unwrap_err();
        assert!(e.contains("4096-byte logical blocks"), "{e}");
        // ... and a file on 1 or 2 KiB logical blocks (session 12) says its size.
        let mut s = ext4_1k();
        s.world.lbs_bits = 10;
        let e = super::fstests_test(&s, &finding(), 900, "t", "id", &[]).unwrap_err();
        assert!(e.contains("a device of 1024-byte logical blocks"), "{e}");
        // What mkfs and mount options make is stated in the test.
        let mut s = ext4_1k();
        s.world.mount.data_journal = true;
        let (t, _, _) = super::fstests_test(&s, &finding(), 900, "t", "id", &[]).unwrap();
        // ext4's mount options: another filesystem skips the test (a plain _scratch_mount would
        // fail it there), and the remount before the data check keeps them.
        assert!(
            t.contains(
                "_try_scratch_mount -o data=journal >> $seqres.full 2>&1 || _notrun \"mount -o data=journal failed\""
            ),
            "{t}"
        );
        assert!(t.contains("_scratch_cycle_mount \"data=journal\"\n"), "{t}");
        // Only helpers fstests has: no block-size _require (the mkfs line skips instead).
        assert!(!t.contains("_require_scratch_blocksize"), "{t}");
        let mut s = ext4_1k();
        s.world.mount.extents_feature = false;
        s.world.inode.extents = false;
        let (t, _, _) = super::fstests_test(&s, &finding(), 900, "t", "id", &[]).unwrap();
        assert!(
            t.contains("_scratch_mkfs \"-b 1024 -O ^extent,^64bit\""),
            "{t}"
        );
        assert!(t.contains("\n_scratch_mount >> $seqres.full"), "{t}");
        // (and the test still parses as bash)
        let f = std::env::temp_dir().join(format!("dfz-fstests-{}", std::process::id()));
        std::fs::write(&f, &t).unwrap();
        if let Ok(st) = std::process::Command::new("bash")
            .arg("-n")
            .arg(&f)
            .status()
        {
            assert!(st.success(), "{t}");
        }
        let _ = std::fs::remove_file(&f);
        // The default world is exported with xfs_io alone.
        let (t, _, helper) =
            super::fstests_test(&ext4_1k(), &finding(), 900, "t", "id", &[]).unwrap();
        assert!(
            helper.is_none() && t.contains("_scratch_mkfs_blocksized 1024"),
            "{t}"
        );
    }

    /// A change between the open and the call (here the i_disksize lag written back after
    /// open) is not an xfs_io command: the test runs the C helper, which makes it.
    #[test]
    fn races_after_open_go_to_the_helper() {
        let mut s = ext4_1k();
        s.world.i_size = 5633;
        s.world.pages = vec![PageState::None, PageState::Clean];
        s.races = vec![Race::InodeFlagChangedAfterOpen(11)];
        let (t, _, helper) = super::fstests_test(&s, &finding(), 900, "t", "id", &[]).unwrap();
        let helper = helper.expect("the C helper");
        assert!(
            t.contains("xfs_io cannot express this request (a change between"),
            "{t}"
        );
        assert!(helper.contains("sync_file_range(cfd"), "{helper}");
        // A failed call (ret -1) that moved i_size is named as a failure, not as "-1 bytes".
        assert!(
            t.contains("that failed (returned $ret; was 5633)")
                && t.contains("[ $ret -gt 0 ]; then\n\techo \"i_size $size beyond"),
            "{t}"
        );
    }

    /// The helper-based test reads the helper's output as fstests runs it: a world the helper
    /// cannot build here (exit 2, COULD NOT RUN) is "not run", not a silent pass; a helper that
    /// never issues the call fails the test; an aio call's result is read like pwritev2's.
    #[test]
    fn helper_results_are_read_as_fstests_runs_them() {
        let mut s = ext4_1k();
        s.world.i_size = 5633;
        s.world.pages = vec![PageState::None, PageState::Clean];
        s.races = vec![Race::InodeFlagChangedAfterOpen(11)];
        let (t, _, _) = super::fstests_test(&s, &finding(), 900, "t", "id", &[]).unwrap();
        let dir = std::env::temp_dir().join(format!("dfz-fstests-helper-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        // fstests' functions the test calls, as no-ops, and _notrun as fstests prints it.
        let shim = "_begin_fstest() { :; }\n_require_scratch() { :; }\n_require_odirect() { :; }\n\
                    _require_test_program() { :; }\n_scratch_mkfs() { :; }\n_scratch_mount() { :; }\n\
                    _notrun() { echo \"[not run] $*\"; exit 0; }\n";
        let body: String = t
            .lines()
            .filter(|l| !l.starts_with(". ./common/"))
            .collect::<Vec<_>>()
            .join("\n");
        let test = dir.join("900");
        std::fs::write(
            &test,
            format!(
                "{shim}here={}\ntmp={}/tmp\nseqres={}/res\n{body}\n",
                dir.display(),
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let run = |helper: &str| -> String {
            let h = dir.join("src/diofuzz-900");
            std::fs::write(&h, format!("#!/bin/sh\n{helper}")).unwrap();
            std::process::Command::new("chmod")
                .arg("+x")
                .arg(&h)
                .status()
                .unwrap();
            let o = std::process::Command::new("bash")
                .arg(&test)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let out = run(
            "echo 'COULD NOT RUN (setup: FS_IOC_SETFLAGS +j: Operation not permitted)'; exit 2",
        );
        assert_eq!(
            out,
            "[not run] diofuzz-900: COULD NOT RUN (setup: FS_IOC_SETFLAGS +j: Operation not permitted)\n",
            "{t}"
        );
        let out = run("echo 'setup: open: No such file'; exit 1");
        assert!(
            out.starts_with("diofuzz-900 did not issue the call (exit 1)\n"),
            "{out}"
        );
        let out = run("echo 'aio_rw(pos 4096, len 1024, rwf 0x0) = -1 errno 14 (Bad address)'; echo 'i_size 8192; x'; exit 1");
        assert_eq!(
            out,
            "i_size 8192 after a write at 4096 that failed (returned -1; was 5633)\nSilence is golden\n",
            "{t}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
