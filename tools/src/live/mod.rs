// SPDX-License-Identifier: GPL-2.0-only
//! The live-kernel differential (`diofuzz live`, `diofuzz repro`): replay scenarios as real
//! syscalls on scratch XFS and ext4 filesystems of the running kernel, observe the path each write
//! took through tracefs, and compare with the model variant that matches the kernel.
//!
//! Modules: [`scratch`] (private folder, images, loop devices, mounts, stale clean-up, signals),
//! [`tracefs`] (a private trace instance, parsing), [`plan`] (scenario -> syscalls, data
//! patterns), [`exec`] (the executor), [`gen`] (the generator), [`compare`] (verdicts, oracle on
//! the kernel, summary), [`repro`] (standalone C reproducer). User documentation: docs/live.md.

pub mod bdev_geometry;
pub mod bdev_state;
pub mod bioerr;
pub mod compare;
pub mod cow;
pub mod dax;
pub mod disk_hold;
pub mod exec;
pub mod fault;
pub mod fiemap;
pub mod hibernate;
pub mod inline_delalloc;
pub mod inline_scaled;
pub mod inode_kind;
pub mod inode_state;
pub mod jflag_pages;
pub mod limits;
pub mod nvme_stable;
pub mod pages;
pub mod partial;
pub mod placement;
pub mod plan;
pub mod probes;
pub mod race;
pub mod reflink_race;
pub mod repro;
pub mod repro_fault;
pub mod scratch;
pub mod segs;
pub mod select;
pub mod settle_more;
pub mod settle_race;
pub mod shutdown;
pub mod swap;
pub mod tracefs;
pub mod ublk;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use compare::{Outcome, Summary, Verdict};
use scratch::{Prereqs, Scratch};
use serde::Serialize;
use tracefs::Tracer;

use diofuzz::scenario::{FsKind, Scenario};
use diofuzz::variant::{self, Variant};

