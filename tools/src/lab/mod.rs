// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz lab`: the live differential on real kernels under QEMU — Debian's kernels (downloaded
//! once into the user's cache through a private apt configuration) or a developer's own build —
//! with a scsi_debug disk that has atomic write units, so ext4's and XFS's hardware atomic paths
//! run on a real kernel. Each kernel boots into an initramfs built from the host's programs
//! ([`guest`]), runs `diofuzz live` once per group, and streams every scenario's result over a
//! second serial port ([`qemu`]), which survives a guest crash. The host compares, per kernel and
//! group ([`report`]), and prints the matrix, JSON and a plot. User documentation: docs/lab.md.

pub mod debian;
pub mod guest;
pub mod pmem;
pub mod qemu;
pub mod report;
pub mod ublk;

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use guest::Group;
use report::{Crash, GroupResult};

/// `diofuzz lab`: the live differential on real kernels under QEMU.
#[derive(clap::Args, Clone, Debug)]
#[command(after_help = "Examples:
  diofuzz lab --list                          kernels Debian offers (and which cannot run)
  diofuzz lab --kernel 7.3 --count 300        the newest 7.3.x, 300 scenarios per group
  diofuzz lab --kernel 7.3,7.2,6.12 --json    several kernels, JSON on stdout
  diofuzz lab --kernel all
  diofuzz lab --kernel ~/linux/arch/x86/boot/bzImage --modules /tmp/mods/lib/modules/7.4.0-rc1
Exit: 0 every group agrees and no kernel finding, 1 disagreements, kernel findings or a kernel
crash/hang, 2 usage error (unknown version, missing modules, no QEMU, no cache space), 3 harness
error, 130 interrupted. See docs/lab.md.")]
pub struct Opts {
    /// Debian kernel versions (7.3 = the newest 7.3.x, 6.12.117, a comma list), `newest` or
    /// `all` (the newest of every series); or the path of your own build's bzImage (with --modules)
    #[arg(long, value_name = "VERSION[,VERSION...]|newest|all|PATH")]
    pub kernel: Option<String>,
    /// Compare every kernel with this model variant instead of its version's own (and its stable
    /// backports): a name, BASE+switch=value, or a variant file — your patch described as data,
    /// for a kernel built with that patch
    #[arg(long, value_name = "V|FILE")]
    pub variant: Option<String>,
    /// Your build's installed modules folder (make modules_install INSTALL_MOD_PATH=X ->
    /// X/lib/modules/RELEASE); needs loop, ext4, xfs, scsi_debug, sd_mod (modules or built in)
    #[arg(long, value_name = "DIR")]
    pub modules: Option<PathBuf>,
    /// Groups to run: `all` or a comma list of ext4-disk, ext4-bigalloc-disk, xfs-disk, xfs-loop,
    /// ext4-loop, bdev-disk, bdev-loop, bdev-fault, xfs-fault, ext4-fault, bdev-ublk-fault,
    /// xfs-ublk-fault, ext4-ublk-fault, bdev-ublk-segs-fault, xfs-ublk-segs-fault,
    /// ext4-ublk-segs-fault, bdev-disk-fault,
    /// xfs-disk-fault, ext4-disk-fault, ext4-dax, xfs-dax
    #[arg(long, default_value = "all")]
    pub groups: String,
    /// Generated scenarios per group
    #[arg(long, short = 'n', default_value = "100")]
    pub count: u64,
    /// Seed of the scenario generator
    #[arg(long, default_value = "1")]
    pub seed: u64,
    /// Per-kernel timeout in seconds [default: from --count and the groups]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Folder for console logs, result streams, saved scenarios, lab.json and the plot
    #[arg(long, default_value = "lab-out", value_name = "DIR")]
    pub out: PathBuf,
    /// Print the results as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// List the kernels the archive offers, then exit
    #[arg(long)]
    pub list: bool,
    /// Cache folder [default: $XDG_CACHE_HOME/diofuzz/lab or ~/.cache/diofuzz/lab]
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Guest memory in MiB (the scsi_debug disk takes 512)
    #[arg(long, default_value = "2048", value_name = "MB")]
    pub memory: u32,
    /// Print the matrix and draw the plot (into --out) from a lab.json of an earlier run; boots
    /// nothing
    #[arg(long, value_name = "LAB.json", conflicts_with = "kernel")]
    pub report: Option<PathBuf>,
}

/// One kernel to boot.
#[derive(Clone, Debug)]
struct Target {
    /// "7.3.4" or the developer build's release
    version: String,
    release: String,
    vmlinuz: PathBuf,
    modules: Option<PathBuf>,
    debian: Option<debian::Kernel>,
}

/// One kernel's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KernelResult {
    pub version: String,
    pub release: String,
    /// The model variant compared with (plus the release's backports).
    pub variant: String,
    /// "exact" or "nearest older (no v7.3 variant)".
    pub variant_match: String,
    pub backports: Vec<String>,
    pub accel: qemu::Accel,
    pub wall_seconds: f64,
    pub groups: Vec<GroupResult>,
    pub crash: Option<Crash>,
    pub missing_in_guest: Vec<String>,
    pub error: Option<String>,
    pub console_log: String,
}

const MODULE_CONFIG: [(&str, &str); 5] = [
    ("loop", "CONFIG_BLK_DEV_LOOP"),
    ("ext4", "CONFIG_EXT4_FS"),
    ("xfs", "CONFIG_XFS_FS"),
    ("scsi_debug", "CONFIG_SCSI_DEBUG"),
    ("sd_mod", "CONFIG_BLK_DEV_SD"),
];

