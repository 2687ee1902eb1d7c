// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz check --compare BASE,PATCHED` and `diofuzz replay --compare BASE,PATCHED`: the same
//! inputs on two variants (typically a kernel and the same kernel with a patch described as a
//! variant file or `BASE+switch=value`), and the finding signatures the second one closes, opens
//! and leaves unchanged. Each opened signature comes with its smallest counterexample, written
//! as a corpus file, and the command that replays it. Exit status 1 when any signature opens.

use crate::check::{check, Domain, Report};
use diofuzz::oracle::{self, Prop};
use diofuzz::variant::Variant;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One signature in a comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub signature: String,
    pub property: String,
    /// Inputs (or files) that produce it on the base and on the patched variant.
    pub base_count: u64,
    pub patched_count: u64,
    /// known / new, by the base variant's known findings.
    pub known: &'static str,
    /// The smallest counterexample (opened: on the patched variant; closed: on the base).
    pub smallest: Option<String>,
    /// The command that replays it.
    pub replay: Option<String>,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub base: String,
    pub patched: String,
    pub inputs: u64,
    pub seconds: f64,
    /// See [`base_note`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub closed: Vec<Entry>,
    pub opened: Vec<Entry>,
    pub unchanged: Vec<Entry>,
}

impl Comparison {
    pub fn exit_code(&self) -> i32 {
        if self.opened.is_empty() {
            0
        } else {
            1
        }
    }
}

/// How to name a variant on a command line: a variant file's path, else its name.
pub fn spec_of(v: &Variant) -> String {
    match diofuzz::variant_file::find(v.name) {
        Some(u) if u.source != "inline" => u.source.clone(),
        _ => v.name.to_string(),
    }
}

fn replay_cmd(file: &Path, v: &Variant) -> String {
    format!(
        "diofuzz replay {} --variant '{}'",
        file.display(),
        spec_of(v)
    )
}

fn file_name(v: &Variant, p: Prop, sig: &str) -> String {
    let n: String = v
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{n}-{p}-{:016x}", diofuzz::target::sig_hash(sig))
}

