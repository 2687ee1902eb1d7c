// SPDX-License-Identifier: GPL-2.0-only
//! The fstests export of a block-device finding (`diofuzz report`, session 10): the test makes a
//! loop device of the scenario's logical block size over an image file in `$TEST_DIR`
//! (`losetup -b`), holds it open while the world is built (the last close of a block device drops
//! its page cache: `blkdev_put_whole` -> `kill_bdev`, block/bdev.c), builds the world with xfs_io
//! on the device node and, for a device whose size is not whole logical blocks, writes the bytes
//! past its edge into the image file (no I/O through the device reaches them:
//! [`crate::live::bdev_geometry::edge`]), issues the call on the device node, and after the last
//! close and `losetup -d` compares the image with the old data plus the bytes reported written.
//! What xfs_io cannot build (a block size other than `set_init_blocksize`'s, which needs
//! BLKBSZSET, races, held pages) runs the C reproducer on the loop device instead; what neither
//! can (stable writes, a device held under writeback) gets no fstests test.

use crate::live::plan::{plan_on, Plan};
use diofuzz::scenario::Scenario;
use std::fmt::Write as _;

/// What marks a set-up command for the image file instead of the device node.
const BACKING: &str = "backing: ";

/// The plan of a block-device scenario on a loop device, or why the export has no test for it.
pub fn plan(s: &Scenario) -> Result<Plan, String> {
    let p = plan_on(s, None).map_err(|e| format!("not expressible on a real kernel: {e}"))?;
    if p.key.stable || p.key.nvme || p.key.layered {
        return Err(
            "not exported to fstests: a stable-writes device or a device held under writeback (live's own devices: diofuzz repro --run)"
                .into(),
        );
    }
    Ok(p)
}

/// Can xfs_io build this block-device plan? (Else the C reproducer runs on the loop device.)
pub fn expressible(p: &Plan) -> Result<(), String> {
    let lbs = 1u64 << p.key.lbs_bits;
    if crate::live::bdev_geometry::wanted_set(p.key.blkbits, lbs, p.i_size).is_some() {
        return Err(format!(
            "a block size of {} bytes, which set_init_blocksize does not give a {}-byte device (BLKBSZSET: xfs_io has no command for it)",
            1u32 << p.key.blkbits,
            p.i_size
        ));
    }
    if !p.call.after_open.is_empty() {
        return Err("a race after the call's open (the i_rwsem holder or a swap change)".into());
    }
    if p.call.pages.held() {
        return Err("a page held under writeback or mapped dirty during the call".into());
    }
    Ok(())
}

/// The set-up command for bytes past a tail device's edge: written into the image file.
pub fn backing_cmd(off: u64, len: u64, old: bool) -> String {
    format!(
        "{BACKING}pwrite -S {} {off} {len}",
        if old { "0x11" } else { "0" }
    )
}

/// The requirements of a block-device test.
pub const REQUIRE: &str = "_require_test\n_require_loop\n";

/// The loop device over a fresh image (`$img`, `$dev`, held open on descriptor 9), and the
/// clean-up that removes them even when the test fails. With `xfs_io`, the block size must be the
/// plan's (the C reproducer sets it itself).
pub fn device(p: &Plan, xfs_io: bool) -> String {
    let mut o = format!(
        "_cleanup()\n{{\n\texec 9<&-\n\ttest -n \"$dev\" && _destroy_loop_device $dev\n\trm -f $img\n\tcd /\n\trm -r -f $tmp.*\n}}\n\n\
         # The device: a loop device of {lbs}-byte logical blocks over an image of {size} bytes,\n\
         # held open on descriptor 9 (its last close would drop the page cache the world has).\n\
         img=$TEST_DIR/diofuzz-$seq.img\n\
         rm -f $img\n\
         $XFS_IO_PROG -f -c \"truncate {size}\" $img >> $seqres.full\n\
         dev=$(losetup -f --show -b {lbs} $img 2>> $seqres.full) || _fail \"losetup -b {lbs} $img\"\n\
         exec 9<$dev\n",
        lbs = 1u32 << p.key.lbs_bits,
        size = p.i_size,
    );
    if xfs_io {
        let _ = writeln!(
            o,
            "test \"$(blockdev --getbsz $dev)\" = {bs} || _fail \"block size $(blockdev --getbsz $dev), not {bs}\"",
            bs = 1u32 << p.key.blkbits
        );
    }
    o
}