fn config_of(m: &str) -> &'static str {
    MODULE_CONFIG
        .iter()
        .find(|(n, _)| *n == m)
        .map(|x| x.1)
        .unwrap_or("?")
}

/// The cache folder.
pub fn cache_dir(o: &Opts) -> PathBuf {
    if let Some(c) = &o.cache {
        return c.clone();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("diofuzz").join("lab")
}

/// Free bytes where `p` (or its nearest existing parent) lives.
fn free_bytes(p: &Path) -> Option<u64> {
    let mut q = p.to_path_buf();
    while !q.exists() {
        q = q.parent()?.to_path_buf();
    }
    let s = nix::sys::statvfs::statvfs(&q).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

fn need_space(p: &Path, bytes: u64, what: &str) -> Result<(), String> {
    match free_bytes(p) {
        Some(f) if f < bytes => Err(format!(
            "no space for {what} in {}: {} MiB free, {} MiB needed (free some, or pass --cache DIR / --out DIR)",
            p.display(),
            f >> 20,
            bytes >> 20
        )),
        _ => Ok(()),
    }
}

/// The variant a kernel is compared with and how it was chosen.
pub fn variant_for(version: &str) -> (String, String, Vec<String>) {
    let base = crate::live::variant_for_release(version);
    let (a, b, _) = debian::version_key(version);
    let exact = diofuzz::variant::by_name(&format!("v{a}.{b}")).is_some();
    let bps: Vec<String> = diofuzz::backports::for_release(version)
        .iter()
        .map(|b| format!("{} ({}+)", b.commit, b.holds_from()))
        .collect();
    match base {
        Some(v) => (
            v.name.to_string(),
            if exact {
                "exact".into()
            } else {
                format!("nearest older (no v{a}.{b} variant)")
            },
            bps,
        ),
        None => (
            "none".into(),
            "no variant at or below this kernel".into(),
            bps,
        ),
    }
}

pub fn run(o: &Opts) -> i32 {
    if let Err(e) = crate::live::scratch::install_signal_handlers() {
        eprintln!("diofuzz lab: {e}");
        return 3;
    }
    let cache = cache_dir(o);
    if o.list {
        return list(&cache);
    }
    if let Some(f) = &o.report {
        return replot(o, f);
    }
    let Some(kernel) = o.kernel.clone() else {
        eprintln!("diofuzz lab: --kernel VERSION[,VERSION...]|all|PATH is needed (diofuzz lab --list shows the versions)");
        return 2;
    };
    if let Some(spec) = &o.variant {
        if let Err(e) = crate::cli::one_variant(spec) {
            eprintln!("diofuzz lab: --variant: {e}");
            return 2;
        }
    }
    let groups = match guest::select_groups(&o.groups) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("diofuzz lab: --groups: {e}");
            return 2;
        }
    };
    let qemu = match qemu::qemu_binary() {
        Ok(q) => q,
        Err(e) => {
            eprintln!("diofuzz lab: {e}");
            return 2;
        }
    };
    let tools = match guest::host_tools() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("diofuzz lab: {e}");
            return 2;
        }
    };
    let is_path = kernel.contains('/') || Path::new(&kernel).is_file();
    let targets = if is_path {
        match own_build(&kernel, o.modules.as_deref()) {
            Ok(t) => vec![t],
            Err(e) => {
                eprintln!("diofuzz lab: {e}");
                return 2;
            }
        }
    } else {
        if o.modules.is_some() {
            eprintln!("diofuzz lab: --modules goes with --kernel PATH (your own build)");
            return 2;
        }
        match debian_targets(&cache, &kernel) {
            Ok(t) => t,
            Err((code, e)) => {
                eprintln!("diofuzz lab: {e}");
                return code;
            }
        }
    };
    if let Err(e) = fs::create_dir_all(&o.out) {
        eprintln!("diofuzz lab: create {}: {e}", o.out.display());
        return 2;
    }
    if let Err(e) = need_space(&o.out, 300 << 20, "the initramfs and logs") {
        eprintln!("diofuzz lab: {e}");
        return 2;
    }
    let accel = qemu::detect_accel();
    if !o.json {
        eprintln!(
            "lab: {} kernel(s) × {} group(s) × {} scenarios; QEMU with {}; output in {}",
            targets.len(),
            groups.len(),
            o.count,
            accel.name(),
            o.out.display()
        );
    }
    let mut results = Vec::new();
    let mut interrupted = false;
    for (i, t) in targets.iter().enumerate() {
        if crate::live::scratch::interrupted() {
            interrupted = true;
            break;
        }
        let t = match prepare(&cache, t) {
            Ok(t) => t,
            Err((code, e)) => {
                eprintln!("diofuzz lab: {}: {e}", t.version);
                if code == 2 && targets.len() == 1 {
                    return 2;
                }
                results.push(failed(t, accel, e));
                continue;
            }
        };
        if !o.json {
            eprintln!(
                "lab: [{}/{}] kernel {} ({})",
                i + 1,
                targets.len(),
                t.version,
                t.release
            );
        }
        let r = run_kernel(o, &t, &groups, &tools, &qemu, accel);
        if !o.json {
            print_kernel(&r);
        }
        let end_int = crate::live::scratch::interrupted();
        results.push(r);
        if end_int {
            interrupted = true;
            break;
        }
    }
    let code = finish(o, &results);
    if interrupted {
        eprintln!("diofuzz lab: interrupted: QEMU stopped, partial results written");
        return 130;
    }
    code
}

fn failed(t: &Target, accel: qemu::Accel, e: String) -> KernelResult {
    let (variant, variant_match, backports) = variant_for(&t.version);
    KernelResult {
        version: t.version.clone(),
        release: t.release.clone(),
        variant,
        variant_match,
        backports,
        accel,
        wall_seconds: 0.0,
        groups: Vec::new(),
        crash: None,
        missing_in_guest: Vec::new(),
        error: Some(e),
        console_log: String::new(),
    }
}

