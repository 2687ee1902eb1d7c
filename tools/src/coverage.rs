// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz coverage`: which modelled kernel decisions a corpus reaches, in kernel terms.
//!
//! The corpus is replayed through the model (full trace) on the selected variants. From each
//! execution's trace it collects the decisions (`cx.decide` / `cx.warn` events), the errno
//! returns of every function (`cx.ret` with a negative value) and the injected faults. What is
//! *possible* comes from the model's source at build time (tools/build.rs reads every
//! `cx.decide("...")`, `cx.warn("...")` and `cx.ret(F, -EXXX)` in src/kernel/, with its kernel
//! file, model function and line) and, for faults, from the scenario's fault-site table
//! (`Site::errnos`). So "never reached" is exact for literal sites: a new branch is counted the
//! moment it is written, with nothing to register by hand. Errnos passed up from a variable
//! (`return cx.ret(F, r)`) are reported when seen but cannot be listed as never reached.
//! A decision gated by a variant switch can be unreachable on the variants chosen: run with
//! `--variant all` (the default) for the union.

use crate::cli::VariantSet;
use diofuzz::input::{load, walk};
use diofuzz::model::trace::Ev;
use diofuzz::scenario::ALL_SITES;
use diofuzz::variant::Variant;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteKind {
    Decide,
    Warn,
    Errno,
}

/// One statically known site of the model.
#[derive(Debug)]
pub struct Site {
    pub kind: SiteKind,
    pub label: &'static str,
    /// The kernel function a decision names ("iomap_dio_bio_iter: ...", else the model function
    /// it sits in), or the function returning the errno.
    pub function: &'static str,
    /// The kernel file the module mirrors, e.g. fs/iomap/direct-io.c.
    pub file: &'static str,
    /// The model source file and line.
    pub rust: &'static str,
    pub line: u32,
}

include!(concat!(env!("OUT_DIR"), "/model_sites.rs"));