/// `diofuzz live`: replay scenarios on the running kernel and compare them with the model.
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "live runs generated scenarios (--count per filesystem, default 0 when files are \
given, else 50) and scenario files as real syscalls on scratch filesystems it makes itself (root, \
loop devices, tracefs, mkfs.xfs/mkfs.ext4 needed), and compares each with the model variant \
matching `uname -r`. Exit: 0 done, 1 disagreements or kernel findings with --strict, 2 usage or \
missing prerequisites, 3 harness error, 130 interrupted. See docs/live.md."
)]
pub struct Opts {
    /// Scenario files or folders (JSON or corpus bytes) that a real kernel can express
    #[arg(value_name = "SCENARIO_FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Filesystems to run on
    #[arg(long = "fs", value_enum, default_value = "both")]
    pub fs: LiveFs,
    /// Generated scenarios per filesystem [default: 0 with files, else 50]
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Seed of the scenario generator
    #[arg(long, default_value = "1")]
    pub seed: u64,
    /// Model variant to compare with: a name, BASE+switch=value or a variant file [default:
    /// the one matching `uname -r`]
    #[arg(long, value_name = "V", value_parser = crate::cli::one_variant)]
    pub variant: Option<&'static Variant>,
    /// A variant file (a patch described as data, e.g. for a kernel built with that patch)
    #[arg(long, value_name = "FILE", value_parser = crate::cli::variant_file,
          conflicts_with = "variant")]
    pub variant_file: Option<&'static Variant>,
    /// JSON output
    #[arg(long)]
    pub json: bool,
    /// Save each disagreement's scenario and C reproducer in DIR
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Print every scenario's outcome and the set-up commands
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Exit 1 on disagreements or kernel findings
    #[arg(long)]
    pub strict: bool,
    /// Check the prerequisites only
    #[arg(long)]
    pub check: bool,
    /// Remove resources left by killed runs, then exit
    #[arg(long)]
    pub cleanup: bool,
    /// Run on this scsi_debug disk with atomic write units instead of loop devices (it is
    /// reformatted per filesystem; only a disk whose model is scsi_debug is taken)
    #[arg(long, value_name = "DEV")]
    pub device: Option<PathBuf>,
    /// Run on this fault device instead: a memory-backed null_blk disk made through configfs
    /// with badblocks_once (what `diofuzz lab` makes for its fault groups). Generated scenarios
    /// get a bio_endio -EIO fault, and scenarios whose faults are bio_endio -EIO run: the faulted
    /// bio's first sector is marked bad (docs/lab.md)
    #[arg(long, value_name = "DEV", conflicts_with_all = ["device", "bigalloc"])]
    pub fault_device: Option<PathBuf>,
    /// With --fault-device: generated scenarios are scattered O_DIRECT writes of several bios
    /// (256 bvecs each) with the fault on a bio after the first: the write ends with an error
    /// between two of its bios (src/generators/fault_segs.rs, docs/lab.md)
    #[arg(long, requires = "fault_device")]
    pub multi_bio_faults: bool,
    /// With --device: bio_endio -EIO faults on the disk's first REQ_ATOMIC bio, through
    /// scsi_debug's debugfs error file (a WRITE ATOMIC(16) rule that fails the next such
    /// command); generated scenarios get one (docs/lab.md)
    #[arg(long, requires = "device")]
    pub atomic_faults: bool,
    /// Run on this DAX-capable pmem disk instead (/dev/pmemN, e.g. a memmap= region, what
    /// `diofuzz lab` makes for its DAX groups): it is reformatted and mounted with dax=always or
    /// dax=inode; generated scenarios are DAX worlds (docs/lab.md)
    #[arg(long, value_name = "DEV", conflicts_with_all = ["device", "fault_device", "bigalloc"])]
    pub pmem: Option<PathBuf>,
    /// Build swap-file worlds: swapon(2) of the scenario's file on the scratch filesystem (with
    /// --fs bdev: of the scenario's device). Only inside the lab's disposable guests (`diofuzz
    /// lab --groups ext4-swap,xfs-swap,bdev-swap`; refused elsewhere); generated scenarios are
    /// swap-file worlds (docs/lab.md "Swap files")
    #[arg(long, conflicts_with_all = ["device", "fault_device", "pmem", "bigalloc"])]
    pub swapon: bool,
    /// With --swapon --fs bdev: each swap device is made the hibernation resume device
    /// (/dev/snapshot's SNAPSHOT_SET_SWAP_AREA, held through the call), which blkdev_write_iter
    /// writes to (is_hibernate_resume_dev); generated scenarios are the swap devices among the
    /// first --count, at rest or with swapon/swapoff after open (lab group bdev-resume;
    /// docs/live.md "Block-device states")
    #[arg(long, requires = "swapon")]
    pub hibernate_resume: bool,
    /// Generated scenarios are ext4 files that get `chattr +j` after the call's open, on a
    /// filesystem made with `-O verity` (no large folios before 6.19: the flag takes effect on
    /// 6.16 - 6.18 too). Needs CAP_SYS_RESOURCE (the lab's guests have it: group ext4-jflag)
    #[arg(long, conflicts_with_all = ["fault_device", "pmem", "bigalloc", "swapon"])]
    pub jflag_after_open: bool,
    /// Of the generated scenarios run only those of these worlds: held (a page under writeback
    /// or an mmapped dirty page), reflink-race (the XFS reflink flag changed after open), limits
    /// (RLIMIT_FSIZE, stable writes, no O_LARGEFILE, scaled s_maxbytes, zero length),
    /// bdev-state (a block device with stable writes on zram, the mmap writer or the i_rwsem
    /// holder), bdev-geometry (a block device of another block size or a size not whole pages),
    /// stable-nowait (RWF_NOWAIT on a stable-writes block device: an nvme-tcp namespace),
    /// stable-nowait-held (of those, a held page or more than one iovec: session 10),
    /// inline-convert (ext4 inline data converted after open), inline-convert-held (session 9:
    /// a held or busy page 0, a dirty page 0 with the truncate path, a delayed block on a
    /// block-mapped inode after the conversion), inline-delalloc (ext4 inline data converted by a
    /// delalloc write, not yet written back), inline-delalloc-more (session 10: that state
    /// after a truncate, with a scaled bitmap limit or a race after open; a conversion after
    /// open with a scaled limit), lag-writeback-held (ext4: the i_disksize lag
    /// written back after open, the page at EOF still under writeback at the write, on a
    /// nodioread_nolock mount; from the --settle-after-open generator), writeback-unwritten
    /// (session 11: a page under writeback over an unwritten block inside EOF, converted when
    /// its I/O completes, on the default mount; the i_disksize lag variant among them),
    /// lag-writeback-unwritten (of those, the lag variant), tail-small (session 11: a loop
    /// device of 1 or 2 KiB logical blocks whose size is not whole logical blocks),
    /// file-small-lbs (session 12: ext4 and XFS files on loop devices of 1 or 2 KiB logical
    /// blocks), partial (a shared block
    /// straddling EOF, a page dirty over hole blocks: docs/live.md); live scans the generator's
    /// indices for --count of them per filesystem (docs/lab.md)
    #[arg(long, value_name = "WORLD,...", value_delimiter = ',', value_enum,
          conflicts_with_all = ["fault_device", "atomic_faults", "pmem", "swapon", "jflag_after_open", "settle_after_open"])]
    pub worlds: Vec<select::World>,
    /// Generated scenarios are ext4 files whose inline data is converted (fallocate) or whose
    /// i_disksize lag is written back (sync_file_range) after the call's open (docs/live.md
    /// "Races after open"; lab group ext4-settle)
    #[arg(long, conflicts_with_all = ["device", "fault_device", "pmem", "bigalloc", "swapon", "jflag_after_open"])]
    pub settle_after_open: bool,
    /// With inline data converted after open: syncfs right after the conversion, which writes
    /// the journalled block 0 home (the world at the write is the same; the kernel bug
    /// docs/live-findings/inline-convert-stale-read no longer hides the rest of the comparison)
    #[arg(long)]
    pub sync_after_convert: bool,
    /// With --fs bdev: RWF_NOWAIT on stable writes runs on nvme_core's multipath head (loaded
    /// multipath=Y; bio-based nvme_ns_head_submit_bio in front of the nvme-tcp namespace)
    /// instead of the namespace itself (lab group bdev-nvme-mpath; docs/live.md "Block-device
    /// states")
    #[arg(long)]
    pub nvme_multipath: bool,
    /// ext4 bigalloc on the --device disk with this cluster size in bytes
    #[arg(long, value_name = "BYTES", value_parser = parse_cluster)]
    pub bigalloc: Option<u32>,
    /// Write one JSON line per scenario as it runs ({"start":ID} before, the outcome after) to
    /// this file or device (what `diofuzz lab` reads over a serial port; survives a crash)
    #[arg(long, value_name = "FILE")]
    pub stream: Option<PathBuf>,
    /// Read the kernel log around each scenario: WARNING/BUG/Oops lines become O7 kernel findings
    #[arg(long)]
    pub kmsg: bool,
    /// Skip the post-call probes (P1: syncfs, umount and mount, read back again; P2: truncate
    /// up over the blocks past EOF, read zeroes), which run after each scenario on a loop
    /// filesystem of live's own (docs/live.md "Post-call probes")
    #[arg(long)]
    pub no_probes: bool,
    /// Compare with the variant plus the stable backports of the running release
    /// (src/backports.rs), and say which backports explain each result
    #[arg(long)]
    pub stable: bool,
}

/// `--bigalloc`: a power-of-two cluster size of 8 to 64 KiB (4 KiB blocks).
fn parse_cluster(s: &str) -> Result<u32, String> {
    let c: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a cluster size in bytes"))?;
    if !c.is_power_of_two() || !(8192..=65536).contains(&c) {
        return Err(format!(
            "cluster size {c}: want 8192, 16384, 32768 or 65536"
        ));
    }
    Ok(c)
}

