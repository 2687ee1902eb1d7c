// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz check`: a bounded exhaustive search. A domain is a union of slices; a slice gives, per
//! dimension, the list of values to take, and every combination is run through every selected
//! variant and the oracle. The result: per variant and property, how many inputs failed, how many
//! distinct signatures, and for each signature the smallest counterexample, written as a corpus
//! file that `diofuzz replay` takes.
//!
//! A slice with `"pairwise": true` is not the product of its lists but a 2-way covering array of
//! them (`diofuzz::pairwise`): every pair of values of any two dimensions in at least one input
//! whose world is real; `check` prints its pair coverage. Inputs that no real system can have
//! (`diofuzz::validity`) are not run, and are counted per rule.
//!
//! Dimensions (JSON keys of a slice; each maps to a list of values):
//! - `fs`: "ext4" | "xfs" | "bdev"; `blkbits`: 10 | 11 | 12; `cluster_bits`: 0..3;
//! - `device`: [awu_min, awu_max] byte pairs, or [awu_min, awu_max, true] for a bio-based disk
//!   that never splits (pmem: `world.device.no_bio_split`); `mount`: strings of `|`-joined Mount flag names
//!   ("" = defaults, "data_journal|dax", "no_extents_feature", "no_reflink", ...);
//! - `inode`: `|`-joined inode flag names to toggle from the default ("" , "extents" = make it
//!   indirect, "journal_data", "dax", ...); `i_size`: bytes;
//! - `blocks`: layout strings, one letter per block (H hole, U unwritten, W written, D delalloc,
//!   S written+shared, `/` before a letter = new physical extent), or "all:N:LETTERS" for every
//!   string of length N over LETTERS;
//! - `pages`: strings, one letter per page (N none, C clean, D dirty, W writeback, M mapped and
//!   re-dirtied, B busy);
//! - `open`: `|`-joined of direct, append, dsync, sync; `rwf`: `|`-joined RWF names (atomic,
//!   nowait, dsync, sync, append, noappend, hipri, dontcache) or "";
//! - `pos`, `len`: bytes; `nr_segs`; `buf_align`; `fault_at`: bytes or null; `rlimit`: bytes or
//!   null; `aio`: bool;
//! - `fault`: "none", "all" (every site x every errno it can return x nth 0 and 1), or
//!   "SITE:ERRNO:NTH" strings, the site as the kernel function the trace names
//!   ("ext4_map_blocks(create):ENOSPC:0"; the Rust name, "Ext4MapBlocksCreate", is read too);
//! - `race`: race names ("none", "MmapRedirty", "FcntlToggleDirect", "LockContended",
//!   "InodeFlagChangedAfterOpen:N");
//! - `cow`: the XFS CoW fork at rest, one letter per block (N none, D delalloc reservation, U
//!   unwritten preallocation); `cowextsize`: the cowextsize hint in blocks (0 = none, the default
//!   32) -- docs/model-state.md.

pub use diofuzz::check_domain::{Domain, PairCoverage, DEFAULT_DOMAIN, DIMENSIONS};
use diofuzz::oracle::{self, Prop};
use diofuzz::scenario::*;
use diofuzz::validity;
use diofuzz::variant::{Variant, VARIANTS};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One signature's record.
#[derive(Clone)]
struct Sig {
    count: u64,
    smallest: Vec<u8>,
    detail: String,
}

#[derive(Default)]
struct Acc {
    /// (variant, property) -> failing inputs
    fails: BTreeMap<(usize, Prop), u64>,
    /// (variant, signature) -> record
    sigs: BTreeMap<(usize, String), (Prop, Sig)>,
}

fn better(a: &[u8], b: &[u8]) -> bool {
    (a.len(), a) < (b.len(), b)
}

/// `diofuzz check`: bounded exhaustive search of a domain.
#[derive(clap::Args, Clone, Debug)]
pub struct CheckOpts {
    /// Variants to run: a name, a comma list, all, BASE+switch=value, or a variant file
    /// [default: all]
    #[arg(long, value_name = "V", value_parser = crate::cli::variant_set)]
    pub variant: Option<crate::cli::VariantSet>,
    /// A variant file (a patch described as data, see README): run it too (alone without
    /// --variant)
    #[arg(long, value_name = "FILE", value_parser = crate::cli::variant_file)]
    pub variant_file: Option<&'static diofuzz::variant::Variant>,
    /// Run the domain on two variants and report the signatures PATCHED closes, opens and leaves
    /// unchanged (exit 1 when one opens); each side as --variant takes it
    #[arg(long, value_name = "BASE,PATCHED", value_parser = crate::cli::variant_pair,
          conflicts_with_all = ["variant", "variant_file", "keep"])]
    pub compare: Option<crate::cli::VariantPair>,
    /// Only the slices (and fs values) of this filesystem
    #[arg(long, value_name = "FS", default_value = "all",
          value_parser = clap::builder::PossibleValuesParser::new(["ext4", "xfs", "bdev", "all"]))]
    pub fs: String,
    /// The domain file [default: check/default-domain.json, embedded]
    #[arg(long, value_name = "FILE")]
    pub domain: Option<PathBuf>,
    /// Worker threads [default: the number of CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// Where the smallest counterexamples go
    #[arg(long, value_name = "DIR", default_value = "check-out")]
    pub out: PathBuf,
    /// Also keep each new counterexample of a built-in variant as a regression in
    /// corpus/regressions/
    #[arg(long)]
    pub keep: bool,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

