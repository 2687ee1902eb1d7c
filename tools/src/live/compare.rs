// SPDX-License-Identifier: GPL-2.0-only
//! Model versus kernel: the fields compared, the verdict, the oracle over the kernel's behaviour,
//! and the summary table.

use serde::Serialize;
use std::collections::BTreeMap;

use super::exec::Observation;
use super::plan::{Plan, TAG_OTHER};
use diofuzz::errno;
use diofuzz::model::{Ev, Execution, FileImage};
use diofuzz::oracle::{self, Prop};
use diofuzz::scenario::{Scenario, SECTOR};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Mismatch {
    pub field: &'static str,
    pub model: String,
    pub kernel: String,
}

/// What one side did, in the compared terms.
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct Side {
    pub ret: String,
    pub short: bool,
    pub buffered: bool,
    pub dio: bool,
    pub sw_atomic: bool,
    pub i_size: u64,
    pub ki_pos: Option<u64>,
    pub stale_page: Option<usize>,
    pub statx_unit_min: u32,
    pub statx_unit_max: u32,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Agree,
    Disagree,
    /// The model says it does not model this (e.g. "XFS not modelled yet", the read side).
    Unmodelled,
    /// A racing thread makes the outcome timing dependent: shown, not counted.
    Racy,
    /// Not expressible on a real kernel (reason in `note`).
    Skipped,
    /// The harness could not run it (reason in `note`).
    Error,
}

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub id: String,
    pub fs: &'static str,
    pub atomic: bool,
    pub verdict: Verdict,
    pub note: String,
    pub mismatches: Vec<Mismatch>,
    pub model: Option<Side>,
    pub kernel: Option<Side>,
    /// The oracle over the kernel's behaviour (O4, O7 are not observable live).
    pub kernel_findings: Vec<String>,
    pub model_findings: Vec<String>,
    /// Kernel sectors that match no pattern: (byte offset, first 16 bytes in hex).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kernel_other_sectors: Vec<(u64, String)>,
    /// Kernel log lines (WARNING, BUG, Oops, ...) that appeared while the scenario ran
    /// (`live --kmsg`): O7 made observable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dmesg: Vec<String>,
    /// `live --stable`: the verdict against the plain variant (without the release's backports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_backports: Option<Verdict>,
    /// `live --stable`: the backports (src/backports.rs) each of which alone turns a disagreement
    /// with the plain variant into agreement: they explain the kernel's behaviour here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explained_by: Vec<String>,
    /// The post-call probes ([`super::probes`]); their findings (P1, P2) are kernel findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<super::probes::Probes>,
    pub scenario: Scenario,
}

/// The outcome of a scenario that was not compared (skipped, or an error): its verdict and why.
pub fn not_compared(id: String, s: &Scenario, note: String, verdict: Verdict) -> Outcome {
    Outcome {
        id,
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
        dmesg: Vec::new(),
        without_backports: None,
        explained_by: Vec::new(),
        probes: None,
        scenario: s.clone(),
    }
}

fn fmt_ret(r: i64) -> String {
    if r < 0 {
        format!("-{}", errno_name(-r))
    } else {
        r.to_string()
    }
}

/// Errno names, including those the model's table lacks.
pub fn errno_name(e: i64) -> String {
    let n = errno::name(e);
    if n != "E?" {
        return n.to_string();
    }
    match e {
        7 => "E2BIG".into(),
        9 => "EBADF".into(),
        13 => "EACCES".into(),
        38 => "ENOSYS".into(),
        _ => format!("E{e}"),
    }
}

pub fn model_side(x: &Execution, s: &Scenario) -> Side {
    Side {
        ret: fmt_ret(x.ret),
        short: x.ret >= 0 && (x.ret as u64) < s.request.len,
        buffered: x.buffered_calls > 0,
        dio: x.trace.entered("iomap_dio_rw"),
        // What the kernel side can see: the xfs_iomap_atomic_write_cow tracepoint of
        // xfs_atomic_write_cow_iomap_begin. A hardware atomic write into a shared block also ends
        // in xfs_reflink_end_atomic_cow (an atomic remap), which has no tracepoint of its own: it
        // is not the software path (lab xfs-disk, gen-4242-xfs-174).
        sw_atomic: x.trace.entered("xfs_atomic_write_cow_iomap_begin"),
        i_size: x.after.i_size,
        // aio: the call is made at aio_offset, the file position shows nothing.
        ki_pos: (x.ret >= 0 && !s.request.aio).then_some(x.ki_pos_after),
        stale_page: x.stale_page,
        statx_unit_min: x.statx_unit_min,
        statx_unit_max: x.statx_unit_max,
    }
}