/// `--fs` of live.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveFs {
    Ext4,
    Xfs,
    #[value(alias = "all")]
    Both,
    /// The raw block device (blkdev_write_iter): a loop device, or with --device a partition
    /// of the disk, made for each scenario
    Bdev,
}

impl Opts {
    /// The filesystems to run on.
    pub fn fss(&self) -> Vec<FsKind> {
        match self.fs {
            LiveFs::Ext4 => vec![FsKind::Ext4],
            LiveFs::Xfs => vec![FsKind::Xfs],
            LiveFs::Both => vec![FsKind::Ext4, FsKind::Xfs],
            LiveFs::Bdev => vec![FsKind::Bdev],
        }
    }
}

/// `uname -r` release string.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The model variant for a kernel release ("6.18.44-..." -> v6.18; an unknown newer minor takes
/// the newest variant not above it).
pub fn variant_for_release(rel: &str) -> Option<&'static Variant> {
    let mut p = rel.split(|c: char| !c.is_ascii_digit());
    let maj: u32 = p.next()?.parse().ok()?;
    let min: u32 = p.next()?.parse().ok()?;
    if let Some(v) = variant::by_name(&format!("v{maj}.{min}")) {
        return Some(v);
    }
    let all = variant::resolve("all").ok()?;
    all.into_iter()
        .filter_map(|v| {
            let mut q = v.name.trim_start_matches('v').split('.');
            let a: u32 = q.next()?.parse().ok()?;
            let b: u32 = q.next()?.parse().ok()?;
            ((a, b) <= (maj, min)).then_some(((a, b), v))
        })
        .max_by_key(|(k, _)| *k)
        .map(|(_, v)| v)
}

fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<(String, Scenario)>, String> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    diofuzz::input::walk(inputs)?
        .into_iter()
        .map(|f| Ok((f.display().to_string(), diofuzz::input::load_scenario(&f)?)))
        .collect()
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Bench {
    pub executed: u64,
    pub kernel_seconds: f64,
    pub kernel_syscalls: u64,
    pub kernel_syscalls_per_s: f64,
    pub kernel_scenarios_per_s: f64,
    /// The measured call alone (pwritev2/preadv2 with its RWF flags), calls per second of
    /// call time (fork excluded only when no RLIMIT child was needed).
    pub kernel_call_seconds: f64,
    pub kernel_calls_per_s: f64,
    pub model_executions: u64,
    pub model_seconds: f64,
    pub model_executions_per_s: f64,
    /// The post-call probes (not in kernel_seconds): scenarios whose P1 ran, and their time.
    pub probed: u64,
    pub probe_seconds: f64,
}

#[derive(Serialize)]
struct Report<'a> {
    kernel: String,
    variant: &'static str,
    seed: u64,
    count_per_fs: u64,
    events_enabled: &'a [String],
    events_missing: &'a [String],
    summary: &'a Summary,
    bench: &'a Bench,
    results: &'a [Outcome],
}

fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::gettid() }
}

