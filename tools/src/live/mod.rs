// SPDX-License-Identifier: GPL-2.0-only
//! The live-kernel differential (`diofuzz live`, `diofuzz repro`): replay scenarios as real
//! syscalls on scratch XFS and ext4 filesystems of the running kernel, observe the path each write
//! took through tracefs, and compare with the model variant that matches the kernel.
//!
//! Modules: [`scratch`] (private folder, images, loop devices, mounts, stale clean-up, signals),
//! [`tracefs`] (a private trace instance, parsing), [`plan`] (scenario -> syscalls, data
//! patterns), [`exec`] (the executor), [`gen`] (the generator), [`compare`] (verdicts, oracle on
//! the kernel, summary), [`repro`] (standalone C reproducer). User documentation: docs/live.md.

pub mod compare;
pub mod exec;
pub mod plan;
pub mod repro;
pub mod scratch;
pub mod tracefs;

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
}

/// `--fs` of live.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveFs {
    Ext4,
    Xfs,
    #[value(alias = "all")]
    Both,
}

impl Opts {
    /// The filesystems to run on.
    pub fn fss(&self) -> Vec<FsKind> {
        match self.fs {
            LiveFs::Ext4 => vec![FsKind::Ext4],
            LiveFs::Xfs => vec![FsKind::Xfs],
            LiveFs::Both => vec![FsKind::Ext4, FsKind::Xfs],
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
    let count = o.count.unwrap_or(if o.inputs.is_empty() { 50 } else { 0 });
    for i in 0..count {
        for &fs in &o.fss() {
            scen.push((
                format!("gen-{}-{}-{i}", o.seed, fs.name()),
                diofuzz::generators::random::generate(o.seed, i, fs),
            ));
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
    let (outcomes, bench, fatal) = run_all(&scen, v, &mut sc, &tracer, &pre, o);
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

/// Run every scenario. Returns the outcomes, the throughput and a fatal error (interrupt or a
/// scratch filesystem that cannot be made), after which the remaining scenarios are not run.
fn run_all(
    scen: &[(String, Scenario)],
    v: &'static Variant,
    sc: &mut Scratch,
    tracer: &Tracer,
    pre: &Prereqs,
    o: &Opts,
) -> (Vec<Outcome>, Bench, Option<String>) {
    let mut out = Vec::new();
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
        let skip = |note: String, verdict: Verdict| Outcome {
            id: id.clone(),
            fs: s.fs.name(),
            atomic: s.request.rwf.atomic,
            verdict,
            note,
            mismatches: Vec::new(),
            model: None,
            kernel: None,
            kernel_findings: Vec::new(),
            model_findings: Vec::new(),
            kernel_other_sectors: Vec::new(),
            scenario: s.clone(),
        };
        let p = match plan::plan(s) {
            Ok(p) => p,
            Err(why) => {
                out.push(skip(why, Verdict::Skipped));
                continue;
            }
        };
        let x = match std::panic::catch_unwind(|| diofuzz::model::run(s, v)) {
            Ok(x) => x,
            Err(_) => {
                out.push(skip("the model panicked".into(), Verdict::Error));
                continue;
            }
        };
        let mnt = match sc.get(p.key, pre) {
            Ok(f) => f.mnt.clone(),
            Err(e) => {
                fatal = Some(format!("scratch filesystem {}: {e}", p.key.label()));
                break;
            }
        };
        let t0 = Instant::now();
        let r = exec::execute(&p, &mnt, &n.to_string(), tracer);
        bench.kernel_seconds += t0.elapsed().as_secs_f64();
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
                let oc = compare::outcome(id.clone(), s, &p, &x, &obs, gap);
                if o.verbose {
                    let names: Vec<&str> = obs.events.iter().map(|e| e.name.as_str()).collect();
                    crate::progress::line(&pb, &format!("live: {id}: events {}", names.join(",")));
                }
                out.push(oc);
            }
            Err(e) => out.push(skip(e, Verdict::Error)),
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
