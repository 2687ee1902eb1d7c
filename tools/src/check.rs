// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz check`: a bounded exhaustive search. A domain is a union of slices; a slice gives, per
//! dimension, the list of values to take, and every combination is run through every selected
//! variant and the oracle. The result: per variant and property, how many inputs failed, how many
//! distinct signatures, and for each signature the smallest counterexample, written as a corpus
//! file that `diofuzz replay` takes.
//!
//! Dimensions (JSON keys of a slice; each maps to a list of values):
//! - `fs`: "ext4" | "xfs" | "bdev"; `blkbits`: 10 | 11 | 12; `cluster_bits`: 0..3;
//! - `device`: [awu_min, awu_max] byte pairs; `mount`: strings of `|`-joined Mount flag names
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
//!   "Site:ERRNO:nth" strings;
//! - `race`: race names ("none", "MmapRedirty", "FcntlToggleDirect", "LockContended",
//!   "InodeFlagChangedAfterOpen:N").

use crate::cli::Opts;
use diofuzz::oracle::{self, Prop};
use diofuzz::scenario::*;
use diofuzz::variant::{self, Variant};
use diofuzz::{pairwise, validity};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The default domain (see README "diofuzz check"): sized to cover every variant in under a
/// minute on a 2-core machine.
pub const DEFAULT_DOMAIN: &str = include_str!("../../check/default-domain.json");

type Slice = Vec<(String, Vec<Value>)>;

pub struct Domain {
    /// Each slice's dimensions and value lists.
    pub slices: Vec<Slice>,
    /// Per slice: None = the product of the value lists; Some = the rows of a pairwise slice
    /// (`"pairwise": true`), one value index per dimension.
    pub rows: Vec<Option<Vec<Vec<usize>>>>,
    /// The pair coverage of each pairwise slice.
    pub coverage: Vec<PairCoverage>,
}

/// How well a pairwise slice covers the value pairs of its dimensions.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PairCoverage {
    pub slice: String,
    pub dimensions: usize,
    pub inputs: usize,
    /// Inputs of the slice that this run executes (fewer than `inputs` with `--fs`).
    pub run: usize,
    /// Value pairs of any two dimensions.
    pub pairs: u64,
    /// Pairs held by at least one input.
    pub covered: u64,
    /// Pairs no real world holds: "dim=value & dim=value" with the validity rule that rejects
    /// them.
    pub infeasible: Vec<(String, String)>,
}