pub fn run_live(o: &Opts) -> i32 {
    // Inputs first: a bad scenario file is a usage error whatever the machine has.
    let mut scen = match collect_inputs(&o.inputs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("diofuzz live: {e}");
            return 2;
        }
    };
    let pre = scratch::prereqs();
    let missing = pre.missing(&o.fss());
    if o.check {
        if missing.is_empty() {
            println!(
                "live: prerequisites present (root, loop, tracefs, mkfs for {:?})",
                o.fss()
            );
            return 0;
        }
        for m in &missing {
            println!("live: missing: {m}");
        }
        return 2;
    }
    if !missing.is_empty() {
        eprintln!("diofuzz live: refusing to run:");
        for m in &missing {
            eprintln!("  - {m}");
        }
        return 2;
    }
    let (removed, problems) = scratch::remove_stale();
    for r in &removed {
        eprintln!("live: {r}");
    }
    for p in &problems {
        eprintln!("live: stale clean-up: {p}");
    }
    if o.cleanup {
        // Trace instances outlive a tracefs mount: setting up (and removing) a tracer of our own
        // removes the instances of dead runs.
        let mut bad = !problems.is_empty();
        match Scratch::new(o.verbose) {
            Ok(mut sc) => {
                let name = sc
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                match Tracer::new(&sc.dir, &name) {
                    Ok(mut t) => bad |= !t.cleanup().is_empty(),
                    Err(e) => {
                        eprintln!("live: tracefs: {e}");
                        bad = true;
                    }
                }
                bad |= !sc.cleanup().is_empty();
            }
            Err(e) => {
                eprintln!("live: {e}");
                bad = true;
            }
        }
        return if bad { 3 } else { 0 };
    }
    let rel = kernel_release();
    let v = match o.variant.or(o.variant_file) {
        Some(v) => v,
        None => match variant_for_release(&rel) {
            Some(v) => v,
            None => {
                eprintln!("diofuzz live: no model variant for kernel {rel}; pass --variant");
                return 2;
            }
        },
    };
    let stable = if o.stable {
        Stable::new(v, &rel)
    } else {
        Stable::default()
    };
    let v = stable.variant.unwrap_or(v);
    let disk = match &o.device {
        Some(d) => match scratch::disk_info(d) {
            Ok(x) => {
                // Hold rules a killed run left would hold every write (disk_hold).
                disk_hold::clear(d);
                Some(x)
            }
            Err(e) => {
                eprintln!("diofuzz live: --device: {e}");
                return 2;
            }
        },
        None => None,
    };
    let faultdev = match (&o.fault_device, &o.device, &disk) {
        (Some(d), _, _) => match fault::FaultDisk::open(d) {
            Ok(x) => Some(x),
            Err(e) => {
                eprintln!("diofuzz live: --fault-device: {e}");
                return 2;
            }
        },
        (None, Some(d), Some(info)) if o.atomic_faults => {
            match fault::FaultDisk::open_scsi_atomic(d, *info) {
                Ok(x) => Some(x),
                Err(e) => {
                    eprintln!("diofuzz live: --atomic-faults: {e}");
                    return 2;
                }
            }
        }
        _ => None,
    };
    let disk = match &o.pmem {
        Some(d) => match dax::pmem_info(d) {
            Ok(x) => Some(x),
            Err(e) => {
                eprintln!("diofuzz live: --pmem: {e}");
                return 2;
            }
        },
        None => disk.or(faultdev.as_ref().map(|f| f.disk)),
    };
    if o.swapon {
        if !swap::in_lab_guest() {
            eprintln!(
                "diofuzz live: --swapon runs only inside a diofuzz lab guest ({} missing): swapon would give this machine's memory manager a swap area on a scratch file",
                swap::GUEST_MARKER
            );
            return 2;
        }
        swap::enable();
        if o.hibernate_resume {
            hibernate::enable();
        }
    }
    if o.nvme_multipath {
        nvme_stable::use_multipath();
    }
    let cluster_bits = o.bigalloc.map_or(0, |c| (c.trailing_zeros() - 12) as u8);
    if cluster_bits > 0 && disk.is_none() {
        eprintln!("diofuzz live: --bigalloc needs --device (loop devices run no bigalloc)");
        return 2;
    }
    let mut count = o.count.unwrap_or(if o.inputs.is_empty() { 50 } else { 0 });
    if !o.worlds.is_empty() {
        let d = disk.as_ref();
        scen.extend(select::generate(
            &o.worlds,
            o.seed,
            count,
            &o.fss(),
            d,
            cluster_bits,
        ));
        count = 0;
    }
    for i in 0..count {
        for &fs in &o.fss() {
            let id = format!("gen-{}-{}-{i}", o.seed, fs.name());
            if let Some(fd) = &faultdev {
                let gen = if o.multi_bio_faults {
                    diofuzz::generators::fault_segs::generate_multi_bio_faulted
                } else {
                    diofuzz::generators::fault::generate_faulted_with
                };
                if let Some(s) = gen(o.seed, i, fs, disk.as_ref(), v, fd.errnos()) {
                    scen.push((id, s));
                }
                continue;
            }
            if o.swapon {
                let s = diofuzz::generators::flags::generate_swap(o.seed, i, fs);
                if !o.hibernate_resume || hibernate::wanted(&s) {
                    scen.push((id, s));
                }
                continue;
            }
            if o.jflag_after_open {
                if fs == FsKind::Ext4 {
                    scen.push((
                        id,
                        diofuzz::generators::flags::generate_jflag_on(o.seed, i, disk.as_ref()),
                    ));
                }
                continue;
            }
            if o.settle_after_open {
                if fs == FsKind::Ext4 {
                    scen.push((id, diofuzz::generators::settle::generate_settle(o.seed, i)));
                }
                continue;
            }
            if let (Some(d), true) = (disk.as_ref(), o.pmem.is_some()) {
                scen.push((id, diofuzz::generators::dax::generate_dax(o.seed, i, fs, d)));
                continue;
            }
            scen.push((
                id,
                diofuzz::generators::random::generate_on(
                    o.seed,
                    i,
                    fs,
                    disk.as_ref(),
                    cluster_bits,
                ),
            ));
        }
    }
    if o.pmem.is_some() {
        // The pmem device is bio-based and never splits (pmem_submit_bio): the model must know.
        for (_, s) in scen.iter_mut() {
            s.world.device.no_bio_split = true;
        }
    }
    if let Err(e) = scratch::install_signal_handlers() {
        eprintln!("diofuzz live: {e}");
        return 3;
    }
    let mut sc = match Scratch::new(o.verbose) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("diofuzz live: {e}");
            return 3;
        }
    };
    sc.disk = o
        .device
        .clone()
        .or(o.fault_device.clone())
        .or(o.pmem.clone());
    let inst = sc
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut tracer = match Tracer::new(&sc.dir, &inst) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("diofuzz live: tracefs: {e}");
            drop(sc);
            return 3;
        }
    };
    if let Err(e) = tracer.follow(gettid()) {
        eprintln!("diofuzz live: {e}");
        return 3;
    }
    if !o.json {
        eprintln!(
            "live: kernel {rel}, model variant {}, {} scenario(s); scratch in {}",
            v.name,
            scen.len(),
            sc.dir.display()
        );
    }
    let blktrace = match faultdev
        .as_ref()
        .map(|f| fault::BlockTrace::new(&tracer.root, f))
    {
        Some(Err(e)) => {
            eprintln!("diofuzz live: --fault-device: block trace: {e}");
            return 3;
        }
        Some(Ok(b)) => Some(b),
        None => None,
    };
    let (outcomes, bench, fatal) = run_all(
        &scen,
        v,
        &mut sc,
        &tracer,
        &pre,
        o,
        (disk, &stable, faultdev.as_ref().zip(blktrace.as_ref())),
    );
    drop(blktrace);
    let mut code = 0;
    let mut cleanup_errs = tracer.cleanup();
    cleanup_errs.extend(sc.cleanup());
    for e in &cleanup_errs {
        eprintln!("live: cleanup: {e}");
    }
    let mut summary = Summary::default();
    for x in &outcomes {
        summary.add(x);
    }
    if o.json {
        let r = Report {
            kernel: rel,
            variant: v.name,
            seed: o.seed,
            count_per_fs: count,
            events_enabled: &tracer.enabled,
            events_missing: &tracer.missing,
            summary: &summary,
            bench: &bench,
            results: &outcomes,
        };
        match serde_json::to_string_pretty(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("diofuzz live: json: {e}"),
        }
    } else {
        for x in &outcomes {
            print_outcome(x, o.verbose);
        }
        println!("\n{}", summary.table());
        println!(
            "throughput: kernel {:.0} syscalls/s ({:.1} scenarios/s, {} scenarios in {:.2}s; the measured call alone {:.0}/s); model {:.0} executions/s",
            bench.kernel_syscalls_per_s,
            bench.kernel_scenarios_per_s,
            bench.executed,
            bench.kernel_seconds,
            bench.kernel_calls_per_s,
            bench.model_executions_per_s
        );
        println!("{}", probes::summary_line(&outcomes, &bench));
        if !tracer.missing.is_empty() {
            println!(
                "trace events not present on this kernel: {}",
                tracer.missing.join(", ")
            );
        }
    }
    if let Some(dir) = &o.save {
        if let Err(e) = save(dir, &outcomes) {
            eprintln!("diofuzz live: --save: {e}");
            code = 3;
        }
    }
    if let Some(f) = fatal {
        eprintln!("diofuzz live: {f}");
        return if scratch::interrupted() { 130 } else { 3 };
    }
    if !cleanup_errs.is_empty() {
        code = 3;
    }
    let bad = outcomes.iter().any(|x| {
        x.verdict == Verdict::Disagree
            || x.verdict == Verdict::Error
            || !x.kernel_findings.is_empty()
    });
    if code == 0 && o.strict && bad {
        code = 1;
    }
    code
}