/// `diofuzz coverage`.
#[derive(clap::Args, Clone, Debug)]
pub struct CoverageOpts {
    /// Corpus files or folders [default: corpus/dio_write and corpus/regressions]
    #[arg(value_name = "CORPUS")]
    pub inputs: Vec<PathBuf>,
    /// Variants to replay on (a name, a comma list, or all)
    #[arg(long, value_name = "V|all", default_value = "all", value_parser = crate::cli::variant_set)]
    pub variant: VariantSet,
    /// JSON output
    #[arg(long)]
    pub json: bool,
    /// Also write an HTML page
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also plot decisions reached per kernel file: STEM.svg and STEM.png
    #[arg(long, value_name = "STEM")]
    pub plot: Option<PathBuf>,
    /// List the reached items too, with their execution counts
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Item {
    pub kind: &'static str,
    pub label: String,
    /// Executions that reached it.
    pub executions: u64,
    /// Model source lines (empty for errnos seen only at run time and for fault sites).
    pub sites: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FnCov {
    pub function: String,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileCov {
    pub file: String,
    pub decisions: usize,
    pub decisions_reached: usize,
    pub errnos: usize,
    pub errnos_reached: usize,
    pub functions: Vec<FnCov>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub corpus: Vec<String>,
    pub variants: Vec<&'static str>,
    pub inputs: usize,
    pub undecodable: usize,
    pub executions: u64,
    pub seconds: f64,
    pub decisions: usize,
    pub decisions_reached: usize,
    pub errnos: usize,
    pub errnos_reached: usize,
    pub files: Vec<FileCov>,
    /// Decisions seen at run time that the build-time list lacks (should stay empty).
    pub unlisted: Vec<String>,
}

/// Hits of one replay: decision label -> executions, (function, errno) -> executions,
/// (fault function, errno) -> executions.
#[derive(Default)]
struct Hits {
    decisions: HashMap<&'static str, u64>,
    errnos: HashMap<(&'static str, String), u64>,
    faults: HashMap<(&'static str, String), u64>,
}

fn collect(files: &[PathBuf], variants: &[&'static Variant], progress: bool) -> (Hits, usize, u64) {
    let mut h = Hits::default();
    let mut bad = 0;
    let mut n = 0;
    let pb = crate::progress::items(
        (files.len() * variants.len()) as u64,
        "executions",
        progress,
    );
    for f in files {
        // Fuzzed corpora hold many short inputs (their missing fields take defaults, as the
        // engines saw them): no warning per file, as `replay` gives one.
        let Ok(s) = load(f).map(|l| l.scenario) else {
            bad += 1;
            pb.inc(variants.len() as u64);
            continue;
        };
        for v in variants {
            let x = diofuzz::model::run(&s, v);
            n += 1;
            let mut d = BTreeSet::new();
            let mut e = BTreeSet::new();
            let mut fl = BTreeSet::new();
            for ev in &x.trace.events {
                match ev {
                    Ev::Decide(l) | Ev::Warn(l) => {
                        d.insert(*l);
                    }
                    Ev::Ret(f, r) if *r < 0 => {
                        e.insert((*f, format!("-{}", diofuzz::errno::name(*r))));
                    }
                    Ev::Fault(site, r) => {
                        fl.insert((site.function(), format!("-{}", diofuzz::errno::name(*r))));
                    }
                    _ => {}
                }
            }
            for l in d {
                *h.decisions.entry(l).or_default() += 1;
            }
            for k in e {
                *h.errnos.entry(k).or_default() += 1;
            }
            for k in fl {
                *h.faults.entry(k).or_default() += 1;
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    (h, bad, n)
}

/// Replay `files` on `variants` and build the report.
pub fn coverage(
    corpus: &[PathBuf],
    variants: &[&'static Variant],
    progress: bool,
) -> Result<Report, String> {
    let files = walk(corpus)?;
    let t0 = std::time::Instant::now();
    let (hits, undecodable, executions) = collect(&files, variants, progress);
    let seconds = t0.elapsed().as_secs_f64();

    // file -> function -> label -> item
    type Tree = BTreeMap<String, BTreeMap<String, BTreeMap<(u8, String), Item>>>;
    let mut tree: Tree = BTreeMap::new();
    // Which kernel file a function name belongs to (from the sites).
    let mut fn_file: HashMap<&str, &str> = FUNCTIONS.iter().copied().collect();
    for s in SITES {
        fn_file.entry(s.function).or_insert(s.file);
    }
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    for s in SITES {
        let (order, kind, n) = match s.kind {
            SiteKind::Decide => (0, "decision", hits.decisions.get(s.label)),
            SiteKind::Warn => (1, "warn", hits.decisions.get(s.label)),
            SiteKind::Errno => (
                2,
                "errno",
                hits.errnos.get(&(s.function, s.label.to_string())),
            ),
        };
        if s.kind != SiteKind::Errno {
            listed.insert(s.label);
        }
        let it = tree
            .entry(s.file.to_string())
            .or_default()
            .entry(s.function.to_string())
            .or_default()
            .entry((order, s.label.to_string()))
            .or_insert_with(|| Item {
                kind,
                label: s.label.to_string(),
                executions: n.copied().unwrap_or(0),
                sites: Vec::new(),
            });
        it.sites.push(format!("{}:{}", s.rust, s.line));
    }
    // Errnos seen at run time that no literal site names (passed up from a variable).
    for ((f, e), n) in &hits.errnos {
        let file = fn_file.get(f).copied().unwrap_or("(system call entry)");
        tree.entry(file.to_string())
            .or_default()
            .entry(f.to_string())
            .or_default()
            .entry((2, e.clone()))
            .or_insert_with(|| Item {
                kind: "errno",
                label: e.clone(),
                executions: *n,
                sites: Vec::new(),
            });
    }
    // Injected faults: every (site, errno) the fault plan can name.
    for site in ALL_SITES {
        let f = site.function();
        for &e in site.errnos() {
            if e == 0 {
                continue;
            }
            let label = format!("-{}", diofuzz::errno::name(e));
            let n = hits.faults.get(&(f, label.clone())).copied().unwrap_or(0);
            tree.entry("fault injection sites".to_string())
                .or_default()
                .entry(f.to_string())
                .or_default()
                .entry((3, label.clone()))
                .or_insert_with(|| Item {
                    kind: "fault",
                    label,
                    executions: n,
                    sites: Vec::new(),
                });
        }
    }
    let unlisted: Vec<String> = hits
        .decisions
        .keys()
        .filter(|l| !listed.contains(*l))
        .map(|l| l.to_string())
        .collect();
    let mut out = Report {
        corpus: corpus.iter().map(|p| p.display().to_string()).collect(),
        variants: variants.iter().map(|v| v.name).collect(),
        inputs: files.len(),
        undecodable,
        executions,
        seconds,
        decisions: 0,
        decisions_reached: 0,
        errnos: 0,
        errnos_reached: 0,
        files: Vec::new(),
        unlisted,
    };
    for (file, fns) in tree {
        let mut fc = FileCov {
            file,
            decisions: 0,
            decisions_reached: 0,
            errnos: 0,
            errnos_reached: 0,
            functions: Vec::new(),
        };
        for (function, items) in fns {
            let items: Vec<Item> = items.into_values().collect();
            for it in &items {
                let reached = (it.executions > 0) as usize;
                if it.kind == "decision" || it.kind == "warn" {
                    fc.decisions += 1;
                    fc.decisions_reached += reached;
                } else {
                    fc.errnos += 1;
                    fc.errnos_reached += reached;
                }
            }
            fc.functions.push(FnCov { function, items });
        }
        out.decisions += fc.decisions;
        out.decisions_reached += fc.decisions_reached;
        out.errnos += fc.errnos;
        out.errnos_reached += fc.errnos_reached;
        out.files.push(fc);
    }
    Ok(out)
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * a as f64 / b as f64)
    }
}

fn frac(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{a}/{b} {}", pct(a, b))
    }
}

/// The terminal report: one row per kernel file and function, then what was never reached.
pub fn table(r: &Report, verbose: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "coverage of {}: {} inputs ({} undecodable) x {} variant(s) = {} executions in {:.2} s",
        r.corpus.join(", "),
        r.inputs,
        r.undecodable,
        r.variants.len(),
        r.executions,
        r.seconds
    );
    let _ = writeln!(
        s,
        "decisions reached {}, errno returns and faults reached {}\n",
        frac(r.decisions_reached, r.decisions),
        frac(r.errnos_reached, r.errnos)
    );
    let _ = writeln!(
        s,
        "{:<44} {:>14} {:>14}",
        "kernel file / function", "decisions", "errnos"
    );
    for f in &r.files {
        let _ = writeln!(
            s,
            "{:<44} {:>14} {:>14}",
            f.file,
            frac(f.decisions_reached, f.decisions),
            frac(f.errnos_reached, f.errnos)
        );
        for fun in &f.functions {
            let (mut d, mut dr, mut e, mut er) = (0, 0, 0, 0);
            for it in &fun.items {
                let hit = (it.executions > 0) as usize;
                if it.kind == "decision" || it.kind == "warn" {
                    d += 1;
                    dr += hit;
                } else {
                    e += 1;
                    er += hit;
                }
            }
            let _ = writeln!(
                s,
                "  {:<42} {:>14} {:>14}",
                fun.function,
                if d == 0 {
                    String::new()
                } else {
                    format!("{dr}/{d}")
                },
                if e == 0 {
                    String::new()
                } else {
                    format!("{er}/{e}")
                }
            );
        }
    }
    let _ = writeln!(s, "\nnever reached:");
    for f in &r.files {
        let missing: Vec<(&FnCov, &Item)> = f
            .functions
            .iter()
            .flat_map(|fun| fun.items.iter().map(move |it| (fun, it)))
            .filter(|(_, it)| it.executions == 0)
            .collect();
        if missing.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  {}", f.file);
        for (fun, it) in missing {
            let _ = writeln!(
                s,
                "    {} {}: {}{}",
                fun.function,
                kind_word(it.kind),
                it.label,
                if it.sites.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", it.sites.join(", "))
                }
            );
        }
    }
    if verbose {
        let _ = writeln!(s, "\nreached (executions):");
        for f in &r.files {
            for fun in &f.functions {
                for it in fun.items.iter().filter(|it| it.executions > 0) {
                    let _ = writeln!(
                        s,
                        "  {:>7}  {} {} {}: {}",
                        it.executions,
                        f.file,
                        fun.function,
                        kind_word(it.kind),
                        it.label
                    );
                }
            }
        }
    }
    if !r.unlisted.is_empty() {
        let _ = writeln!(
            s,
            "\nreached but missing from the build-time list (tools/build.rs): {}",
            r.unlisted.join("; ")
        );
    }
    s
}

fn kind_word(k: &str) -> &'static str {
    match k {
        "decision" => "decides",
        "warn" => "WARNs",
        "errno" => "returns",
        _ => "injected",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: the summary per file, then per function every item, reached in
/// green with its execution count, never reached in red.
pub fn html(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>diofuzz coverage</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:.5em 0 1.5em}}\
         td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}}\
         .hit{{background:#e3f4e3}}.miss{{background:#fbe3e3}}td.n{{text-align:right}}code{{font-size:90%}}\
         .bar{{display:inline-block;height:.8em;background:#0072b2}}</style></head><body>\n\
         <h1>Modelled kernel decisions reached</h1>\n<p>Corpus {}: {} inputs ({} undecodable) &times; {} variant(s) ({}) = {} executions.\
         Decisions reached: <b>{}</b>; errno returns and injected faults reached: <b>{}</b>.</p>\n",
        esc(&r.corpus.join(", ")),
        r.inputs,
        r.undecodable,
        r.variants.len(),
        esc(&r.variants.join(", ")),
        r.executions,
        frac(r.decisions_reached, r.decisions),
        frac(r.errnos_reached, r.errnos)
    );
    s.push_str("<table><tr><th>kernel file</th><th>decisions reached</th><th></th><th>errnos reached</th></tr>\n");
    for f in &r.files {
        let w = if f.decisions == 0 {
            0.0
        } else {
            100.0 * f.decisions_reached as f64 / f.decisions as f64
        };
        let _ = writeln!(
            s,
            "<tr><td><a href=\"#{}\">{}</a></td><td class=\"n\">{}</td><td><span class=\"bar\" style=\"width:{:.0}px\"></span></td><td class=\"n\">{}</td></tr>",
            esc(&f.file),
            esc(&f.file),
            frac(f.decisions_reached, f.decisions),
            w * 2.0,
            frac(f.errnos_reached, f.errnos)
        );
    }
    s.push_str("</table>\n");
    for f in &r.files {
        let _ = writeln!(
            s,
            "<h2 id=\"{}\">{}</h2>\n<table><tr><th>function</th><th>kind</th><th>decision / errno</th><th>executions</th><th>model source</th></tr>",
            esc(&f.file),
            esc(&f.file)
        );
        for fun in &f.functions {
            for it in &fun.items {
                let _ = writeln!(
                    s,
                    "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                    if it.executions > 0 { "hit" } else { "miss" },
                    esc(&fun.function),
                    it.kind,
                    esc(&it.label),
                    it.executions,
                    esc(&it.sites.join(", "))
                );
            }
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// Decisions reached per kernel file, as a bar chart (percent).
pub fn plot(r: &Report, stem: &Path) -> Result<Vec<PathBuf>, String> {
    let files: Vec<&FileCov> = r.files.iter().filter(|f| f.decisions > 0).collect();
    crate::plot::bar_chart(
        stem,
        &crate::plot::Bars {
            title: format!(
                "Modelled decisions reached per kernel file ({} inputs, {} variants)",
                r.inputs,
                r.variants.len()
            ),
            x_label: "decisions reached (%)".into(),
            categories: files
                .iter()
                .map(|f| format!("{} ({}/{})", f.file, f.decisions_reached, f.decisions))
                .collect(),
            series: vec![(
                "decisions".into(),
                files
                    .iter()
                    .map(|f| 100.0 * f.decisions_reached as f64 / f.decisions as f64)
                    .collect(),
            )],
            x_max: Some(100.0),
            value_decimals: Some(0),
        },
    )
}

pub fn cli(o: &CoverageOpts) -> Result<i32, String> {
    let inputs = if o.inputs.is_empty() {
        vec![
            PathBuf::from("corpus/dio_write"),
            PathBuf::from("corpus/regressions"),
        ]
    } else {
        o.inputs.clone()
    };
    let r = coverage(&inputs, &o.variant.0, crate::progress::wanted(o.json))?;
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", table(&r, o.verbose));
    }
    if let Some(p) = &o.html {
        std::fs::write(p, html(&r)).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        eprintln!("diofuzz coverage: wrote {}", p.display());
    }
    if let Some(stem) = &o.plot {
        for p in plot(&r, stem)? {
            eprintln!("diofuzz coverage: wrote {}", p.display());
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_time_list_holds_the_model_sites() {
        let n = |k: SiteKind| SITES.iter().filter(|s| s.kind == k).count();
        assert!(n(SiteKind::Decide) > 50, "{}", n(SiteKind::Decide));
        assert!(n(SiteKind::Warn) > 3);
        assert!(n(SiteKind::Errno) > 20);
        // Kernel file from the module header, model function from the enclosing fn.
        let s = SITES
            .iter()
            .find(|s| s.label == "O_APPEND moved ki_pos to i_size")
            .unwrap();
        assert_eq!(s.file, "fs/read_write.c");
        assert!(s.rust.starts_with("src/kernel/fs/read_write.rs"));
        assert!(SITES.iter().any(|s| s.kind == SiteKind::Errno
            && s.function == "kiocb_invalidate_pages"
            && s.label == "-EAGAIN"));
        assert!(SITES.iter().all(|s| !s.label.is_empty() && s.line > 0));
    }
}