fn list(cache: &Path) -> i32 {
    let apt = match debian::Apt::new(&cache.join("apt")).and_then(|a| a.update(false).map(|_| a)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("diofuzz lab: {e}");
            return 2;
        }
    };
    let names = match apt.kernel_names() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("diofuzz lab: {e}");
            return 2;
        }
    };
    let cat = debian::catalogue(names.iter().map(String::as_str));
    println!(
        "{:<10} {:<22} {:<10} packages",
        "version", "variant", "cached"
    );
    for k in &cat {
        let (v, m, _) = variant_for(&k.version);
        let cached = cache
            .join("kernels")
            .join(&k.release)
            .join(".complete")
            .exists();
        let vv = if m == "exact" {
            v
        } else {
            format!("{v} (older)")
        };
        match &k.unusable {
            None => println!(
                "{:<10} {:<22} {:<10} {}",
                k.version,
                vv,
                if cached { "yes" } else { "no" },
                k.packages.join(" ")
            ),
            Some(u) => println!("{:<10} {:<22} {:<10} not usable: {u}", k.version, vv, "-"),
        }
    }
    0
}

fn own_build(kernel: &str, modules: Option<&Path>) -> Result<Target, String> {
    let k = PathBuf::from(kernel);
    if !k.is_file() {
        return Err(format!("--kernel {kernel}: no such kernel image"));
    }
    let (release, modules) = match modules {
        Some(m) => {
            let idx = guest::Modules::index(m)?;
            let miss = idx.missing();
            if !miss.is_empty() {
                return Err(format!(
                    "the build lacks modules the lab needs: {} (neither a .ko under {} nor listed in its modules.builtin); enable {} (=m or =y) and run make modules_install",
                    miss.join(", "),
                    m.display(),
                    miss.iter().map(|x| config_of(x)).collect::<Vec<_>>().join(", ")
                ));
            }
            (
                m.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                Some(m.to_path_buf()),
            )
        }
        None => ("own-build".to_string(), None),
    };
    Ok(Target {
        version: release.clone(),
        release,
        vmlinuz: k,
        modules,
        debian: None,
    })
}

fn debian_targets(cache: &Path, want: &str) -> Result<Vec<Target>, (i32, String)> {
    let apt = debian::Apt::new(&cache.join("apt")).map_err(|e| (2, e))?;
    apt.update(false).map_err(|e| (2, e))?;
    let names = apt.kernel_names().map_err(|e| (2, e))?;
    let cat = debian::catalogue(names.iter().map(String::as_str));
    let sel = debian::select(&cat, want).map_err(|e| (2, e))?;
    Ok(sel
        .into_iter()
        .map(|k| Target {
            version: k.version.clone(),
            release: k.release.clone(),
            vmlinuz: PathBuf::new(),
            modules: None,
            debian: Some(k),
        })
        .collect())
}

/// Download and unpack a Debian kernel into the cache (once).
fn prepare(cache: &Path, t: &Target) -> Result<Target, (i32, String)> {
    let Some(k) = &t.debian else {
        return Ok(t.clone());
    };
    let root = cache.join("kernels").join(&k.release);
    let done = root.join(".complete");
    if !done.exists() {
        need_space(cache, 1536 << 20, "a kernel download").map_err(|e| (2, e))?;
        eprintln!(
            "lab: downloading {} (apt-get download, verified by apt) into {}",
            k.packages.join(" "),
            root.display()
        );
        let _ = fs::remove_dir_all(&root);
        let apt = debian::Apt::new(&cache.join("apt")).map_err(|e| (3, e))?;
        let debs_dir = cache.join("debs");
        let debs = apt.download(&k.packages, &debs_dir).map_err(|e| (3, e))?;
        debian::unpack(&debs, &root).map_err(|e| (3, e))?;
        for d in &debs {
            let _ = fs::remove_file(d);
        }
        fs::write(&done, k.packages.join("\n")).map_err(|e| (3, e.to_string()))?;
    }
    let u = debian::locate(&root, &k.release).ok_or_else(|| {
        (
            3,
            format!(
                "no kernel image or modules for {} under {} (remove it to download again)",
                k.release,
                root.display()
            ),
        )
    })?;
    Ok(Target {
        vmlinuz: u.vmlinuz,
        modules: Some(u.modules),
        ..t.clone()
    })
}

fn default_timeout(o: &Opts, groups: usize) -> Duration {
    // Under TCG on a loaded 2-core machine a scenario takes 0.15-0.3 s and a group's mkfs and
    // stale fill ~10 s: allow about four times that.
    Duration::from_secs(o.timeout.unwrap_or(180 + groups as u64 * (40 + o.count)))
}