impl Domain {
    pub fn parse(text: &str) -> Result<Domain, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("domain is not JSON: {e}"))?;
        let slices = v
            .get("slices")
            .and_then(Value::as_array)
            .ok_or("domain needs a \"slices\" list")?;
        let mut out = Domain {
            slices: Vec::new(),
            rows: Vec::new(),
            coverage: Vec::new(),
        };
        for (i, s) in slices.iter().enumerate() {
            let obj = s.as_object().ok_or(format!("slice {i} is not an object"))?;
            let mut dims = Vec::new();
            let pairwise = match obj.get("pairwise") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(format!("slice {i}: 'pairwise' must be true or false")),
            };
            for (k, vals) in obj {
                if k == "name" || k == "pairwise" {
                    continue;
                }
                let list = vals
                    .as_array()
                    .ok_or(format!("slice {i}: '{k}' must be a list"))?;
                let list = expand(k, list).map_err(|e| format!("slice {i}: {k}: {e}"))?;
                if list.is_empty() {
                    return Err(format!("slice {i}: '{k}' is empty"));
                }
                dims.push((k.clone(), list));
            }
            // Validate by building the first scenario.
            build(&dims, 0).map_err(|e| format!("slice {i}: {e}"))?;
            let rows = if pairwise {
                // Every value must build (a bad value would otherwise only show in some rows).
                for (d, (k, vals)) in dims.iter().enumerate() {
                    for (j, v) in vals.iter().enumerate() {
                        let mut at = vec![0; dims.len()];
                        at[d] = j;
                        build_at(&dims, &at).map_err(|e| format!("slice {i}: {k} = {v}: {e}"))?;
                    }
                }
                let name = obj
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("pairwise")
                    .to_string();
                let (rows, cov) = pairwise_rows(&dims, name);
                out.coverage.push(cov);
                Some(rows)
            } else {
                None
            };
            out.slices.push(dims);
            out.rows.push(rows);
        }
        Ok(out)
    }
    fn slice_size(&self, i: usize) -> u64 {
        match &self.rows[i] {
            Some(r) => r.len() as u64,
            None => self.slices[i].iter().map(|(_, v)| v.len() as u64).product(),
        }
    }
    pub fn size(&self) -> u64 {
        (0..self.slices.len()).map(|i| self.slice_size(i)).sum()
    }
    /// The scenario with global index `i`.
    pub fn get(&self, mut i: u64) -> Result<Scenario, String> {
        for (si, s) in self.slices.iter().enumerate() {
            let n = self.slice_size(si);
            if i < n {
                return match &self.rows[si] {
                    Some(r) => build_at(s, &r[i as usize]),
                    None => build(s, i),
                };
            }
            i -= n;
        }
        Err("index out of range".into())
    }
    /// Keep only the inputs on filesystem `f` (`--fs`).
    pub fn retain_fs(&mut self, f: &str) {
        let fs_of = |s: &Slice| -> Vec<Value> {
            s.iter()
                .find(|(k, _)| k == "fs")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| vec![json!("ext4")])
        };
        let mut keep = Vec::new();
        let mut pw = 0;
        for (si, s) in self.slices.iter().enumerate() {
            keep.push(fs_of(s).iter().any(|v| v.as_str() == Some(f)));
            if let Some(rows) = &mut self.rows[si] {
                // Rows pick values by index: drop the rows on other filesystems.
                if let Some(d) = s.iter().position(|(k, _)| k == "fs") {
                    rows.retain(|r| s[d].1[r[d]].as_str() == Some(f));
                }
                if let Some(c) = self.coverage.get_mut(pw) {
                    c.run = rows.len();
                }
                pw += 1;
            }
        }
        let mut it = keep.iter();
        self.rows.retain(|_| *it.next().unwrap_or(&false));
        let mut it = keep.iter();
        self.slices.retain(|_| *it.next().unwrap_or(&false));
        for (si, s) in self.slices.iter_mut().enumerate() {
            if self.rows[si].is_some() {
                continue;
            }
            for (k, v) in s.iter_mut() {
                if k == "fs" {
                    v.retain(|x| x.as_str() == Some(f));
                }
            }
        }
    }
}

/// The rows of a pairwise slice: a 2-way covering array of its value lists in which every row is
/// a real world (diofuzz::pairwise, diofuzz::validity), and its pair coverage.
fn pairwise_rows(dims: &Slice, name: String) -> (Vec<Vec<usize>>, PairCoverage) {
    let sizes: Vec<usize> = dims.iter().map(|(_, v)| v.len()).collect();
    // Each dimension sets its own fields: build every (dimension, value) once, then assemble a
    // row by copying fields (the generator scores tens of thousands of rows).
    let mut base = diofuzz::generators::base();
    base.world.blocks.clear();
    let parts: Vec<Vec<Option<Scenario>>> = dims
        .iter()
        .map(|(k, vals)| {
            vals.iter()
                .map(|v| {
                    let mut s = base.clone();
                    apply(&mut s, k, v).ok().map(|_| s)
                })
                .collect()
        })
        .collect();
    let mut score = |row: &[usize]| {
        let mut s = base.clone();
        for (d, &j) in row.iter().enumerate() {
            match &parts[d][j] {
                Some(p) => copy_dim(&dims[d].0, p, &mut s),
                None => return 1000,
            }
        }
        if s.encode().is_ok() {
            validity::distance(&s)
        } else {
            1000
        }
    };
    let c = pairwise::cover(&sizes, &mut score);
    let infeasible = c
        .infeasible
        .iter()
        .map(|p| {
            let mut row = vec![0; sizes.len()];
            row[p.a] = p.va;
            row[p.b] = p.vb;
            let why = match build_at(dims, &row) {
                Err(e) => e,
                Ok(s) => match validity::first_violation(&s) {
                    Some(v) => v.rule.id.to_string(),
                    None if s.encode().is_err() => "not encodable".into(),
                    None => "no valid row found".into(),
                },
            };
            (
                format!(
                    "{}={} & {}={}",
                    dims[p.a].0, dims[p.a].1[p.va], dims[p.b].0, dims[p.b].1[p.vb]
                ),
                why,
            )
        })
        .collect();
    let cov = PairCoverage {
        slice: name,
        dimensions: dims.len(),
        inputs: c.rows.len(),
        run: c.rows.len(),
        pairs: c.pairs,
        covered: c.covered,
        infeasible,
    };
    (c.rows, cov)
}

