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
//!   "SITE:ERRNO:NTH" strings, the site as the kernel function the trace names
//!   ("ext4_map_blocks(create):ENOSPC:0"; the Rust name, "Ext4MapBlocksCreate", is read too);
//! - `race`: race names ("none", "MmapRedirty", "FcntlToggleDirect", "LockContended",
//!   "InodeFlagChangedAfterOpen:N");
//! - `cow`: the XFS CoW fork at rest, one letter per block (N none, D delalloc reservation, U
//!   unwritten preallocation); `cowextsize`: the cowextsize hint in blocks (0 = none, the default
//!   32) -- docs/model-state.md.

use diofuzz::oracle::{self, Prop};
use diofuzz::scenario::*;
use diofuzz::variant::{Variant, VARIANTS};
use diofuzz::{pairwise, validity};
use serde_json::{json, Value};
use std::collections::BTreeMap;
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

/// The dimensions a slice may have (besides its "name").
pub const DIMENSIONS: [&str; 22] = [
    "fs",
    "blkbits",
    "cluster_bits",
    "device",
    "mount",
    "inode",
    "i_size",
    "blocks",
    "pages",
    "open",
    "rwf",
    "pos",
    "len",
    "nr_segs",
    "buf_align",
    "fault_at",
    "rlimit",
    "aio",
    "fault",
    "race",
    "cow",
    "cowextsize",
];

impl Domain {
    /// Parse and validate a domain: unknown keys and dimensions, empty lists and every value of
    /// every list are checked (each value alone on the base scenario, then encoded, so a value
    /// the byte format cannot hold is refused too), and an empty domain is an error.
    pub fn parse(text: &str) -> Result<Domain, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("domain is not JSON: {e}"))?;
        let top = v.as_object().ok_or("a domain is a JSON object")?;
        for k in top.keys() {
            if k != "slices" && k != "about" {
                return Err(format!(
                    "unknown domain key '{k}'; valid keys: slices, about"
                ));
            }
        }
        let slices = top
            .get("slices")
            .and_then(Value::as_array)
            .ok_or("domain needs a \"slices\" list")?;
        if slices.is_empty() {
            return Err("the domain has no slices: nothing to check".into());
        }
        let mut out = Domain {
            slices: Vec::new(),
            rows: Vec::new(),
            coverage: Vec::new(),
        };
        for (i, s) in slices.iter().enumerate() {
            let obj = s.as_object().ok_or(format!("slice {i} is not an object"))?;
            let label = match obj.get("name").and_then(Value::as_str) {
                Some(n) => format!("slice {i} ({n})"),
                None => format!("slice {i}"),
            };
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
                if !DIMENSIONS.contains(&k.as_str()) {
                    return Err(format!(
                        "{label}: unknown dimension '{k}'; valid dimensions: name, {}",
                        DIMENSIONS.join(", ")
                    ));
                }
                let list = vals
                    .as_array()
                    .ok_or(format!("{label}: '{k}' must be a list"))?;
                let list = expand(k, list).map_err(|e| format!("{label}: {k}: {e}"))?;
                if list.is_empty() {
                    return Err(format!(
                        "{label}: '{k}' is empty: a slice is the product of its lists, so it would check nothing"
                    ));
                }
                for val in &list {
                    validate(k, val).map_err(|e| format!("{label}: {k}: {e}"))?;
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
    let base = crate_base();
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
                // The library's fault domain (shared with the mutator and the dictionary).
                for f in diofuzz::domain::all_faults() {
                    let en = if f.errno == 0 {
                        "0"
                    } else {
                        diofuzz::errno::name(f.errno)
                    };
                    out.push(Value::String(format!(
                        "{}:{en}:{}",
                        f.site.function(),
                        f.nth
                    )));
                }
            }
            _ => out.push(v.clone()),
        }
    }
    Ok(out)
}

/// One value of dimension `k`, alone on the base scenario: applied, then encoded.
fn validate(k: &str, v: &Value) -> Result<(), String> {
    let mut s = crate_base();
    apply(&mut s, k, v).map_err(|e| format!("{v}: {e}"))?;
    s.encode().map_err(|e| format!("{v}: {e}"))?;
    Ok(())
}