fn run_kernel(
    o: &Opts,
    t: &Target,
    groups: &[Group],
    tools: &guest::HostTools,
    qemu_bin: &Path,
    accel: qemu::Accel,
) -> KernelResult {
    let dir = o.out.join(&t.version);
    let mut r = failed(t, accel, String::new());
    r.error = None;
    let console = dir.join("console.log");
    let stream_f = dir.join("stream.jsonl");
    r.console_log = console.display().to_string();
    if let Err(e) = fs::create_dir_all(&dir) {
        r.error = Some(format!("create {}: {e}", dir.display()));
        return r;
    }
    // The guest userspace. A user variant goes in as its spec, or as /variant.json when it is a
    // file; the guest's `live` then compares with it instead of the release's own variant.
    let (live_args, extra) = match &o.variant {
        None => ("--stable".to_string(), Vec::new()),
        Some(spec) if diofuzz::variant_file::looks_like_file(spec) => (
            "--variant /variant.json".to_string(),
            vec![("variant.json", PathBuf::from(spec))],
        ),
        Some(spec) => (
            format!("--variant '{}'", spec.replace('\'', "")),
            Vec::new(),
        ),
    };
    if let Some(v) = o
        .variant
        .as_deref()
        .and_then(|s| crate::cli::one_variant(s).ok())
    {
        r.variant = v.name.to_string();
        r.variant_match = "given (--variant)".into();
        r.backports.clear();
    }
    let init = guest::init_script(groups, o.count, o.seed, 512, &live_args);
    let initrd = match build_initrd(t, tools, &init, &extra, &dir) {
        Ok(p) => p,
        Err(e) => {
            r.error = Some(format!("initramfs: {e}"));
            return r;
        }
    };
    let _ = fs::remove_file(&console);
    let _ = fs::remove_file(&stream_f);
    let vm = qemu::Vm {
        kernel: t.vmlinuz.clone(),
        initrd: initrd.clone(),
        console: console.clone(),
        results: stream_f.clone(),
        memory_mb: o.memory,
        pmem_mb: if groups.iter().any(|g| pmem::is_dax_group(g.args)) {
            pmem::PMEM_MB
        } else {
            0
        },
        accel,
        timeout: default_timeout(o, groups.len()),
    };
    let tty = std::io::stderr().is_terminal() && !o.json;
    let mut shown = String::new();
    let tick = || {
        if o.json {
            return;
        }
        let text = fs::read_to_string(&stream_f).unwrap_or_default();
        let st = report::parse_stream(&text);
        let line = match st.groups.last() {
            Some(g) => format!(
                "lab: {} {}: {}/{} scenarios, {} disagree, {} with kernel findings",
                t.version,
                g.group,
                g.total,
                o.count,
                g.disagree,
                g.findings()
            ),
            None => format!("lab: {} booting", t.version),
        };
        if tty {
            eprint!("\r{line:<100}");
        } else {
            // Not a terminal: a line when the group changes and every 50 scenarios.
            let key = st
                .groups
                .last()
                .map(|g| format!("{} {}", g.group, g.total / 50))
                .unwrap_or_default();
            if key != shown {
                eprintln!("{line}");
            }
            shown = key;
            return;
        }
        shown = line;
    };
    let ran = vm.run(qemu_bin, tick);
    if tty {
        eprintln!();
    }
    let _ = fs::remove_file(&initrd);
    let (end, took) = match ran {
        Ok(x) => x,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    r.wall_seconds = took.as_secs_f64();
    let text = fs::read_to_string(&stream_f).unwrap_or_default();
    let cons = fs::read_to_string(&console).unwrap_or_default();
    let st = report::parse_stream(&text);
    r.missing_in_guest = st.missing.clone();
    r.crash = if end == qemu::End::Interrupted {
        None
    } else {
        report::crash_from(&cons, &st, end == qemu::End::Timeout)
    };
    if end == qemu::End::Interrupted {
        r.error = Some("interrupted".into());
    }
    if let Some(b) = &st.boot {
        if b != &t.release && t.debian.is_some() {
            r.error = Some(format!("the guest runs {b}, not {}", t.release));
        }
    }
    save_scenarios(&dir, &st);
    r.groups = st.groups;
    r
}

/// Build DIR/initrd.gz for kernel `t` with `init` and extra files (path inside, host file).
fn build_initrd(
    t: &Target,
    tools: &guest::HostTools,
    init: &str,
    extra: &[(&str, PathBuf)],
    dir: &Path,
) -> Result<PathBuf, String> {
    let initrd = dir.join("initrd.gz");
    let stage = dir.join("initrd-stage");
    let _ = fs::remove_dir_all(&stage);
    let built = (|| -> Result<(), String> {
        let (mods, files) = match &t.modules {
            Some(m) => {
                let idx = guest::Modules::index(m)?;
                let miss = idx.missing();
                if !miss.is_empty() {
                    return Err(format!("modules missing: {}", miss.join(", ")));
                }
                let f = idx.closure()?;
                (idx, f)
            }
            None => (guest::Modules::default(), Vec::new()),
        };
        let mut bins = tools.mkfs.clone();
        bins.push(tools.diofuzz.clone());
        let libs = guest::ldd_libs(&bins)?;
        let mut l = guest::listing(tools, &libs, &mods, &files, &t.release, init);
        for (inside, host) in extra {
            l.push((inside.to_string(), guest::Src::Copy(host.clone())));
        }
        guest::build(&l, &t.release, &stage, &initrd)
    })();
    let _ = fs::remove_dir_all(&stage);
    built.map(|_| initrd)
}

/// `diofuzz repro FILE --run --kernel VERSION|PATH [--modules DIR]`: the C reproducer, built
/// statically on the host, run inside a lab kernel on the scenario's filesystem (on the
/// scsi_debug disk when the scenario has device atomic units). Prints the program's output and
/// the kernel's WARN/BUG/Oops lines. Exit 0 quiet kernel, 1 a WARN/BUG/oops/panic/hang, 2 bad
/// input, 3 harness error.
pub fn repro_in_kernel(
    s: &diofuzz::scenario::Scenario,
    src: &str,
    kernel: &str,
    modules: Option<&Path>,
) -> i32 {
    if let Err(e) = crate::live::scratch::install_signal_handlers() {
        eprintln!("diofuzz repro: {e}");
        return 3;
    }
    let w = &s.world;
    let bdev = s.fs == diofuzz::scenario::FsKind::Bdev;
    // RWF_NOWAIT on stable writes: the nvme-tcp namespace has the world's geometry.
    let nvme = crate::live::nvme_stable::wanted(s);
    let disk = (w.device.awu_max > 0 && !nvme).then_some(crate::live::plan::Disk {
        awu_min: w.device.awu_min,
        awu_max: w.device.awu_max,
        lbs_bits: w.lbs_bits,
        dma_alignment: w.device.dma_alignment,
    });
    // A DAX world runs on the pmem device (memmap=), mounted with its dax option.
    let dax = crate::live::dax::is_pmem_world(s);
    // Without the atomic disk, a loop device: of the world's logical block size (session 12:
    // /bin/loopbs). The pmem device and the fault devices have their own 512-byte sectors.
    let loop_lbs = (disk.is_none() && w.lbs_bits != 9 && !nvme).then_some(1u32 << w.lbs_bits);
    if loop_lbs.is_some() && (dax || !s.faults.is_empty()) {
        eprintln!(
            "diofuzz repro --kernel: the guest's {} has 512-byte sectors; this scenario wants {}",
            if dax { "pmem device" } else { "fault device" },
            1u32 << w.lbs_bits
        );
        return 2;
    }
    let planned = if dax {
        crate::live::dax::repro_plan(s)
    } else if s.faults.is_empty() {
        crate::live::plan::plan_on(s, disk.as_ref())
    } else {
        // A fault device without atomic units (null_blk, ublk: DMA alignment 3) has the
        // scenario's geometry, as `live --fault-device` planned it.
        let geometry = crate::live::plan::Disk {
            awu_min: 0,
            awu_max: 0,
            lbs_bits: w.lbs_bits,
            dma_alignment: w.device.dma_alignment,
        };
        crate::live::fault::plan_faulted(s, Some(disk.as_ref().unwrap_or(&geometry)))
    };
    let (key, size) = match planned {
        Ok(p) => (p.key, p.i_size),
        Err(e) => {
            eprintln!("diofuzz repro: not expressible on a real kernel: {e}");
            return 2;
        }
    };
    // A block-device scenario has no filesystem: the program writes the device itself.
    let mkfs = if bdev {
        None
    } else {
        match crate::live::scratch::mkfs_argv(key) {
            Ok((prog, args)) => Some(format!("{prog} {}", args.join(" "))),
            Err(e) => {
                eprintln!("diofuzz repro: {e}");
                return 2;
            }
        }
    };
    let qemu_bin = match qemu::qemu_binary() {
        Ok(q) => q,
        Err(e) => {
            eprintln!("diofuzz repro: {e}");
            return 2;
        }
    };
    let tools = match guest::host_tools() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("diofuzz repro: {e}");
            return 2;
        }
    };
    let o = Opts {
        kernel: Some(kernel.to_string()),
        variant: None,
        modules: modules.map(Path::to_path_buf),
        groups: "all".into(),
        count: 0,
        seed: 1,
        timeout: None,
        out: PathBuf::new(),
        json: false,
        list: false,
        cache: None,
        memory: 2048,
        report: None,
    };
    let cache = cache_dir(&o);
    let is_path = kernel.contains('/') || Path::new(kernel).is_file();
    let targets = if is_path {
        own_build(kernel, modules)
            .map(|t| vec![t])
            .map_err(|e| (2, e))
    } else {
        debian_targets(&cache, kernel)
    };
    let t = match targets {
        Ok(t) if t.len() == 1 => t[0].clone(),
        Ok(_) => {
            eprintln!("diofuzz repro: --kernel names one kernel");
            return 2;
        }
        Err((c, e)) => {
            eprintln!("diofuzz repro: {e}");
            return c;
        }
    };
    let t = match prepare(&cache, &t) {
        Ok(t) => t,
        Err((c, e)) => {
            eprintln!("diofuzz repro: {e}");
            return c;
        }
    };
    let dir = std::env::temp_dir().join(format!("diofuzz-lab-repro-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    if let Err(e) = fs::create_dir_all(&dir) {
        eprintln!("diofuzz repro: create {}: {e}", dir.display());
        return 3;
    }
    let code = (|| -> Result<i32, (i32, String)> {
        let bin = cc_static(&dir, "repro", src)?;
        let faulted = !s.faults.is_empty();
        let init = match &mkfs {
            Some(m) => {
                // `mount -t TYPE -o OPTIONS`: the scratch filesystem's mount options.
                let fstype = match key.mount_data() {
                    Some(o) => format!("{} -o {o}", key.fs.name()),
                    None => key.fs.name().to_string(),
                };
                let target = match (dax, disk.is_some() || faulted) {
                    (true, _) => Some("$PDEV"),
                    (false, true) => Some("$DEV"),
                    (false, false) => None,
                };
                let script = guest::repro_script(&fstype, m, target, 512);
                crate::live::limits::stable_in_guest(key.stable && target.is_none(), script)
            }
            // RWF_NOWAIT on stable writes: the nvme-tcp namespace (live::nvme_stable).
            None if key.nvme => crate::live::nvme_stable::in_guest(
                guest::repro_bdev_script(false, size, 512),
                size,
                key.layered,
            ),
            None => guest::repro_bdev_script(disk.is_some() || faulted, size, 512),
        };
        // An injected bio error without atomic units: on the null_blk fault device (the disk
        // script, turned to it).
        // -ETIMEDOUT, -EINVAL, -ENOMEM (and -ENOSPC): the ublk fault device; also a scattered
        // write, whose bios of up to 256 bvecs null_blk splits (max_segments 128).
        let on_ublk = faulted
            && disk.is_none()
            && (crate::live::bioerr::fault_errno(s).is_some_and(|e| e != diofuzz::errno::EIO)
                || s.request.scatter.is_some());
        let init = if on_ublk {
            eprintln!("repro: the injected fault on the guest's ublk fault device ($UDEV, diofuzz ublk-fault)");
            crate::live::repro_fault::on_ublk_device(&init)
        } else if faulted && disk.is_none() {
            eprintln!(
                "repro: the injected fault on the guest's null_blk fault device (/dev/dfznull)"
            );
            crate::live::repro_fault::on_fault_device(&init)
        } else {
            init
        };
        let init = match loop_lbs {
            Some(lbs) => guest::repro_on_loop_of(&init, lbs).ok_or_else(|| {
                (
                    2,
                    format!("no loop device in the guest to give {lbs}-byte logical blocks"),
                )
            })?,
            None => init,
        };
        let mut extra = vec![("bin/repro", bin)];
        if loop_lbs.is_some() {
            let lb = cc_static(&dir, "loopbs", crate::live::nvme_stable::C_LOOP_BS)?;
            extra.push(("bin/loopbs", lb));
        }
        if key.nvme && key.layered {
            // A held page on the nvme namespace: its backing loop device of 4 KiB blocks
            // (live::nvme_stable::in_guest).
            let lb = cc_static(&dir, "loopbs", crate::live::nvme_stable::C_LOOP_BS)?;
            extra.push(("bin/loopbs", lb));
        }
        let initrd = build_initrd(&t, &tools, &init, &extra, &dir)
            .map_err(|e| (3, format!("initramfs: {e}")))?;
        let accel = qemu::detect_accel();
        eprintln!(
            "repro: kernel {} ({}), {} on {}, QEMU with {}",
            t.version,
            t.release,
            key.label(),
            match (disk.is_some(), bdev) {
                _ if dax => "the pmem device (memmap=)",
                (false, true) if on_ublk => "a BLKPG partition of the ublk fault device",
                (false, false) if on_ublk => "the ublk fault device",
                (false, true) if faulted => "a BLKPG partition of the null_blk fault device",
                (false, false) if faulted => "the null_blk fault device",
                (true, true) => "a BLKPG partition of the scsi_debug atomic disk",
                (true, false) => "the scsi_debug atomic disk",
                (false, true) if key.nvme => "an nvme-tcp namespace with the data digest",
                (false, true) => "a loop device of the scenario's size",
                (false, false) => "a loop device",
            },
            accel.name()
        );
        let console = dir.join("console.log");
        let vm = qemu::Vm {
            kernel: t.vmlinuz.clone(),
            initrd,
            console: console.clone(),
            results: dir.join("stream.jsonl"),
            memory_mb: 2048,
            pmem_mb: if dax { pmem::PMEM_MB } else { 0 },
            accel,
            timeout: Duration::from_secs(600),
        };
        let (end, _) = vm.run(&qemu_bin, || {}).map_err(|e| (3, e))?;
        let cons = fs::read_to_string(&console).unwrap_or_default();
        let mut inside = false;
        let mut klog = false;
        for l in cons.lines() {
            let l = l.trim_end_matches('\r');
            if l.starts_with("@@@REPRO-BEGIN") {
                inside = true;
            } else if l.starts_with("@@@REPRO-END") || l.starts_with("@@@REPRO-FAILED") {
                inside = false;
                println!("{}", l.trim_start_matches("@@@"));
            } else if let Some(k) = l.strip_prefix("@@@KLOG ") {
                // The ext4 error a brought-down scenario triggers itself is not a finding.
                klog |= !(key.own && crate::live::shutdown::own_log_line(k));
                println!("kernel: {k}");
            } else if inside {
                println!("{l}");
            }
        }
        let st = report::Stream {
            done: end == qemu::End::Exited(0),
            ..Default::default()
        };
        let crash = report::crash_from(&cons, &st, end == qemu::End::Timeout);
        if end == qemu::End::Interrupted {
            return Err((130, "interrupted: QEMU stopped".into()));
        }
        if let Some(c) = &crash {
            println!("KERNEL {}: console {}", c.kind, console.display());
        }
        Ok(if klog || crash.is_some() { 1 } else { 0 })
    })();
    let keep_console = matches!(code, Ok(1));
    if !keep_console {
        let _ = fs::remove_dir_all(&dir);
    } else {
        let _ = fs::remove_file(dir.join("initrd.gz"));
    }
    match code {
        Ok(c) => c,
        Err((c, e)) => {
            eprintln!("diofuzz repro: {e}");
            c
        }
    }
}