pub fn kernel_side(o: &Observation, s: &Scenario) -> Side {
    Side {
        ret: fmt_ret(o.ret),
        short: o.ret >= 0 && (o.ret as u64) < s.request.len,
        buffered: o.buffered(),
        dio: o.dio(),
        sw_atomic: o.sw_atomic(),
        i_size: o.i_size,
        ki_pos: (o.ret >= 0 && !s.request.aio).then_some(o.ki_pos_after),
        stale_page: o.stale(),
        statx_unit_min: if o.statx_atomic { o.statx_unit_min } else { 0 },
        statx_unit_max: if o.statx_atomic { o.statx_unit_max } else { 0 },
    }
}

/// Why the model declines, if it does.
pub fn unmodelled(x: &Execution) -> Option<String> {
    x.trace.events.iter().find_map(|e| match e {
        Ev::Note(n) if n.contains("not modelled") => Some(n.to_string()),
        _ => None,
    })
}

/// Does the model of `v` handle filesystem `fs` at all? A default O_DIRECT write is run through
/// it; a placeholder model says "not modelled" (the XFS model before it lands).
pub fn model_gap(
    fs: diofuzz::scenario::FsKind,
    v: &'static diofuzz::variant::Variant,
) -> Option<String> {
    let s = Scenario {
        fs,
        ..Default::default()
    };
    unmodelled(&diofuzz::model::run(&s, v))
}

/// First differing data sector (through the page cache), skipping sectors cut by a boundary
/// (write range, old and new EOF) where the model rounds to sectors and the kernel does not.
fn data_mismatch(x: &Execution, o: &Observation, len: u64) -> Option<Mismatch> {
    let wpos = x.write_pos;
    let bounds = [wpos, wpos + len, x.before.i_size, x.after.i_size, o.i_size];
    let lim = x.after.i_size.min(o.i_size).div_ceil(SECTOR) as usize;
    for s in 0..lim {
        let (lo, hi) = (s as u64 * SECTOR, (s as u64 + 1) * SECTOR);
        if bounds.iter().any(|&b| lo < b && b < hi) {
            continue;
        }
        let m = x.after.cached.get(s).copied().unwrap_or(0);
        let k = o.cached.get(s).copied().unwrap_or(0);
        // The model's "stale" is garbage of a fresh block: on the kernel that is the stale fill
        // or whatever an earlier file left there (another file's pattern reads as "other").
        let same = m == k || (m == diofuzz::model::TAG_STALE && k == TAG_OTHER);
        if !same {
            return Some(Mismatch {
                field: "data",
                model: format!("byte {lo}: {}", tag_name(m)),
                kernel: format!("byte {lo}: {}", tag_name(k)),
            });
        }
    }
    None
}

pub fn tag_name(t: u32) -> &'static str {
    match t {
        0 => "zero",
        1 => "old",
        2 => "old-dirty",
        3 => "new",
        4 => "stale",
        TAG_OTHER => "other (torn/misplaced)",
        _ => "?",
    }
}

/// Record `field` in `v` when the model's value `a` and the kernel's `b` differ.
pub fn differ(v: &mut Vec<Mismatch>, field: &'static str, a: String, b: String) {
    if a != b {
        v.push(Mismatch {
            field,
            model: a,
            kernel: b,
        });
    }
}

/// All mismatches between the model's execution and the kernel's observation.
pub fn compare(s: &Scenario, x: &Execution, o: &Observation) -> Vec<Mismatch> {
    let (m, k) = (model_side(x, s), kernel_side(o, s));
    let mut v = Vec::new();
    let mut add = |field, a, b| differ(&mut v, field, a, b);
    add("ret", m.ret.clone(), k.ret.clone());
    add("short", m.short.to_string(), k.short.to_string());
    add("buffered", m.buffered.to_string(), k.buffered.to_string());
    add("dio", m.dio.to_string(), k.dio.to_string());
    if s.fs == diofuzz::scenario::FsKind::Xfs {
        add(
            "sw_atomic",
            m.sw_atomic.to_string(),
            k.sw_atomic.to_string(),
        );
    }
    add("i_size", m.i_size.to_string(), k.i_size.to_string());
    if !s.request.read && m.ki_pos.is_some() && k.ki_pos.is_some() {
        add(
            "ki_pos",
            format!("{:?}", m.ki_pos),
            format!("{:?}", k.ki_pos),
        );
    }
    add(
        "stale_page",
        m.stale_page.is_some().to_string(),
        k.stale_page.is_some().to_string(),
    );
    add(
        "statx_atomic",
        format!("[{}, {}]", m.statx_unit_min, m.statx_unit_max),
        format!("[{}, {}]", k.statx_unit_min, k.statx_unit_max),
    );
    if !s.request.read {
        if let Some(d) = data_mismatch(x, o, s.request.len) {
            v.push(d);
        }
    }
    v
}