/// The stable backports of the running release (`live --stable`): the variant with them applied,
/// and the plain variant and each backport alone, to tell which backports explain a result.
#[derive(Default)]
pub struct Stable {
    pub variant: Option<&'static Variant>,
    pub base: Option<&'static Variant>,
    /// (commit, base + that backport alone)
    pub each: Vec<(&'static str, &'static Variant)>,
}

impl Stable {
    pub fn new(base: &'static Variant, rel: &str) -> Stable {
        let bps = diofuzz::backports::for_release(rel);
        if bps.is_empty() {
            return Stable::default();
        }
        let (a, b, c) = diofuzz::backports::parse_release(rel).unwrap_or_default();
        let leak = |mut v: Variant, name: String| -> &'static Variant {
            v.name = Box::leak(name.into_boxed_str());
            Box::leak(Box::new(v))
        };
        let all = diofuzz::backports::apply(base, &bps);
        Stable {
            variant: Some(leak(all, format!("{}+{a}.{b}.{c}", base.name))),
            base: Some(base),
            each: bps
                .iter()
                .map(|bp| {
                    (
                        bp.commit,
                        leak(
                            diofuzz::backports::apply(base, &[bp]),
                            format!("{}+{}", base.name, bp.commit),
                        ),
                    )
                })
                .collect(),
        }
    }

    /// Record the verdict without the backports and the backports that explain the result.
    fn explain(
        &self,
        oc: &mut Outcome,
        s: &Scenario,
        p: &plan::Plan,
        obs: &exec::Observation,
        gap: Option<&str>,
    ) {
        let Some(base) = self.base else { return };
        let verdict = |v: &'static Variant| {
            std::panic::catch_unwind(|| fault::model_run(s, v))
                .ok()
                .map(|x| compare::outcome(String::new(), s, p, &x, obs, gap).verdict)
        };
        let plain = verdict(base);
        oc.without_backports = plain;
        if plain == Some(Verdict::Disagree) {
            for (c, v) in &self.each {
                if verdict(v) == Some(Verdict::Agree) {
                    oc.explained_by.push(c.to_string());
                }
            }
        }
    }
}

/// A kernel log line that is a finding: a WARN, BUG, oops or similar.
pub fn is_warn_line(l: &str) -> bool {
    [
        "WARNING:",
        "BUG:",
        "Oops",
        "kernel BUG",
        "general protection fault",
        "Call Trace",
        "watchdog: ",
        "INFO: task",
        // Filesystem and device errors a user request should not cause (seen with the lab:
        // an ext4 REQ_ATOMIC bio off the device's atomic alignment -> "critical target error").
        "EXT4-fs error",
        "EXT4-fs warning",
        "critical target error",
        "Internal error",
        "Corruption",
    ]
    .iter()
    .any(|k| l.contains(k))
}

/// The finding lines of a batch of kernel log lines, each with up to 8 lines that follow it (the
/// location and the start of the trace); other lines (mount messages) are dropped.
pub fn warn_context(lines: Vec<String>) -> Vec<String> {
    let mut keep = Vec::new();
    let mut after = 0;
    for l in lines {
        if is_warn_line(&l) {
            after = 8;
            keep.push(l);
        } else if after > 0 {
            after -= 1;
            keep.push(l);
        }
    }
    keep
}

/// The kernel log (/dev/kmsg), read from the end: the records each scenario adds.
pub struct Kmsg(fs::File);

impl Kmsg {
    pub fn open() -> Option<Kmsg> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()?;
        // SAFETY: lseek on our fd; SEEK_END on /dev/kmsg skips the records logged so far.
        unsafe { libc::lseek(std::os::fd::AsRawFd::as_raw_fd(&f), 0, libc::SEEK_END) };
        Some(Kmsg(f))
    }

    /// Messages logged since the last call ("prio,seq,ts,flags;text" -> text), at most 64.
    pub fn read_new(&mut self) -> Vec<String> {
        use std::io::Read;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let text = rec.split_once(';').map(|x| x.1).unwrap_or(&rec);
                    let line = text.lines().next().unwrap_or("").trim().to_string();
                    if out.len() < 64 && !line.is_empty() {
                        out.push(line);
                    }
                }
                // EPIPE: records were overwritten; the next read continues.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