/// Compare the signatures of a [`check`] report over `[base, patched]` (variant indexes 0, 1);
/// the smallest counterexample of each opened and closed signature goes to `out`.
pub fn from_report(
    r: &Report,
    base: &'static Variant,
    patched: &'static Variant,
    out: &Path,
) -> Result<Comparison, String> {
    let mut by: [BTreeMap<&str, crate::check::SigRecord<'_>>; 2] = Default::default();
    for rec in r.records() {
        by[rec.variant].insert(rec.signature, rec);
    }
    let mut c = Comparison {
        base: base.name.into(),
        patched: patched.name.into(),
        inputs: r.inputs,
        seconds: r.secs,
        note: base_note(base, patched),
        closed: vec![],
        opened: vec![],
        unchanged: vec![],
    };
    let sigs: BTreeSet<&str> = by[0].keys().chain(by[1].keys()).copied().collect();
    for sig in sigs {
        let (b, p) = (by[0].get(sig), by[1].get(sig));
        let rec = p.or(b).ok_or("signature without a record")?;
        let mut e = Entry {
            signature: sig.to_string(),
            property: rec.property.to_string(),
            base_count: b.map_or(0, |x| x.count),
            patched_count: p.map_or(0, |x| x.count),
            known: diofuzz::known::label(sig, patched.name),
            smallest: None,
            replay: None,
            detail: rec.detail.to_string(),
        };
        // Opened: the patched variant's counterexample; closed: the base's.
        let keep = match (b, p) {
            (None, Some(x)) => Some((x, patched)),
            (Some(x), None) => Some((x, base)),
            _ => None,
        };
        if let Some((x, v)) = keep {
            std::fs::create_dir_all(out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            let path = out.join(file_name(v, x.property, sig));
            std::fs::write(&path, x.smallest)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            e.replay = Some(replay_cmd(&path, v));
            e.smallest = Some(path.display().to_string());
        }
        match (b, p) {
            (Some(_), Some(_)) => c.unchanged.push(e),
            (Some(_), None) => c.closed.push(e),
            _ => c.opened.push(e),
        }
    }
    Ok(c)
}

/// `check --compare`: the domain on both variants.
pub fn domain(
    d: &Domain,
    base: &'static Variant,
    patched: &'static Variant,
    jobs: usize,
    progress: bool,
    out: &Path,
) -> Result<Comparison, String> {
    let r = check(d, &[base, patched], jobs, progress)?;
    from_report(&r, base, patched, out)
}

/// `replay --compare`: every file on both variants; counts are files.
pub fn files(
    files: &[PathBuf],
    base: &'static Variant,
    patched: &'static Variant,
) -> Result<Comparison, String> {
    let t0 = std::time::Instant::now();
    // signature -> (property, [count base, count patched], smallest file per side, detail)
    type Rec = (Prop, [u64; 2], [Option<(u64, PathBuf)>; 2], String);
    let mut m: BTreeMap<String, Rec> = BTreeMap::new();
    for f in files {
        let s = diofuzz::input::load_scenario(f)?;
        let size = std::fs::metadata(f).map_or(u64::MAX, |m| m.len());
        for (i, v) in [base, patched].into_iter().enumerate() {
            let mut seen = BTreeSet::new();
            for fd in oracle::check(&diofuzz::model::run_quiet(&s, v)) {
                if !seen.insert(fd.signature.clone()) {
                    continue;
                }
                let e = m.entry(fd.signature.clone()).or_insert((
                    fd.property,
                    [0, 0],
                    [None, None],
                    fd.detail.clone(),
                ));
                e.1[i] += 1;
                if !e.2[i].as_ref().is_some_and(|(n, _)| *n <= size) {
                    e.2[i] = Some((size, f.clone()));
                }
            }
        }
    }
    let mut c = Comparison {
        base: base.name.into(),
        patched: patched.name.into(),
        inputs: files.len() as u64,
        seconds: t0.elapsed().as_secs_f64(),
        note: base_note(base, patched),
        closed: vec![],
        opened: vec![],
        unchanged: vec![],
    };
    for (sig, (p, n, small, detail)) in m {
        let side = match (n[0] > 0, n[1] > 0) {
            (true, true) => None,
            (true, false) => Some((0, base)),
            _ => Some((1, patched)),
        };
        let file = side.and_then(|(i, v)| small[i].as_ref().map(|(_, f)| (f.clone(), v)));
        let e = Entry {
            known: diofuzz::known::label(&sig, patched.name),
            signature: sig,
            property: p.to_string(),
            base_count: n[0],
            patched_count: n[1],
            smallest: file.as_ref().map(|(f, _)| f.display().to_string()),
            replay: file.as_ref().map(|(f, v)| replay_cmd(f, v)),
            detail,
        };
        match side {
            None => c.unchanged.push(e),
            Some((0, _)) => c.closed.push(e),
            _ => c.opened.push(e),
        }
    }
    Ok(c)
}

/// A note when the patched variant is a patch on another kernel than BASE: the comparison then
/// mixes the kernels' differences with the patch's.
pub fn base_note(base: &Variant, patched: &Variant) -> Option<String> {
    let u = diofuzz::variant_file::find(patched.name)?;
    (u.base.name != base.name).then(|| {
        format!(
            "note: {} is a patch on {}, not on {}: the differences include those between the two kernels (compare with {} to see the patch alone)",
            patched.name, u.base.name, base.name, u.base.name
        )
    })
}

/// The text report.
pub fn print(c: &Comparison, what: &str) {
    println!(
        "compare {} -> {} over {} {what} ({:.1}s)",
        c.base, c.patched, c.inputs, c.seconds
    );
    if let Some(n) = &c.note {
        println!("{n}");
    }
    for (title, list, note) in [
        (
            "closed",
            &c.closed,
            "found on the base, gone with the patch",
        ),
        (
            "opened",
            &c.opened,
            "NEW with the patch: not found on the base",
        ),
        ("unchanged", &c.unchanged, "found on both"),
    ] {
        println!("\n{title} ({}): {note}", list.len());
        for e in list.iter() {
            println!(
                "  [{}] {} x{}/{}: {}",
                e.known, e.property, e.base_count, e.patched_count, e.signature
            );
            if title != "unchanged" {
                println!("      {}", e.detail);
            }
            if let Some(r) = &e.replay {
                println!("      smallest: {r}");
            }
        }
    }
    println!(
        "\nverdict: {} closes {} signature(s), opens {}, leaves {} (counts: base/patched {what})",
        c.patched,
        c.closed.len(),
        c.opened.len(),
        c.unchanged.len()
    );
}

pub fn to_json(c: &Comparison) -> serde_json::Value {
    json!(c)
}
