// SPDX-License-Identifier: GPL-2.0-only
//! The domain language of `diofuzz check` (moved here from tools/src/check.rs so that the
//! field-aware mutator samples the same domain): a domain is a union of slices; a slice gives, per
//! dimension, the list of values to take (see tools/src/check.rs for the dimensions), and is the
//! product of its lists or, with `"pairwise": true`, a 2-way covering array of them
//! ([`crate::pairwise`]) whose rows are real worlds ([`crate::validity`]).

use crate::scenario::*;
use crate::{pairwise, validity};
use serde_json::{json, Value};

/// The default domain (see README "diofuzz check"): sized to cover every variant in under a
/// minute on a 2-core machine.
pub const DEFAULT_DOMAIN: &str = include_str!("../check/default-domain.json");

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
        Domain::parse_with(text, true)
    }
    /// As [`Domain::parse`]; with `cover` false a pairwise slice gets no rows (it reads as the
    /// product of its lists: the covering array takes most of a second to build).
    pub fn parse_with(text: &str, cover: bool) -> Result<Domain, String> {
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
            let rows = if pairwise && cover {
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
/// a real world (crate::pairwise, crate::validity), and its pair coverage.
fn pairwise_rows(dims: &Slice, name: String) -> (Vec<Vec<usize>>, PairCoverage) {
    let sizes: Vec<usize> = dims.iter().map(|(_, v)| v.len()).collect();
    // Each dimension sets its own fields: build every (dimension, value) once, then assemble a
    // row by copying fields (the generator scores tens of thousands of rows).
    let base = crate_base();
    let parts = dim_parts(dims, &base);
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

/// Every (dimension, value) of a slice applied alone to `base` (None: the value does not apply).
fn dim_parts(dims: &Slice, base: &Scenario) -> Vec<Vec<Option<Scenario>>> {
    dims.iter()
        .map(|(k, vals)| {
            vals.iter()
                .map(|v| {
                    let mut s = base.clone();
                    apply(&mut s, k, v).ok().map(|_| s)
                })
                .collect()
        })
        .collect()
}

/// A domain prepared for sampling by index, for the field-aware mutator ([`crate::mutate`]):
/// every (slice, dimension, value) is built once, and an input is assembled by copying each
/// dimension's fields, so a sample costs one scenario clone and no JSON. [`Sampler::get`]
/// numbers a slice's inputs as [`Domain::get`] does (a pairwise slice: its rows).
pub struct Sampler {
    base: Scenario,
    slices: Vec<SampleSlice>,
}

struct SampleSlice {
    /// Per dimension: its key and, per value, the base scenario with that value applied.
    dims: Vec<(String, Vec<Scenario>)>,
    /// A pairwise slice's rows (None: the product of the lists).
    rows: Option<Vec<Vec<usize>>>,
}

impl Sampler {
    pub fn new(d: &Domain) -> Sampler {
        let base = crate_base();
        let slices = d
            .slices
            .iter()
            .zip(&d.rows)
            .map(|(dims, rows)| SampleSlice {
                dims: dims
                    .iter()
                    .zip(dim_parts(dims, &base))
                    .map(|((k, _), parts)| {
                        // Domain::parse has built every value, so none is None.
                        (k.clone(), parts.into_iter().flatten().collect())
                    })
                    .collect(),
                rows: rows.clone(),
            })
            .collect();
        Sampler { base, slices }
    }
    /// The default domain's sampler (the domain `diofuzz check` runs), built on first use. Its
    /// pairwise slice is sampled as the product of its lists (any value of each dimension), not
    /// as its covering rows: building those takes most of a second, which a fuzzer would pay
    /// before its first mutation. The mutator normalises every sample to a real world.
    pub fn default_domain() -> &'static Sampler {
        static S: std::sync::OnceLock<Sampler> = std::sync::OnceLock::new();
        S.get_or_init(|| {
            let d = Domain::parse_with(DEFAULT_DOMAIN, false).expect("the default domain parses");
            Sampler::new(&d)
        })
    }
    /// The number of slices.
    pub fn slices(&self) -> usize {
        self.slices.len()
    }
    /// The number of inputs of slice `si`.
    pub fn size(&self, si: usize) -> u64 {
        let s = &self.slices[si];
        match &s.rows {
            Some(r) => r.len() as u64,
            None => s.dims.iter().map(|(_, v)| v.len() as u64).product(),
        }
    }
    /// The number of dimensions of slice `si`, and of values of its dimension `d`.
    pub fn dims(&self, si: usize) -> usize {
        self.slices[si].dims.len()
    }
    pub fn values(&self, si: usize, d: usize) -> usize {
        self.slices[si].dims[d].1.len()
    }
    /// Set the fields of dimension `d` of slice `si` in `s` to its `j`-th value.
    pub fn set(&self, si: usize, d: usize, j: usize, s: &mut Scenario) {
        let (k, parts) = &self.slices[si].dims[d];
        copy_dim(k, &parts[j], s);
    }
    /// Input `i` (< [`Sampler::size`]) of slice `si`.
    pub fn get(&self, si: usize, mut i: u64) -> Scenario {
        let sl = &self.slices[si];
        let mut s = self.base.clone();
        for d in 0..sl.dims.len() {
            let j = match &sl.rows {
                Some(r) => r[i as usize % r.len()][d],
                None => {
                    let n = sl.dims[d].1.len() as u64;
                    let j = i % n;
                    i /= n;
                    j as usize
                }
            };
            self.set(si, d, j, &mut s);
        }
        s
    }
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
                for f in crate::domain::all_faults() {
                    let en = if f.errno == 0 {
                        "0"
                    } else {
                        crate::errno::name(f.errno)
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
    let mut s = crate::generators::base();
    s.world.blocks.clear();
    s
}

/// The `inode` dimension's name for [`World::inline_delalloc`].
const INLINE_DELALLOC: &str = "inline_delalloc";

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
        "inode" => {
            t.inode = f.inode;
            t.inline_delalloc = f.inline_delalloc;
        }
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
                .filter(|a| a.len() == 2 || a.len() == 3)
                .ok_or("expected [awu_min, awu_max] or [awu_min, awu_max, no_bio_split]")?;
            s.world.device.awu_min = small(&a[0])?;
            s.world.device.awu_max = small(&a[1])?;
            // A bio-based disk that never splits (pmem): world.device.no_bio_split.
            s.world.device.no_bio_split = match a.get(2) {
                None => false,
                Some(b) => b.as_bool().ok_or("expected no_bio_split as a bool")?,
            };
        }
        "mount" => s.world.mount = set_flags(&s.world.mount, st()?, false)?,
        "inode" => {
            // `inline_delalloc` is world state (EXT4_STATE_MAY_INLINE_DATA clear after a
            // delalloc conversion, rule W46), not an inode flag: set, not toggled.
            let spec = st()?;
            s.world.inline_delalloc = flags_of(spec).any(|f| f == INLINE_DELALLOC);
            let rest: Vec<&str> = flags_of(spec).filter(|f| *f != INLINE_DELALLOC).collect();
            s.world.inode = set_flags(&s.world.inode, &rest.join("|"), true)?;
        }
        "i_size" => s.world.i_size = num(v)?,
        "blocks" => s.world.blocks = crate::generators::layout(st()?)?,
        "pages" => s.world.pages = crate::generators::pages(st()?)?,
        "cow" => s.world.cow = crate::generators::cow_fork(st()?)?,
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
            .map(|&e| crate::errno::name(e).replace("E?", "0"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let errno = if *e == "0" {
        0
    } else {
        crate::errno::parse(e).ok_or(format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_numbers_inputs_as_the_domain_does() {
        let d = Domain::parse(DEFAULT_DOMAIN).unwrap();
        let s = Sampler::new(&d);
        assert_eq!(s.slices(), d.slices.len());
        let mut offset = 0;
        for si in 0..s.slices() {
            let n = s.size(si);
            assert!(n > 0);
            for i in [0, 1, n / 3, n / 2, n - 1] {
                let i = i.min(n - 1);
                assert_eq!(
                    s.get(si, i),
                    d.get(offset + i).unwrap(),
                    "slice {si} input {i}"
                );
            }
            offset += n;
        }
        assert_eq!(offset, d.size());
    }
}