/// The world's set-up on `$dev` (and `$img` for the bytes past the edge), in the plan's order,
/// then the expected device content before the call in `$tmp.expect`.
pub fn setup(p: &Plan, cmds: &[String]) -> String {
    let mut o = device(p, true);
    let mut runs: Vec<(bool, Vec<&str>)> = Vec::new();
    for c in cmds {
        let (backing, c) = match c.strip_prefix(BACKING) {
            Some(c) => (true, c),
            None => (false, c.as_str()),
        };
        match runs.last_mut() {
            Some((b, v)) if *b == backing => v.push(c),
            _ => runs.push((backing, vec![c])),
        }
    }
    o.push_str("\n# The world: old data 0x11, dirty page cache 0x22 (the device node); past the\n# device's edge, the image file.\n");
    for (backing, v) in &runs {
        o.push_str("$XFS_IO_PROG");
        for c in v {
            let _ = write!(o, " -c \"{c}\"");
        }
        let _ = writeln!(
            o,
            " {} >> $seqres.full",
            if *backing { "$img" } else { "$dev" }
        );
    }
    let _ = write!(
        o,
        "\n# What the device holds before the call.\n$XFS_IO_PROG -f -c \"truncate {}\"",
        p.i_size
    );
    for c in cmds {
        let c = c.strip_prefix(BACKING).unwrap_or(c);
        if c.starts_with("pwrite") {
            let _ = write!(o, " -c \"{c}\"");
        }
    }
    o.push_str(" $tmp.expect >> $seqres.full\n");
    o
}

/// After the call (`$ret` bytes at `$landing`): the device's last close writes its page cache
/// back, `losetup -d`, and the image must be the old data plus the bytes reported written.
pub const CHECK: &str =
    "# After the device's last close and losetup -d the image holds the old data plus\n\
# the bytes reported written, and nothing else.\n\
if [ $ret -gt 0 ]; then\n\
\t$XFS_IO_PROG -c \"pwrite -S 0x33 $landing $ret\" $tmp.expect >> $seqres.full\nfi\n\
$XFS_IO_PROG -c fsync $dev >> $seqres.full 2>&1\n\
exec 9<&-\n\
_destroy_loop_device $dev\n\
dev=\n\
if ! cmp $img $tmp.expect > $tmp.cmp 2>&1; then\n\
\techo \"device data differs from the old data plus the $ret bytes written at $landing\"\n\
\tcat $tmp.cmp >> $seqres.full\n\
\tod -A d -t x1 $img >> $seqres.full\nfi\n";

#[cfg(test)]
mod tests {
    use diofuzz::oracle::{Finding, Prop};
    use diofuzz::scenario::Scenario;

    fn finding() -> Finding {
        Finding {
            property: Prop::O1,
            variant: "v7.3",
            fs: "bdev",
            path: vec![],
            signature: String::new(),
            detail: "test".into(),
        }
    }

    /// The fstests test of a scenario (panics if there is none).
    pub fn test_of(s: &Scenario) -> (String, Option<String>) {
        let (t, _, helper) =
            crate::report::fstests_test(s, &finding(), 900, "title", "id", &[]).unwrap();
        (t, helper)
    }

    fn tail() -> Scenario {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/live-bdev-tail/tail-buffered-into-eio.json"
        );
        diofuzz::input::load_scenario(std::path::Path::new(path)).unwrap()
    }

    /// A tail device: a loop device of 4 KiB logical blocks over a 6 KiB image held open, the
    /// device part of the world written on the node, the part past its edge into the image, the
    /// call on the node, the image compared after losetup -d; bash accepts it.
    #[test]
    fn a_tail_device_is_built_on_a_loop_device_and_its_image() {
        let s = tail();
        let (t, helper) = test_of(&s);
        if std::env::var_os("DIOFUZZ_SHOW").is_some() {
            println!("{t}");
        }
        assert!(helper.is_none(), "{t}");
        for want in [
            "_require_loop",
            // (losetup's warnings, e.g. for an image under 512 bytes, go to $seqres.full:
            // fstests compares the test's whole output with the golden one)
            "losetup -f --show -b 4096 $img 2>> $seqres.full)",
            "exec 9<$dev",
            "\"pwrite -S 0 0 4096\"",
            "-c \"pwrite -S 0x11 4096 2048\" $img",
            "$XFS_IO_PROG -c \"pwrite -V 1 -b 2048 -S 0x33 4096 2048\" $dev",
            "_destroy_loop_device $dev",
            "cmp $img $tmp.expect",
        ] {
            assert!(t.contains(want), "{want}:\n{t}");
        }
        assert!(
            !t.contains("_scratch_mkfs") && !t.contains("$SCRATCH_MNT"),
            "{t}"
        );
        let at = |w: &str| t.find(w).unwrap();
        assert!(
            at("exec 9<$dev") < at("\"pwrite -S 0 0 4096\"")
                && at("-S 0x33 4096") < at("exec 9<&-\n_destroy")
        );
        let f = std::env::temp_dir().join(format!("diofuzz-report-bdev-{}", std::process::id()));
        std::fs::write(&f, &t).unwrap();
        let ok = std::process::Command::new("bash")
            .arg("-n")
            .arg(&f)
            .status();
        let _ = std::fs::remove_file(&f);
        assert!(ok.is_ok_and(|s| s.success()), "{t}");
    }
}