pub fn cli(o: &CheckOpts) -> i32 {
    match run_cli(o) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("diofuzz check: {e}");
            2
        }
    }
}

/// The domain of a check run: the file or the default, restricted to one filesystem.
fn load_domain(o: &CheckOpts) -> Result<Domain, String> {
    let fs_filter = (o.fs != "all").then(|| o.fs.clone());
    let text = match &o.domain {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read domain {}: {e}", p.display()))?,
        None => DEFAULT_DOMAIN.to_string(),
    };
    let mut domain = Domain::parse(&text)?;
    if let Some(f) = &fs_filter {
        domain.retain_fs(f);
    }
    if domain.size() == 0 {
        return Err(format!(
            "no slice of the domain runs on {}: nothing to check",
            o.fs
        ));
    }
    Ok(domain)
}

fn run_cli(o: &CheckOpts) -> Result<i32, String> {
    let variants =
        crate::cli::VariantSet::selected(&o.variant, o.variant_file, || VARIANTS.iter().collect());
    let domain = load_domain(o)?;
    let jobs: usize = match o.jobs {
        Some(j) => j as usize,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let out_dir = o.out.clone();
    let progress = crate::progress::wanted(o.json);
    if let Some(crate::cli::VariantPair(base, patched)) = o.compare {
        let c = crate::compare::domain(&domain, base, patched, jobs, progress, &out_dir)?;
        if o.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::compare::to_json(&c)).unwrap_or_default()
            );
        } else {
            crate::compare::print(&c, "inputs");
        }
        return Ok(c.exit_code());
    }
    let report = check(&domain, &variants, jobs, progress)?;
    let kept = write_counterexamples(&report, &variants, &out_dir, o.keep)?;
    if o.json {
        let mut j = report_json(&report, &variants, &kept);
        j["pair_coverage"] = json!(domain.coverage);
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        print_pair_coverage(&domain.coverage);
        print_report(&report, &variants, &kept);
    }
    Ok(if report.acc.sigs.is_empty() { 0 } else { 1 })
}

pub struct Report {
    pub inputs: u64,
    pub secs: f64,
    pub invalid: u64,
    /// Inputs not run because no real system can produce them, per validity rule id.
    pub unreal: BTreeMap<&'static str, u64>,
    /// Variant names, in the order they were run.
    pub names: Vec<&'static str>,
    acc: Acc,
}

/// One signature found by [`check`] on one variant.
pub struct SigRecord<'a> {
    /// Index into the variants run.
    pub variant: usize,
    pub signature: &'a str,
    pub property: Prop,
    /// Failing inputs with this signature.
    pub count: u64,
    /// The smallest input producing it (corpus bytes).
    pub smallest: &'a [u8],
    pub detail: &'a str,
}

impl Report {
    /// Every (variant, signature) record, sorted by variant then signature.
    pub fn records(&self) -> Vec<SigRecord<'_>> {
        self.acc
            .sigs
            .iter()
            .map(|((vi, sig), (p, s))| SigRecord {
                variant: *vi,
                signature: sig,
                property: *p,
                count: s.count,
                smallest: &s.smallest,
                detail: &s.detail,
            })
            .collect()
    }

    /// (variant name, signature) of every finding, sorted.
    pub fn signatures(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .acc
            .sigs
            .keys()
            .map(|(vi, s)| (self.names[*vi].to_string(), s.clone()))
            .collect();
        v.sort();
        v
    }
}