/// Run every scenario. Returns the outcomes, the throughput and a fatal error (interrupt or a
/// scratch filesystem that cannot be made), after which the remaining scenarios are not run.
fn run_all(
    scen: &[(String, Scenario)],
    v: &'static Variant,
    sc: &mut Scratch,
    tracer: &Tracer,
    pre: &Prereqs,
    o: &Opts,
    (disk, stable, fault): (
        Option<plan::Disk>,
        &Stable,
        Option<(&fault::FaultDisk, &fault::BlockTrace)>,
    ),
) -> (Vec<Outcome>, Bench, Option<String>) {
    let faultdev = fault.map(|f| f.0);
    let rel = kernel_release();
    let mut out = Vec::new();
    let mut stream = match &o.stream {
        Some(p) => match fs::OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => Some(f),
            Err(e) => {
                return (
                    out,
                    Bench::default(),
                    Some(format!("--stream {}: {e}", p.display())),
                )
            }
        },
        None => None,
    };
    let mut kmsg = if o.kmsg { Kmsg::open() } else { None };
    let mut bench = Bench::default();
    let mut executed = Vec::new();
    let mut fatal = None;
    let gaps: Vec<(FsKind, Option<String>)> = [FsKind::Ext4, FsKind::Xfs]
        .into_iter()
        .map(|f| (f, compare::model_gap(f, v)))
        .collect();
    for (f, g) in &gaps {
        if let (Some(g), false) = (g, o.json) {
            eprintln!(
                "live: the {} model of {} says: {g}; its results count as unmodelled",
                f.name(),
                v.name
            );
        }
    }
    let pb = crate::progress::items(
        scen.len() as u64,
        "scenarios",
        crate::progress::wanted(o.json),
    );
    for (n, (id, s)) in scen.iter().enumerate() {
        pb.set_position(n as u64);
        if scratch::interrupted() {
            fatal = Some("interrupted: cleaned up".to_string());
            break;
        }
        let skip =
            |note: String, verdict: Verdict| compare::not_compared(id.clone(), s, note, verdict);
        let planned = match faultdev {
            Some(_) => fault::plan_faulted(s, disk.as_ref()),
            None if o.pmem.is_some() => dax::plan_pmem(s, disk.as_ref()),
            None => plan::plan_on(s, disk.as_ref()),
        };
        let p = match planned.and_then(|p| {
            race::refuse_on_release(&p, &rel)?;
            race::refuse_here(&p)?;
            nvme_stable::refuse_here(&p)?;
            Ok(settle_race::with_sync(p, o.sync_after_convert))
        }) {
            Ok(p) => p,
            Err(why) => {
                out.push(skip(why, Verdict::Skipped));
                continue;
            }
        };
        // The model before the set-up: the placement of the extents and the nvme namespace's
        // virt boundary are not known yet.
        placement::clear();
        nvme_stable::clear_virt_boundary();
        let x = match std::panic::catch_unwind(|| fault::model_run(s, v)) {
            Ok(x) => x,
            Err(_) => {
                out.push(skip("the model panicked".into(), Verdict::Error));
                continue;
            }
        };
        // The fault device: the faulted bios' first sectors, marked bad between set-up and call.
        // Where XFS's placement picks the path (super::placement), the targets are planned again
        // after FIEMAP (fault::replan) and a refusal now is not yet final.
        let first_targets =
            match faultdev.map(|f| fault::targets(s, &p, &x, f.limits, f.atomic_only())) {
                Some(Err(why)) if !placement::applies(s) => {
                    out.push(skip(why, Verdict::Skipped));
                    continue;
                }
                t => t,
            };
        let targets = std::cell::RefCell::new(Vec::new());
        if let Some(f) = stream.as_mut() {
            // Before the call: a crash or hang from here on is this scenario's.
            let _ = writeln!(f, "{}", serde_json::json!({ "start": id }));
        }
        // The post-call probes (super::probes): P2's stale seed goes in before the fault
        // device is armed; the fault device is checked and disarmed before the probes run
        // (their I/O must meet no bad sector).
        let probing = !o.no_probes && probes::any(&p);
        let seeding = probing && probes::applies(&p).p2.is_ok();
        let armed = std::cell::RefCell::new(Vec::new());
        let mut before = |path: &Path| -> Result<(), String> {
            if p.key.fs != FsKind::Bdev {
                placement::measure(s, path);
            }
            if seeding {
                probes::seed_unwritten(path)?;
            }
            if let (Some((f, bt)), Some(first)) = (fault, first_targets.clone()) {
                let t = fault::replan(s, &p, v, f, first)?;
                *armed.borrow_mut() = f.arm(s, &t, path)?;
                *targets.borrow_mut() = t;
                bt.clear()?;
            }
            if o.pmem.is_some() {
                dax::check_file(path, s)?;
            }
            Ok(())
        };
        let settled = std::cell::RefCell::new(None);
        let settle = || {
            if settled.borrow().is_some() {
                return;
            }
            let armed = armed.borrow();
            let inexact = match fault {
                Some((_, bt)) if !armed.is_empty() => match bt.failed() {
                    Ok(failed) => fault::check_exact(&armed, &targets.borrow(), &failed),
                    Err(e) => Some(e),
                },
                _ => None,
            };
            *settled.borrow_mut() = Some((inexact, faultdev.map(|f| f.disarm(&armed))));
        };
        let mut probed = None;
        let mut after = |sc: &mut Scratch, path: &Path, obs: &exec::Observation| {
            settle();
            if !o.no_probes {
                probed = Some(match probing {
                    true => probes::run(sc, &p, path, obs, faultdev.is_some()),
                    false => (
                        probes::not_run(&p, faultdev.is_some(), probes::NOT_DOWN),
                        vec![],
                    ),
                });
            }
        };
        let t0 = Instant::now();
        let mut on_device = None;
        let r = if p.key.fs == FsKind::Bdev {
            // A device of its own, made for the scenario and removed after it.
            let dev = match sc.bdev(p.key, p.i_size) {
                Ok(d) => d,
                // (The multipath head without the namespace's atomic units: nvme_stable.)
                Err(e) if e.starts_with(exec::UNAVAILABLE) => {
                    out.push(skip(e, Verdict::Skipped));
                    continue;
                }
                Err(e) => {
                    fatal = Some(format!("block device for {id}: {e}"));
                    break;
                }
            };
            let r = exec::execute_bdev_then(
                &p,
                &dev,
                &n.to_string(),
                tracer,
                &mut before,
                &mut |path, obs| after(sc, path, obs),
            );
            let errs = sc.release_bdev();
            if !errs.is_empty() {
                fatal = Some(format!("block device for {id}: {}", errs.join("; ")));
            }
            r
        } else if p.key.own && p.down.is_none() {
            // A filesystem of its own that the scenario changes (a remount after open:
            // super::race), made for it and never used again.
            race::run_own(sc, &p, pre, &n.to_string(), tracer, &mut before, &mut after)
        } else if p.down.is_some() {
            // A filesystem of its own, made for the scenario and never used again.
            match shutdown::run(sc, &p, pre, &n.to_string(), tracer, &mut before) {
                Ok((obs, found)) => {
                    on_device = Some(found);
                    after(sc, Path::new(""), &obs);
                    Ok(obs)
                }
                Err(e) if scratch::interrupted() => {
                    fatal = Some(format!("{id}: {e}"));
                    break;
                }
                Err(e) => Err(e),
            }
        } else {
            let mnt = match sc.get(p.key, pre).and_then(|f| match o.pmem {
                Some(_) => dax::file_dir(&f.mnt, s),
                None => Ok(f.mnt.clone()),
            }) {
                Ok(m) => m,
                Err(e) => {
                    fatal = Some(format!("scratch filesystem {}: {e}", p.key.label()));
                    break;
                }
            };
            exec::execute_then(
                &p,
                &mnt,
                &n.to_string(),
                tracer,
                &mut before,
                &mut |path, obs| after(sc, path, obs),
            )
        };
        settle();
        let (inexact, missed) = settled.take().unwrap_or_default();
        let armed = armed.into_inner();
        let targets = targets.into_inner();
        let probe_s = probed
            .as_ref()
            .map_or(0.0, |(x, _): &(probes::Probes, _)| x.ns as f64 / 1e9);
        bench.kernel_seconds += t0.elapsed().as_secs_f64() - probe_s;
        bench.probe_seconds += probe_s;
        match r {
            Ok(obs) => {
                bench.executed += 1;
                bench.kernel_syscalls += plan::syscall_count(&p);
                bench.kernel_call_seconds += obs.call_ns as f64 / 1e9;
                executed.push(s.clone());
                let gap = gaps
                    .iter()
                    .find(|(f, _)| *f == s.fs)
                    .and_then(|(_, g)| g.as_deref());
                // The nvme namespace's virt boundary, read at its set-up: the model again with it
                // (super::nvme_stable; the run before the set-up had none).
                let x = match nvme_stable::virt_boundary_mask() {
                    0 => x,
                    _ => std::panic::catch_unwind(|| fault::model_run(s, v)).unwrap_or(x),
                };
                // XFS's placement of the extents, read after the set-up: the model again with it
                // (super::placement; the run before the set-up assumed it).
                let placed = placement::current()
                    .and_then(|_| std::panic::catch_unwind(|| fault::model_run(s, v)).ok());
                let (x, placed_note) = match placed {
                    Some(xp) => {
                        let note = placement::note(&x, &xp);
                        (xp, note)
                    }
                    None => (x, None),
                };
                let mut oc = match on_device {
                    Some(n) => shutdown::outcome(id.clone(), s, &p, &x, &obs, n),
                    None => compare::outcome(id.clone(), s, &p, &x, &obs, gap),
                };
                if let Some(n) = placed_note {
                    if !oc.note.is_empty() {
                        oc.note.push_str("; ");
                    }
                    oc.note.push_str(&n);
                }
                if !armed.is_empty() {
                    fault::other_real_order(&mut oc, s, v, |x| {
                        compare::outcome(id.clone(), s, &p, x, &obs, gap)
                    });
                }
                stable.explain(&mut oc, s, &p, &obs, gap);
                fault::annotate(&mut oc, &targets, &armed, missed, inexact);
                if o.pmem.is_some() {
                    dax::annotate(&mut oc, &x, &obs);
                }
                if !armed.is_empty() {
                    fault::annotate_order(&mut oc, s, v, |x| {
                        compare::outcome(String::new(), s, &p, x, &obs, gap).verdict
                    });
                }
                if let Some((pr, found)) = probed.take() {
                    bench.probed += (pr.p1 == "ok" || pr.p1 == "finding") as u64;
                    oc.kernel_findings.extend(found);
                    oc.probes = Some(pr);
                }
                if let (true, Some(pl)) = (o.verbose, placement::current()) {
                    let line = format!("live: {id}: placement {}", placement::describe(&pl));
                    crate::progress::line(&pb, &line);
                }
                if o.verbose {
                    let names: Vec<&str> = obs.events.iter().map(|e| e.name.as_str()).collect();
                    crate::progress::line(&pb, &format!("live: {id}: events {}", names.join(",")));
                }
                out.push(oc);
            }
            Err(e) if e.starts_with(cow::UNBUILT) => {
                if o.verbose {
                    crate::progress::line(&pb, &format!("live: {id}: {e}"));
                }
                out.push(skip(cow::UNBUILT.to_string(), Verdict::Skipped))
            }
            Err(e) if e.starts_with(exec::UNAVAILABLE) => out.push(skip(e, Verdict::Skipped)),
            Err(e) => {
                let verdict = fault::error_verdict(&e);
                out.push(skip(e, verdict));
            }
        }
        if let (Some(k), Some(last)) = (kmsg.as_mut(), out.last_mut()) {
            let own = |l: &String| p.down.is_some() && shutdown::own_log_line(l);
            last.dmesg = warn_context(k.read_new().into_iter().filter(|l| !own(l)).collect());
            for l in last
                .dmesg
                .iter()
                .filter(|l| is_warn_line(l) && !l.contains("Call Trace"))
            {
                last.kernel_findings.push(format!("O7 (kernel log): {l}"));
            }
        }
        if let (Some(f), Some(last)) = (stream.as_mut(), out.last()) {
            if let Ok(j) = serde_json::to_string(last) {
                let _ = writeln!(f, "{j}");
            }
        }
    }
    pb.finish_and_clear();
    // Model throughput over the executed scenarios (repeated until ~0.2 s).
    if !executed.is_empty() {
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed().as_secs_f64() < 0.2 && n < 1_000_000 {
            for s in &executed {
                std::hint::black_box(diofuzz::model::run(s, v));
                n += 1;
            }
        }
        bench.model_executions = n;
        bench.model_seconds = t0.elapsed().as_secs_f64();
        bench.model_executions_per_s = n as f64 / bench.model_seconds.max(1e-9);
    }
    if bench.kernel_seconds > 0.0 {
        bench.kernel_syscalls_per_s = bench.kernel_syscalls as f64 / bench.kernel_seconds;
        bench.kernel_scenarios_per_s = bench.executed as f64 / bench.kernel_seconds;
    }
    if bench.kernel_call_seconds > 0.0 {
        bench.kernel_calls_per_s = bench.executed as f64 / bench.kernel_call_seconds;
    }
    (out, bench, fatal)
}