fn crate_base() -> Scenario {
    let mut s = diofuzz::generators::base();
    s.world.blocks.clear();
    s
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
        let cur = obj.get(name).and_then(Value::as_bool).ok_or_else(|| {
            let valid: Vec<&str> = obj.keys().map(String::as_str).collect();
            format!(
                "unknown flag '{f}'; valid flags: {} (no_FLAG turns one off)",
                valid.join(", ")
            )
        })?;
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
    let mut s = crate_base();
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
        "cow" => t.cow.clone_from(&f.cow),
        "cowextsize" => t.cowextsize = f.cowextsize,
        _ => {}
    }
}

fn num(v: &Value) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| "expected a non-negative number".to_string())
}

fn small<T: TryFrom<u64>>(v: &Value) -> Result<T, String> {
    T::try_from(num(v)?).map_err(|_| "number out of range".to_string())
}

fn apply(s: &mut Scenario, k: &str, v: &Value) -> Result<(), String> {
    let st = || v.as_str().ok_or_else(|| "expected a string".to_string());
    match k {
        "fs" => s.fs = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?,
        "blkbits" => s.world.blkbits = small(v)?,
        "cluster_bits" => s.world.cluster_bits = small(v)?,
        "device" => {
            let a = v
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or("expected [awu_min, awu_max]")?;
            s.world.device.awu_min = small(&a[0])?;
            s.world.device.awu_max = small(&a[1])?;
        }
        "mount" => s.world.mount = set_flags(&s.world.mount, st()?, false)?,
        "inode" => s.world.inode = set_flags(&s.world.inode, st()?, true)?,
        "i_size" => s.world.i_size = num(v)?,
        "blocks" => s.world.blocks = diofuzz::generators::layout(st()?)?,
        "pages" => s.world.pages = diofuzz::generators::pages(st()?)?,
        "cow" => s.world.cow = diofuzz::generators::cow_fork(st()?)?,
        "cowextsize" => s.world.cowextsize = small(v)?,
        "open" => {
            s.request.open = set_flags(&OpenFlags::default(), st()?, false)?;
        }
        "rwf" => s.request.rwf = set_flags(&Rwf::default(), st()?, false)?,
        "pos" => s.request.pos = num(v)?,
        "len" => s.request.len = num(v)?,
        "nr_segs" => s.request.nr_segs = small(v)?,
        "buf_align" => s.request.buf_align = small(v)?,
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
        _ => {
            return Err(format!(
                "unknown dimension '{k}'; valid dimensions: {}",
                DIMENSIONS.join(", ")
            ))
        }
    }
    Ok(())
}

fn parse_fault(f: &str) -> Result<Fault, String> {
    let p: Vec<&str> = f.split(':').collect();
    let [site, e, nth] = p.as_slice() else {
        return Err(format!(
            "fault '{f}' is not SITE:ERRNO:NTH (e.g. ext4_map_blocks(create):ENOSPC:0)"
        ));
    };
    let site = Site::parse(site)?;
    let can = || {
        site.errnos()
            .iter()
            .map(|&e| diofuzz::errno::name(e).replace("E?", "0"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let errno = if *e == "0" {
        0
    } else {
        diofuzz::errno::parse(e).ok_or(format!(
            "unknown errno '{e}'; {} can return {}",
            site.function(),
            can()
        ))?
    };
    if !site.errnos().contains(&errno) {
        return Err(format!(
            "{} cannot return {e}; it can return {}",
            site.function(),
            can()
        ));
    }
    Ok(Fault {
        site,
        nth: nth
            .parse()
            .map_err(|_| format!("bad nth '{nth}' (0 = the first call, up to 255)"))?,
        errno,
    })
}

const RACES: &str = "none, MmapRedirty, FcntlToggleDirect, LockContended, InodeFlagChangedAfterOpen:FLAG (an inode flag name or its index)";

fn parse_race(r: &str) -> Result<Race, String> {
    Ok(match r {
        "MmapRedirty" => Race::MmapRedirty,
        "FcntlToggleDirect" => Race::FcntlToggleDirect,
        "LockContended" => Race::LockContended,
        _ => match r.strip_prefix("InodeFlagChangedAfterOpen:") {
            Some(i) => {
                let idx = INODE_FLAG_NAMES
                    .iter()
                    .position(|n| *n == i)
                    .or_else(|| i.parse().ok().filter(|&n| n < INODE_FLAG_NAMES.len()))
                    .ok_or(format!(
                        "bad inode flag '{i}'; valid: {} or 0..{}",
                        INODE_FLAG_NAMES.join(", "),
                        INODE_FLAG_NAMES.len() - 1
                    ))?;
                Race::InodeFlagChangedAfterOpen(idx as u8)
            }
            None => return Err(format!("unknown race '{r}'; valid: {RACES}")),
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