/// Expand the "all" shorthands.
fn expand(k: &str, list: &[Value]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for v in list {
        match (k, v.as_str()) {
            ("blocks", Some(s)) if s.starts_with("all:") => {
                let p: Vec<&str> = s.splitn(3, ':').collect();
                let n: u32 = p
                    .get(1)
                    .and_then(|n| n.parse().ok())
                    .ok_or("all:N:LETTERS")?;
                let letters: Vec<char> = p.get(2).ok_or("all:N:LETTERS")?.chars().collect();
                if n > 8 || letters.is_empty() {
                    return Err("all:N:LETTERS needs N <= 8 and some letters".into());
                }
                let total = (letters.len() as u64).pow(n);
                for mut x in 0..total {
                    let mut st = String::new();
                    for _ in 0..n {
                        st.push(letters[(x % letters.len() as u64) as usize]);
                        x /= letters.len() as u64;
                    }
                    out.push(Value::String(st));
                }
            }
            ("fault", Some("all")) => {
                for site in ALL_SITES {
                    if site == Site::DioZero {
                        continue; // cannot fail at the model's block sizes
                    }
                    for &e in site.errnos() {
                        for nth in 0..2 {
                            let en = if e == 0 { "0" } else { diofuzz::errno::name(e) };
                            out.push(Value::String(format!("{site:?}:{en}:{nth}")));
                        }
                    }
                }
            }
            _ => out.push(v.clone()),
        }
    }
    Ok(out)
}

fn flags_of(s: &str) -> impl Iterator<Item = &str> {
    s.split('|').map(str::trim).filter(|x| !x.is_empty())
}