fn print_outcome(x: &Outcome, verbose: bool) {
    let show = verbose
        || matches!(
            x.verdict,
            Verdict::Disagree | Verdict::Error | Verdict::Racy
        )
        || !x.kernel_findings.is_empty()
        || x.note.contains("kernel:");
    if !show {
        return;
    }
    println!(
        "{:?} {} [{}{}] {}",
        x.verdict,
        x.id,
        x.fs,
        if x.atomic { " atomic" } else { "" },
        x.note
    );
    if let (Some(m), Some(k)) = (&x.model, &x.kernel) {
        println!(
            "  model : ret {} short {} buffered {} dio {} sw_atomic {} i_size {}",
            m.ret, m.short, m.buffered, m.dio, m.sw_atomic, m.i_size
        );
        println!(
            "  kernel: ret {} short {} buffered {} dio {} sw_atomic {} i_size {}",
            k.ret, k.short, k.buffered, k.dio, k.sw_atomic, k.i_size
        );
    }
    for m in &x.mismatches {
        println!("  {}: model {} / kernel {}", m.field, m.model, m.kernel);
    }
    for f in &x.kernel_findings {
        println!("  KERNEL FINDING {f}");
    }
    for (off, hex) in &x.kernel_other_sectors {
        println!("  unrecognised data at byte {off}: {hex}...");
    }
    if x.verdict == Verdict::Disagree || !x.kernel_findings.is_empty() {
        if let Ok(j) = serde_json::to_string(&x.scenario) {
            println!("  scenario: {j}");
        }
    }
    if !x.kernel_findings.is_empty() {
        println!(
            "  reproducer: save the scenario line as FILE.json, then `diofuzz repro FILE.json` (C source) or `--run`; `live --save DIR` writes both"
        );
    }
}