/// The kernel's behaviour as an Execution, for the oracle. What cannot be observed live is left
/// neutral: no bios, no WARNs, no masked DIO error and no page pins (so O4, O7, O8 and O9 are
/// dropped), the file before the call is the
/// model's picture of the world the set-up built.
pub fn kernel_execution(s: &Scenario, x: &Execution, o: &Observation) -> Execution {
    let pad = |v: &[u32]| {
        let mut v = v.to_vec();
        v.resize(v.len().max(x.after.cached.len()), 0);
        v
    };
    Execution {
        variant: x.variant,
        fs: s.fs,
        atomic: s.request.rwf.atomic && !s.request.read,
        read: s.request.read,
        aio: s.request.aio,
        ret: o.ret,
        submit_ret: o.ret,
        req_len: s.request.len,
        nr_segs: s.request.nr_segs,
        direct_at_io: s.direct_at_io(),
        write_pos: o.write_pos,
        // aio does not move the file position: the kiocb's end is where the data ends.
        ki_pos_after: if o.ret >= 0 && s.request.aio {
            o.write_pos + o.ret as u64
        } else if o.ret >= 0 {
            o.ki_pos_after
        } else {
            o.write_pos
        },
        statx_unit_min: if o.statx_atomic { o.statx_unit_min } else { 0 },
        statx_unit_max: if o.statx_atomic { o.statx_unit_max } else { 0 },
        before: x.before.clone(),
        after: FileImage {
            i_size: o.i_size,
            cached: pad(&o.cached),
            on_disk: pad(&o.direct),
        },
        stale_page: o.stale(),
        // Seen only after a later call: the P2 probe (super::probes) checks it on the kernel.
        stale_past_eof: None,
        trace: Default::default(),
        bios: Vec::new(),
        warns: Vec::new(),
        buffered_bytes: 0,
        buffered_calls: o.buffered() as u32,
        dax_calls: 0,
        atomic_remaps: o.sw_atomic() as u32,
        dio_error_masked: None,
        pinned_left: 0,
        pin_errors: Vec::new(),
        cow_errors: Vec::new(),
        path: vec!["live kernel"],
    }
}

/// `racy`: the harness's own mmap writer stores into the file during the call, so data and
/// accounting (O6) say nothing about the kernel there.
pub fn kernel_findings(s: &Scenario, x: &Execution, o: &Observation, racy: bool) -> Vec<String> {
    oracle::check(&kernel_execution(s, x, o))
        .into_iter()
        .filter(|f| f.property != Prop::O4 && f.property != Prop::O7)
        .filter(|f| !(racy && f.property == Prop::O6))
        .map(|f| format!("{} ({}): {}", f.property, f.property.title(), f.detail))
        .collect()
}

pub fn model_findings(x: &Execution) -> Vec<String> {
    oracle::check(x)
        .into_iter()
        .map(|f| format!("{} ({}): {}", f.property, f.property.title(), f.detail))
        .collect()
}

/// Build the outcome of one executed scenario.
/// `gap`: the model's own statement that it lacks this filesystem ([`model_gap`]).
pub fn outcome(
    id: String,
    s: &Scenario,
    plan: &Plan,
    x: &Execution,
    o: &Observation,
    gap: Option<&str>,
) -> Outcome {
    let mismatches = compare(s, x, o);
    let um = unmodelled(x).or_else(|| gap.map(|g| format!("model: {g}")));
    let (verdict, note) = if let Some(n) = um {
        (Verdict::Unmodelled, n)
    } else if mismatches.is_empty() {
        (Verdict::Agree, String::new())
    } else if plan.racy {
        (
            Verdict::Racy,
            "mmap writer thread: outcome depends on timing".into(),
        )
    } else if let Some(m) = &o.hold_missed {
        (Verdict::Racy, m.clone())
    } else {
        (Verdict::Disagree, String::new())
    };
    let note = match o.child_signal {
        Some(sig) => format!("{note} (child died with signal {sig})"),
        None => note,
    };
    let note = match &o.readback_error {
        Some(e) => format!("{note} (kernel: {e} after the call; stale-page check skipped)"),
        None => note,
    };
    Outcome {
        mismatches,
        model: Some(model_side(x, s)),
        kernel: Some(kernel_side(o, s)),
        kernel_findings: kernel_findings(s, x, o, plan.racy || o.hold_missed.is_some()),
        model_findings: model_findings(x),
        kernel_other_sectors: o.other_samples.clone(),
        ..not_compared(id, s, note, verdict)
    }
}