/// Run every scenario of the domain through every variant.
pub fn check(
    domain: &Domain,
    variants: &[&'static Variant],
    jobs: usize,
    progress: bool,
) -> Result<Report, String> {
    let total = domain.size();
    let done = AtomicU64::new(0);
    let invalid = AtomicU64::new(0);
    let unreal = Mutex::new(BTreeMap::<&'static str, u64>::new());
    let acc = Mutex::new(Acc::default());
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        for j in 0..jobs as u64 {
            let (done, invalid, acc, unreal) = (&done, &invalid, &acc, &unreal);
            sc.spawn(move || {
                let mut local = Acc::default();
                let mut local_unreal = BTreeMap::<&'static str, u64>::new();
                let mut i = j;
                while i < total {
                    match domain
                        .get(i)
                        .and_then(|s| s.encode().map(|b| (s, b)).map_err(|e| e.to_string()))
                    {
                        // A world no real system can produce is not run (src/validity.rs).
                        Ok((s, _)) if !validity::is_valid(&s) => {
                            if let Some(v) = validity::first_violation(&s) {
                                *local_unreal.entry(v.rule.id).or_default() += 1;
                            }
                        }
                        Ok((s, bytes)) => {
                            for (vi, v) in variants.iter().enumerate() {
                                let x = diofuzz::model::run_quiet(&s, v);
                                let mut props_seen = Vec::new();
                                for f in oracle::check(&x) {
                                    if !props_seen.contains(&f.property) {
                                        props_seen.push(f.property);
                                        *local.fails.entry((vi, f.property)).or_default() += 1;
                                    }
                                    let e = local
                                        .sigs
                                        .entry((vi, f.signature.clone()))
                                        .or_insert_with(|| {
                                            (
                                                f.property,
                                                Sig {
                                                    count: 0,
                                                    smallest: bytes.clone(),
                                                    detail: f.detail.clone(),
                                                },
                                            )
                                        });
                                    e.1.count += 1;
                                    if better(&bytes, &e.1.smallest) {
                                        e.1.smallest = bytes.clone();
                                        e.1.detail = f.detail.clone();
                                    }
                                }
                            }
                        }
                        Err(_) => {
                            invalid.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += jobs as u64;
                }
                let mut u = unreal.lock().unwrap_or_else(|e| e.into_inner());
                for (k, n) in local_unreal {
                    *u.entry(k).or_default() += n;
                }
                drop(u);
                let mut g = acc.lock().unwrap_or_else(|e| e.into_inner());
                for (k, n) in local.fails {
                    *g.fails.entry(k).or_default() += n;
                }
                for (k, (p, s)) in local.sigs {
                    match g.sigs.get_mut(&k) {
                        Some((_, t)) => {
                            t.count += s.count;
                            if better(&s.smallest, &t.smallest) {
                                t.smallest = s.smallest;
                                t.detail = s.detail;
                            }
                        }
                        None => {
                            g.sigs.insert(k, (p, s));
                        }
                    }
                }
            });
        }
        if progress {
            let pb = crate::progress::items(total, "inputs", true);
            while done.load(Ordering::Relaxed) < total {
                std::thread::sleep(std::time::Duration::from_millis(100));
                pb.set_position(done.load(Ordering::Relaxed));
            }
            pb.finish_and_clear();
        }
    });
    Ok(Report {
        inputs: total,
        secs: t0.elapsed().as_secs_f64(),
        invalid: invalid.into_inner(),
        unreal: unreal.into_inner().unwrap_or_else(|e| e.into_inner()),
        names: variants.iter().map(|v| v.name).collect(),
        acc: acc.into_inner().unwrap_or_else(|e| e.into_inner()),
    })
}

/// Write each signature's smallest counterexample; returns (variant, signature) -> path.
fn write_counterexamples(
    r: &Report,
    variants: &[&'static Variant],
    dir: &Path,
    keep: bool,
) -> Result<BTreeMap<(usize, String), PathBuf>, String> {
    let mut out = BTreeMap::new();
    if r.acc.sigs.is_empty() {
        return Ok(out);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for ((vi, sig), (p, s)) in &r.acc.sigs {
        let name = format!(
            "{}-{p}-{:016x}",
            variants[*vi].name,
            diofuzz::target::sig_hash(sig)
        );
        let path = dir.join(&name);
        std::fs::write(&path, &s.smallest)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        // Regressions pin built-in variants only: a patch variant's findings are not kept.
        if keep
            && diofuzz::variant::builtin(variants[*vi].name).is_some()
            && diofuzz::known::lookup(sig, variants[*vi].name).is_none()
        {
            let sc = Scenario::decode(&s.smallest).map_err(|e| e.to_string())?;
            diofuzz::regress::keep(
                Path::new("corpus/regressions"),
                &format!("check-{name}"),
                &sc,
            )?;
        }
        out.insert((*vi, sig.clone()), path);
    }
    Ok(out)
}

fn print_report(
    r: &Report,
    variants: &[&'static Variant],
    kept: &BTreeMap<(usize, String), PathBuf>,
) {
    println!(
        "checked {} inputs x {} variants in {:.1}s ({:.0} inputs/s, {:.0} executions/s){}",
        r.inputs,
        variants.len(),
        r.secs,
        r.inputs as f64 / r.secs,
        (r.inputs * variants.len() as u64) as f64 / r.secs,
        if r.invalid > 0 {
            format!(", {} not encodable", r.invalid)
        } else {
            String::new()
        }
    );
    let unreal: u64 = r.unreal.values().sum();
    if unreal > 0 {
        println!(
            "{unreal} of them not run: no real system has that world ({})",
            r.unreal
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let nw = variants
        .iter()
        .map(|v| v.name.len())
        .max()
        .unwrap_or(7)
        .max(7)
        + 1;
    print!("\n{:<nw$}", "variant");
    for p in Prop::ALL {
        print!("{:>14}", p.to_string());
    }
    println!();
    for (vi, v) in variants.iter().enumerate() {
        print!("{:<nw$}", v.name);
        for p in Prop::ALL {
            let n = r.acc.fails.get(&(vi, p)).copied().unwrap_or(0);
            let sigs = r
                .acc
                .sigs
                .iter()
                .filter(|((w, _), (q, _))| *w == vi && *q == p)
                .count();
            let cell = if n == 0 {
                "-".to_string()
            } else {
                format!("{n}/{sigs}sig")
            };
            print!("{cell:>14}");
        }
        println!();
    }
    println!("\n(cells: failing inputs / distinct signatures)");
    for ((vi, sig), (p, s)) in &r.acc.sigs {
        let v = variants[*vi].name;
        println!(
            "\n[{}] {v} {p} x{}: {sig}\n    smallest: {}\n    {}",
            diofuzz::known::label(sig, v),
            s.count,
            kept.get(&(*vi, sig.clone()))
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            s.detail
        );
    }
}

/// Pair coverage of the pairwise slices: every value pair of any two dimensions is in some input,
/// or no real world holds it (listed with the validity rule).
pub fn print_pair_coverage(cov: &[PairCoverage]) {
    for c in cov {
        println!(
            "pairwise slice \"{}\": {} inputs over {} dimensions hold {} of {} value pairs; no real world holds the other {} (with these value lists){}",
            c.slice,
            c.inputs,
            c.dimensions,
            c.covered,
            c.pairs,
            c.pairs - c.covered,
            if c.covered + c.infeasible.len() as u64 == c.pairs {
                ""
            } else {
                " (COVERAGE INCOMPLETE)"
            }
        );
        if c.run != c.inputs {
            println!(
                "  this run executes {} of its {} inputs (the others are on another filesystem)",
                c.run, c.inputs
            );
        }
        let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, r) in &c.infeasible {
            *by_rule.entry(r).or_default() += 1;
        }
        if !by_rule.is_empty() {
            println!(
                "  infeasible pairs by rule: {}",
                by_rule
                    .iter()
                    .map(|(r, n)| format!("{r} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if !cov.is_empty() {
        println!();
    }
}

fn report_json(
    r: &Report,
    variants: &[&'static Variant],
    kept: &BTreeMap<(usize, String), PathBuf>,
) -> Value {
    let table: Vec<Value> = variants
        .iter()
        .enumerate()
        .map(|(vi, v)| {
            let props: serde_json::Map<String, Value> = Prop::ALL
                .iter()
                .map(|p| {
                    let n = r.acc.fails.get(&(vi, *p)).copied().unwrap_or(0);
                    let sigs = r
                        .acc
                        .sigs
                        .iter()
                        .filter(|((w, _), (q, _))| *w == vi && q == p)
                        .count();
                    (p.to_string(), json!({"inputs": n, "signatures": sigs}))
                })
                .collect();
            json!({"variant": v.name, "properties": props})
        })
        .collect();
    let sigs: Vec<Value> = r
        .acc
        .sigs
        .iter()
        .map(|((vi, sig), (p, s))| {
            let v = variants[*vi].name;
            json!({"variant": v, "property": p, "signature": sig, "count": s.count, "known": diofuzz::known::label(sig, v),
                   "smallest": kept.get(&(*vi, sig.clone())).map(|p| p.display().to_string()), "detail": s.detail})
        })
        .collect();
    json!({"inputs": r.inputs, "not_real_worlds": r.unreal, "variants": variants.len(), "seconds": r.secs, "inputs_per_second": r.inputs as f64 / r.secs, "table": table, "signatures": sigs})
}