/// Each disagreement's and kernel finding's scenario as DIR/GROUP/ID.json, with a C reproducer
/// (ID.c) for kernel findings.
fn save_scenarios(dir: &Path, st: &report::Stream) {
    let finding_ids: std::collections::BTreeSet<&str> = st
        .groups
        .iter()
        .flat_map(|g| g.kernel_findings.values().map(|x| x.1.as_str()))
        .collect();
    for (id, (group, sc)) in &st.scenarios {
        let d = dir.join(group);
        if fs::create_dir_all(&d).is_err() {
            continue;
        }
        let _ = fs::write(
            d.join(format!("{id}.json")),
            serde_json::to_string_pretty(sc).unwrap_or_default(),
        );
        if finding_ids.contains(id.as_str()) {
            if let Ok(s) = serde_json::from_value::<diofuzz::scenario::Scenario>(sc.clone()) {
                if let Ok(c) = crate::live::repro::c_program(&s) {
                    let _ = fs::write(d.join(format!("{id}.c")), c);
                }
            }
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map(|p| format!("{p:.1}")).unwrap_or_else(|| "-".into())
}

fn print_kernel(r: &KernelResult) {
    if let Some(e) = &r.error {
        eprintln!("lab: {}: {e}", r.version);
    }
    if let Some(c) = &r.crash {
        eprintln!(
            "lab: {}: KERNEL {} during {} / {} (console: {})",
            r.version,
            c.kind,
            c.group.as_deref().unwrap_or("?"),
            c.scenario.as_deref().unwrap_or("?"),
            r.console_log
        );
        for l in c.excerpt.iter().take(12) {
            eprintln!("    {l}");
        }
    }
    if !r.missing_in_guest.is_empty() {
        eprintln!(
            "lab: {}: missing in the guest: {}",
            r.version,
            r.missing_in_guest.join(", ")
        );
    }
}

/// The matrix as text.
pub fn matrix(results: &[KernelResult]) -> String {
    // `*` marks a nearest-older variant; a variant given with --variant is shown as it is.
    let shown = |r: &KernelResult| {
        if r.variant_match == "exact" || r.variant_match.starts_with("given") {
            r.variant.clone()
        } else {
            format!("{}*", r.variant)
        }
    };
    let vw = results
        .iter()
        .map(|r| shown(r).len())
        .max()
        .unwrap_or(0)
        .max(16);
    let mut s = format!(
        "{:<9} {:<vw$} {:<19} {:>5} {:>6} {:>7} {:>8} {:>7}  {}\n",
        "kernel", "variant", "group", "n", "agree%", "w/o bp", "disagree", "kfind", "notes"
    );
    for r in results {
        let v = shown(r);
        if r.groups.is_empty() {
            s.push_str(&format!(
                "{:<9} {:<vw$} {}\n",
                r.version,
                v,
                r.error.as_deref().unwrap_or("no result")
            ));
        }
        for g in &r.groups {
            let mut notes = Vec::new();
            if !g.mismatched_fields.is_empty() {
                notes.push(format!(
                    "fields {}",
                    g.mismatched_fields
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            for (k, (n, _)) in &g.kernel_findings {
                notes.push(format!("{n}× {k}"));
            }
            for (c, n) in &g.explained_by {
                notes.push(format!("backport {c} explains {n}"));
            }
            let probed: Vec<String> = g
                .probes
                .iter()
                .filter(|(_, c)| c[0] + c[2] > 0)
                .map(|(w, c)| format!("{w} {}/{} {}/{}", c[0], c[1], c[2], c[3]))
                .collect();
            if !probed.is_empty() {
                notes.push(format!(
                    "probes (P1 ran/found P2 ran/found) {}",
                    probed.join(", ")
                ));
            }
            if g.rc.is_none() {
                notes.push("did not finish".into());
            } else if g.rc != Some(0) {
                notes.push(format!("live exit {}", g.rc.unwrap_or(-1)));
            }
            s.push_str(&format!(
                "{:<9} {:<vw$} {:<19} {:>5} {:>6} {:>7} {:>8} {:>7}  {}\n",
                r.version,
                v,
                g.group,
                g.agree + g.disagree,
                pct(g.agree_pct()),
                pct(g.agree_pct_without_backports()),
                g.disagree,
                g.findings(),
                notes.join("; ")
            ));
        }
        if let Some(c) = &r.crash {
            s.push_str(&format!(
                "{:<9} KERNEL {} in {} / {}: see {}\n",
                r.version,
                c.kind,
                c.group.as_deref().unwrap_or("?"),
                c.scenario.as_deref().unwrap_or("?"),
                r.console_log
            ));
        }
    }
    s.push_str("n = compared scenarios (agree + disagree); w/o bp = agreement with the plain variant, without the stable backports; * = nearest older variant\n");
    s
}

#[derive(Serialize)]
struct LabJson<'a> {
    count_per_group: u64,
    seed: u64,
    kernels: &'a [KernelResult],
}

#[derive(Deserialize)]
struct LabJsonIn {
    count_per_group: u64,
    kernels: Vec<KernelResult>,
}

/// `--report LAB.json`: the matrix and the plot again, from an earlier run's lab.json.
fn replot(o: &Opts, f: &Path) -> i32 {
    let doc: LabJsonIn = match fs::read(f)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("diofuzz lab --report {}: {e}", f.display());
            return 2;
        }
    };
    if let Err(e) = fs::create_dir_all(&o.out) {
        eprintln!("diofuzz lab: create {}: {e}", o.out.display());
        return 2;
    }
    println!("{}", matrix(&doc.kernels));
    let o = Opts {
        count: doc.count_per_group,
        ..o.clone()
    };
    plot(&o, &doc.kernels);
    0
}

fn finish(o: &Opts, results: &[KernelResult]) -> i32 {
    let doc = LabJson {
        count_per_group: o.count,
        seed: o.seed,
        kernels: results,
    };
    let json = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let _ = fs::write(o.out.join("lab.json"), &json);
    if o.json {
        println!("{json}");
    } else {
        println!("{}", matrix(results));
    }
    plot(o, results);
    let any_groups = results.iter().any(|r| !r.groups.is_empty());
    if !any_groups {
        return if results.iter().any(|r| !r.missing_in_guest.is_empty()) {
            2
        } else {
            3
        };
    }
    let bad = results.iter().any(|r| {
        r.crash.is_some()
            || r.groups
                .iter()
                .any(|g| g.disagree > 0 || g.findings() > 0 || g.rc != Some(0))
    });
    if bad {
        1
    } else {
        0
    }
}

fn plot(o: &Opts, results: &[KernelResult]) {
    let mut groups: Vec<String> = Vec::new();
    for r in results {
        for g in &r.groups {
            if !groups.contains(&g.group) {
                groups.push(g.group.clone());
            }
        }
    }
    let kernels: Vec<&KernelResult> = results.iter().filter(|r| !r.groups.is_empty()).collect();
    if kernels.is_empty() || groups.is_empty() {
        return;
    }
    let series: Vec<(String, Vec<f64>)> = groups
        .iter()
        .map(|g| {
            (
                g.clone(),
                kernels
                    .iter()
                    .map(|r| {
                        r.groups
                            .iter()
                            .find(|x| &x.group == g)
                            .and_then(|x| x.agree_pct())
                            .map_or(0.0, |p| 100.0 - p)
                    })
                    .collect(),
            )
        })
        .collect();
    let max = series
        .iter()
        .flat_map(|(_, v): &(String, Vec<f64>)| v.iter().copied())
        .fold(0.0f64, f64::max);
    let b = crate::plot::Bars {
        // Disagreement rather than agreement: every bar near 100 % would hide the differences
        // (and the legend). Agreement = 100 - this.
        title: format!(
            "diofuzz lab: model/kernel disagreement per group ({} scenarios each; agreement = 100 - x)",
            o.count
        ),
        x_label: "disagreement (% of compared scenarios)".into(),
        categories: kernels
            .iter()
            .map(|r| format!("{} ({})", r.version, r.variant))
            .collect(),
        series,
        // Room on the right for the legend (drawn in the lower right corner).
        x_max: Some((max * 1.4).max(1.0)),
        value_decimals: Some(1),
    };
    match crate::plot::bar_chart(&o.out.join("lab-disagreement"), &b) {
        Ok(p) => {
            if !o.json {
                eprintln!(
                    "lab: plot {}",
                    p.iter()
                        .map(|x| x.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        }
        Err(e) => eprintln!("lab: plot: {e}"),
    }
}

/// `cc -static -O2` of the C program `src` into `dir/name` (from `dir/name.c`), for the guest.
fn cc_static(dir: &Path, name: &str, src: &str) -> Result<PathBuf, (i32, String)> {
    let c = dir.join(format!("{name}.c"));
    fs::write(&c, src).map_err(|e| (3, e.to_string()))?;
    let bin = dir.join(name);
    let cc = std::process::Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&c)
        .output()
        .map_err(|e| (2, format!("cc: {e} (install build-essential)")))?;
    if !cc.status.success() {
        return Err((
            3,
            format!(
                "cc -static {name} failed: {}",
                String::from_utf8_lossy(&cc.stderr).trim()
            ),
        ));
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_to_variant() {
        let (v, m, _) = variant_for("6.18.15");
        assert_eq!((v.as_str(), m.as_str()), ("v6.18", "exact"));
        // No variant of its own: the nearest older one, and the output says so.
        let (v, m, _) = variant_for("6.16.12");
        assert_eq!(v, "v6.16");
        assert_eq!(m, "exact");
        let (_, m, _) = variant_for("9.9.1");
        assert!(m.starts_with("nearest older (no v9.9 variant)"), "{m}");
        // A stable release lists its backports.
        let (_, _, bps) = variant_for("6.17.13");
        assert_eq!(
            bps,
            [
                "963845748fe6 (6.17.8+)",
                "8d54eacd82a0 (6.17.8+)",
                "8d7bba1e8314 (6.17.8+)"
            ]
        );
    }

    #[test]
    fn missing_modules_name_the_config() {
        let d = std::env::temp_dir().join(format!("diofuzz-lab-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("kernel/fs/ext4")).unwrap();
        fs::write(d.join("kernel/fs/ext4/ext4.ko"), b"").unwrap();
        fs::write(d.join("modules.builtin"), "kernel/drivers/block/loop.ko\n").unwrap();
        let k = d.join("bzImage");
        fs::write(&k, b"").unwrap();
        let e = own_build(&k.display().to_string(), Some(&d)).unwrap_err();
        assert!(e.contains("xfs, scsi_debug, sd_mod"), "{e}");
        assert!(e.contains("CONFIG_SCSI_DEBUG"), "{e}");
        assert!(!e.contains("loop,"), "loop is built in: {e}");
        let e = own_build("/nonexistent/bzImage", None).unwrap_err();
        assert!(e.contains("no such kernel image"), "{e}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn no_space_is_a_clear_error() {
        let e = need_space(
            &std::env::temp_dir().join("x/y"),
            u64::MAX,
            "a kernel download",
        )
        .unwrap_err();
        assert!(e.starts_with("no space for a kernel download in "), "{e}");
        assert!(e.contains("MiB free"), "{e}");
        assert!(need_space(&std::env::temp_dir(), 1, "a byte").is_ok());
    }

    #[test]
    fn matrix_marks_nearest_and_backports() {
        let mut g = GroupResult {
            group: "ext4-disk".into(),
            total: 10,
            agree: 9,
            disagree: 1,
            agree_without_backports: 7,
            disagree_without_backports: 3,
            rc: Some(0),
            ..Default::default()
        };
        g.explained_by.insert("963845748fe6".into(), 2);
        let r = KernelResult {
            version: "7.3.4".into(),
            release: "7.3.4+deb13-amd64".into(),
            variant: "v7.1".into(),
            variant_match: "nearest older (no v7.3 variant)".into(),
            backports: vec![],
            accel: qemu::Accel::Tcg,
            wall_seconds: 1.0,
            groups: vec![g],
            crash: None,
            missing_in_guest: vec![],
            error: None,
            console_log: "c.log".into(),
        };
        let m = matrix(&[r]);
        let row = m.lines().nth(1).unwrap();
        assert!(row.contains("v7.1*"), "{row}");
        assert!(row.contains(" 90.0 "), "{row}");
        assert!(row.contains(" 70.0 "), "{row}");
        assert!(row.contains("backport 963845748fe6 explains 2"), "{row}");
    }
}