/// Counts per (fs, atomic) group.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Group {
    pub total: u64,
    pub agree: u64,
    pub disagree: u64,
    pub unmodelled: u64,
    pub racy: u64,
    pub skipped: u64,
    pub errors: u64,
    pub kernel_findings: u64,
    /// Mismatch field -> count (disagreements only).
    pub fields: BTreeMap<&'static str, u64>,
}

impl Group {
    /// agree / (agree + disagree), the agreement rate over compared scenarios.
    pub fn rate(&self) -> Option<f64> {
        let n = self.agree + self.disagree;
        (n > 0).then(|| self.agree as f64 / n as f64 * 100.0)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub groups: BTreeMap<String, Group>,
    pub skip_reasons: BTreeMap<String, u64>,
}

impl Summary {
    pub fn add(&mut self, o: &Outcome) {
        let key = format!(
            "{} {}",
            o.fs,
            if o.atomic { "atomic" } else { "non-atomic" }
        );
        for k in [key, "all".to_string()] {
            let g = self.groups.entry(k).or_default();
            g.total += 1;
            match o.verdict {
                Verdict::Agree => g.agree += 1,
                Verdict::Disagree => {
                    g.disagree += 1;
                    for m in &o.mismatches {
                        *g.fields.entry(m.field).or_default() += 1;
                    }
                }
                Verdict::Unmodelled => g.unmodelled += 1,
                Verdict::Racy => g.racy += 1,
                Verdict::Skipped => g.skipped += 1,
                Verdict::Error => g.errors += 1,
            }
            if !o.kernel_findings.is_empty() {
                g.kernel_findings += 1;
            }
        }
        if o.verdict == Verdict::Skipped {
            *self.skip_reasons.entry(o.note.clone()).or_default() += 1;
        }
    }

    pub fn table(&self) -> String {
        let mut t = String::new();
        t.push_str(&format!(
            "{:<18} {:>6} {:>6} {:>8} {:>10} {:>5} {:>7} {:>6} {:>8} {:>9}\n",
            "group",
            "total",
            "agree",
            "disagree",
            "unmodelled",
            "racy",
            "skipped",
            "errors",
            "agree%",
            "kfindings"
        ));
        for (k, g) in &self.groups {
            t.push_str(&format!(
                "{:<18} {:>6} {:>6} {:>8} {:>10} {:>5} {:>7} {:>6} {:>8} {:>9}\n",
                k,
                g.total,
                g.agree,
                g.disagree,
                g.unmodelled,
                g.racy,
                g.skipped,
                g.errors,
                g.rate()
                    .map(|r| format!("{r:.1}"))
                    .unwrap_or_else(|| "-".into()),
                g.kernel_findings
            ));
        }
        for (k, g) in &self.groups {
            let n = g.agree + g.disagree;
            if n > 0 {
                let f: Vec<String> = ["ret", "short", "buffered", "data", "statx_atomic"]
                    .iter()
                    .map(|f| {
                        let bad = g.fields.get(f).copied().unwrap_or(0);
                        format!("{f} {:.1}%", (n - bad) as f64 / n as f64 * 100.0)
                    })
                    .collect();
                t.push_str(&format!("  {k}: agreement per field: {}\n", f.join(", ")));
            }
        }
        for (k, g) in &self.groups {
            if !g.fields.is_empty() {
                let f: Vec<String> = g.fields.iter().map(|(n, c)| format!("{n}={c}")).collect();
                t.push_str(&format!("  {k}: mismatched fields: {}\n", f.join(" ")));
            }
        }
        for (r, c) in &self.skip_reasons {
            t.push_str(&format!("  skipped {c}: {r}\n"));
        }
        t
    }
}