fn set_flags<T: serde::Serialize + serde::de::DeserializeOwned>(
    base: &T,
    spec: &str,
    toggle: bool,
) -> Result<T, String> {
    let mut v = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let obj = v.as_object_mut().ok_or("not an object")?;
    for f in flags_of(spec) {
        let (name, val) = match f.strip_prefix("no_") {
            Some(n) if obj.contains_key(n) => (n, false),
            _ => (f, true),
        };
        let cur = obj
            .get(name)
            .and_then(Value::as_bool)
            .ok_or(format!("unknown flag '{f}'"))?;
        obj.insert(
            name.to_string(),
            Value::Bool(if toggle { !cur } else { val }),
        );
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn build(dims: &Slice, mut idx: u64) -> Result<Scenario, String> {
    let at: Vec<usize> = dims
        .iter()
        .map(|(_, vals)| {
            let n = vals.len() as u64;
            let j = (idx % n) as usize;
            idx /= n;
            j
        })
        .collect();
    build_at(dims, &at)
}

/// The scenario with value `at[d]` of each dimension `d`.
fn build_at(dims: &Slice, at: &[usize]) -> Result<Scenario, String> {
    let mut s = diofuzz::generators::base();
    s.world.blocks.clear();
    for ((k, vals), &j) in dims.iter().zip(at) {
        let v = &vals[j];
        apply(&mut s, k, v).map_err(|e| format!("{k} = {v}: {e}"))?;
    }
    Ok(s)
}

/// Copy the fields dimension `k` sets (see [`apply`]) from `from` to `to`.
fn copy_dim(k: &str, from: &Scenario, to: &mut Scenario) {
    let (f, t) = (&from.world, &mut to.world);
    let (q, r) = (&from.request, &mut to.request);
    match k {
        "fs" => to.fs = from.fs,
        "blkbits" => t.blkbits = f.blkbits,
        "cluster_bits" => t.cluster_bits = f.cluster_bits,
        "device" => t.device = f.device,
        "mount" => t.mount = f.mount,
        "inode" => t.inode = f.inode,
        "i_size" => t.i_size = f.i_size,
        "blocks" => t.blocks.clone_from(&f.blocks),
        "pages" => t.pages.clone_from(&f.pages),
        "open" => r.open = q.open,
        "rwf" => r.rwf = q.rwf,
        "pos" => r.pos = q.pos,
        "len" => r.len = q.len,
        "nr_segs" => r.nr_segs = q.nr_segs,
        "buf_align" => r.buf_align = q.buf_align,
        "fault_at" => r.fault_at = q.fault_at,
        "rlimit" => t.rlimit_fsize = f.rlimit_fsize,
        "aio" => r.aio = q.aio,
        "fault" => to.faults.clone_from(&from.faults),
        "race" => to.races.clone_from(&from.races),
        _ => {}
    }
}

fn num(v: &Value) -> Result<u64, String> {
    v.as_u64().ok_or_else(|| "expected a number".to_string())
}

fn apply(s: &mut Scenario, k: &str, v: &Value) -> Result<(), String> {
    let st = || v.as_str().ok_or_else(|| "expected a string".to_string());
    match k {
        "fs" => s.fs = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?,
        "blkbits" => s.world.blkbits = num(v)? as u8,
        "cluster_bits" => s.world.cluster_bits = num(v)? as u8,
        "device" => {
            let a = v
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or("expected [awu_min, awu_max]")?;
            s.world.device.awu_min = num(&a[0])? as u32;
            s.world.device.awu_max = num(&a[1])? as u32;
        }
        "mount" => s.world.mount = set_flags(&s.world.mount, st()?, false)?,
        "inode" => s.world.inode = set_flags(&s.world.inode, st()?, true)?,
        "i_size" => s.world.i_size = num(v)?,
        "blocks" => s.world.blocks = diofuzz::generators::layout(st()?)?,
        "pages" => s.world.pages = diofuzz::generators::pages(st()?)?,
        "open" => {
            s.request.open = set_flags(&OpenFlags::default(), st()?, false)?;
        }
        "rwf" => s.request.rwf = set_flags(&Rwf::default(), st()?, false)?,
        "pos" => s.request.pos = num(v)?,
        "len" => s.request.len = num(v)?,
        "nr_segs" => s.request.nr_segs = num(v)? as u8,
        "buf_align" => s.request.buf_align = num(v)? as u32,
        "fault_at" => s.request.fault_at = if v.is_null() { None } else { Some(num(v)?) },
        "rlimit" => s.world.rlimit_fsize = if v.is_null() { None } else { Some(num(v)?) },
        "aio" => s.request.aio = v.as_bool().ok_or("expected a bool")?,
        "fault" => {
            let f = st()?;
            s.faults = if f == "none" {
                vec![]
            } else {
                vec![parse_fault(f)?]
            };
        }
        "race" => {
            let r = st()?;
            s.races = if r == "none" {
                vec![]
            } else {
                vec![parse_race(r)?]
            };
        }
        _ => return Err(format!("unknown dimension '{k}'")),
    }
    Ok(())
}

fn parse_fault(f: &str) -> Result<Fault, String> {
    let p: Vec<&str> = f.split(':').collect();
    let [site, e, nth] = p.as_slice() else {
        return Err(format!("fault '{f}' is not Site:ERRNO:nth"));
    };
    let site = ALL_SITES
        .iter()
        .copied()
        .find(|s| format!("{s:?}") == *site)
        .ok_or(format!("unknown site '{site}'"))?;
    let errno = if *e == "0" {
        0
    } else {
        diofuzz::errno::parse(e).ok_or(format!("unknown errno '{e}'"))?
    };
    if !site.errnos().contains(&errno) {
        return Err(format!("{} cannot return {e}", site.function()));
    }
    Ok(Fault {
        site,
        nth: nth.parse().map_err(|_| format!("bad nth '{nth}'"))?,
        errno,
    })
}

fn parse_race(r: &str) -> Result<Race, String> {
    Ok(match r {
        "MmapRedirty" => Race::MmapRedirty,
        "FcntlToggleDirect" => Race::FcntlToggleDirect,
        "LockContended" => Race::LockContended,
        _ => match r.strip_prefix("InodeFlagChangedAfterOpen:") {
            Some(i) => {
                Race::InodeFlagChangedAfterOpen(i.parse().map_err(|_| format!("bad race '{r}'"))?)
            }
            None => return Err(format!("unknown race '{r}'")),
        },
    })
}

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

pub fn cli(args: &[String]) -> i32 {
    match run_cli(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("diofuzz check: {e}");
            2
        }
    }
}

fn run_cli(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(
        args,
        &["--variant", "--fs", "--domain", "--jobs", "--out"],
        &["--json", "--keep", "--help"],
    )?;
    if o.flag("--help") {
        println!("usage: diofuzz check [--variant V|all] [--fs ext4|xfs|bdev|all] [--domain FILE] [--jobs N] [--out DIR] [--keep] [--json]\n  --out DIR   where the smallest counterexamples go (default check-out/)\n  --keep      also keep each one as a regression in corpus/regressions/");
        return Ok(0);
    }
    let variants = variant::resolve(o.val("--variant").unwrap_or("all"))?;
    let fs_filter = match o.val("--fs").unwrap_or("all") {
        "all" => None,
        f @ ("ext4" | "xfs" | "bdev") => Some(f.to_string()),
        f => return Err(format!("unknown --fs '{f}' (ext4, xfs, bdev or all)")),
    };
    let text = match o.val("--domain") {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read domain {p}: {e}"))?
        }
        None => DEFAULT_DOMAIN.to_string(),
    };
    let mut domain = Domain::parse(&text)?;
    if let Some(f) = &fs_filter {
        domain.retain_fs(f);
    }
    let jobs: usize = match o.val("--jobs") {
        Some(j) => j
            .parse()
            .ok()
            .filter(|&j| j > 0)
            .ok_or(format!("bad --jobs '{j}'"))?,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let out_dir = PathBuf::from(o.val("--out").unwrap_or("check-out"));
    let report = check(
        &domain,
        &variants,
        jobs,
        std::io::stderr().is_terminal() && !o.flag("--json"),
    )?;
    let kept = write_counterexamples(&report, &variants, &out_dir, o.flag("--keep"))?;
    if o.flag("--json") {
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

impl Report {
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
            while done.load(Ordering::Relaxed) < total {
                std::thread::sleep(std::time::Duration::from_millis(250));
                let d = done.load(Ordering::Relaxed);
                let el = t0.elapsed().as_secs_f64().max(1e-3);
                eprint!(
                    "\r  {d}/{total} inputs ({:.0}%), {:.0} inputs/s, {:.0}s left   ",
                    100.0 * d as f64 / total as f64,
                    d as f64 / el,
                    (total - d) as f64 / (d as f64 / el).max(1.0)
                );
            }
            eprintln!();
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
        if keep && diofuzz::known::lookup(sig, variants[*vi].name).is_none() {
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
    print!("\n{:<10}", "variant");
    for p in Prop::ALL {
        print!("{:>14}", p.to_string());
    }
    println!();
    for (vi, v) in variants.iter().enumerate() {
        print!("{:<10}", v.name);
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