/// Write scenario JSON and C reproducer for each disagreement / kernel finding into `dir`.
fn save(dir: &Path, outs: &[Outcome]) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    for x in outs {
        if x.verdict != Verdict::Disagree && x.kernel_findings.is_empty() {
            continue;
        }
        let base: String =
            x.id.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
        let j = serde_json::to_string_pretty(&x.scenario).map_err(|e| e.to_string())?;
        for (ext, body) in [
            ("json", j),
            (
                "c",
                repro::c_program(&x.scenario).unwrap_or_else(|e| format!("/* {e} */\n")),
            ),
        ] {
            let p = dir.join(format!("{base}.{ext}"));
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&p)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            f.write_all(body.as_bytes())
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_from_release() {
        assert_eq!(
            variant_for_release("6.18.44-fc-v595").unwrap().name,
            "v6.18"
        );
        assert_eq!(variant_for_release("6.13.0").unwrap().name, "v6.13");
        // An unknown minor takes the newest one below it.
        assert_eq!(variant_for_release("7.9.1").unwrap().name, "v7.3");
        assert_eq!(variant_for_release("7.3.4").unwrap().name, "v7.3");
        assert!(variant_for_release("garbage").is_none());
    }

    #[test]
    fn kernel_log_findings() {
        let lines: Vec<String> = [
            "EXT4-fs (sda): mounted filesystem",
            "WARNING: CPU: 0 PID: 7 at fs/ext4/file.c:600 ext4_dio_write_iter+0x1/0x2",
            "Modules linked in: xfs",
            "Call Trace:",
            "a",
            "b",
            "c",
            "d",
            "e",
            "f",
            "g",
            "h",
            "XFS (sda): Ending clean mount",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let k = warn_context(lines);
        assert_eq!(k.first().map(|s| &s[..8]), Some("WARNING:"));
        assert!(!k
            .iter()
            .any(|l| l.contains("mounted") || l.contains("clean mount")));
        assert!(k.iter().any(|l| l == "Call Trace:"));
        assert!(!is_warn_line("EXT4-fs (sda): mounted filesystem"));
    }

    #[test]
    fn options() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            o: Opts,
        }
        use clap::Parser;
        let p = |a: &[&str]| T::try_parse_from(std::iter::once("live").chain(a.iter().copied()));
        let o = p(&["--fs", "xfs", "--count", "3", "--seed=9", "--json"])
            .unwrap()
            .o;
        assert_eq!(o.fss(), vec![FsKind::Xfs]);
        assert_eq!(o.count, Some(3));
        assert_eq!(o.seed, 9);
        assert!(o.json);
        let o = p(&["--variant=v6.18", "dir"]).unwrap().o;
        assert_eq!(o.variant.map(|v| v.name), Some("v6.18"));
        assert_eq!(o.fss(), vec![FsKind::Ext4, FsKind::Xfs]);
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["--variant", "v9.9"]).is_err());
    }
}
