// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz bench`: time to exposure, FuzzBench/Magma style, and exec/s per engine and mutator.
//!
//! For each variant, engine and mutator (`--mutator field|bytes|both`: the library's field-aware
//! mutator or the engines' own byte mutations), `--trials` independent campaigns of at most `--cap`
//! seconds each start from corpus/dio_write without the files that already produce a finding on
//! that variant (the engine must find every bug itself). The engines run in record-and-continue
//! mode (DIOFUZZ_COLLECT): a finding does not stop the engine; the target records each new
//! signature once with the time it was first seen, and keeps fuzzing. So no restart (or AFL++
//! queue re-calibration) is measured, only search: a signature's time to exposure is the seconds
//! from the campaign's start (build excluded) to its first record. A trial that never hits a
//! finding counts as the cap (right-censored) and the table says in how many trials it was found;
//! a campaign ends early when every finding measured was hit. The findings measured are the
//! variant's entries in known-findings.json; when it lists none for a variant, every signature
//! seen in any trial is measured. The report (Markdown), the raw trial times (TSV) and one
//! box plot per variant and engine (SVG and PNG) are written side by side.
//! Exec/s: each engine and mutator alone on the newest variant (known findings suppressed) for
//! `--exec-time`.

use super::opts::{self, Engine, Engines};
use super::run::{self, SessionCfg};
use super::{proc, setup};
use diofuzz::mutate::Mode;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct BenchOpts {
    /// Engines: libfuzzer, afl, honggfuzz, a comma list of them, or all
    #[arg(long = "engines", short = 'e', visible_alias = "engine", value_name = "LIST",
          default_value = "all", value_parser = Engine::parse_list)]
    pub engines: Engines,
    /// Variants to measure time to exposure on (comma list, or all)
    #[arg(long = "variants", short = 'v', visible_alias = "variant", value_name = "LIST",
          default_value = "thread-v1,v6.12,thread-v2", value_parser = parse_variants)]
    pub variants: VariantList,
    /// Independent campaigns per engine and variant (1-1000)
    #[arg(long, short = 'n', default_value = "10", value_parser = parse_trials)]
    pub trials: usize,
    /// Time cap of one campaign: seconds, or 10m, 1h
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = opts::parse_secs)]
    pub cap: u64,
    /// Seconds of the exec/s measurement per engine
    #[arg(long, value_name = "SECONDS", default_value = "20", value_parser = opts::parse_secs)]
    pub exec_time: u64,
    /// Write the Markdown report to FILE
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Do not install missing engine tools (fail instead)
    #[arg(long)]
    pub no_install: bool,
    /// Do not run anything: rebuild the report and plots from a trials TSV an earlier bench wrote
    /// (FILE.trials.tsv beside its report)
    #[arg(long, value_name = "TSV")]
    pub from_trials: Option<PathBuf>,
    /// Mutators to compare: field (the model's field-aware mutator), bytes (the engines' own), or both
    #[arg(long, value_name = "field|bytes|both", default_value = "field", value_parser = parse_mutators)]
    pub mutator: Mutators,
}

/// The mutators a bench compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutators(pub Vec<Mode>);

fn parse_mutators(v: &str) -> Result<Mutators, String> {
    match v.trim() {
        "both" => Ok(Mutators(vec![Mode::Field, Mode::Bytes])),
        x => super::opts::parse_mutator(x)
            .map(|m| Mutators(vec![m]))
            .map_err(|_| format!("bad mutator '{v}': want field, bytes or both")),
    }
}

/// Variant names, each once, in the order given (`all` expanded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantList(pub Vec<String>);

fn parse_variants(v: &str) -> Result<VariantList, String> {
    let mut out: Vec<String> = Vec::new();
    for x in v.split(',') {
        for y in diofuzz::variant::resolve(x.trim())? {
            if !out.iter().any(|z| z == y.name) {
                out.push(y.name.to_string());
            }
        }
    }
    Ok(VariantList(out))
}

fn parse_trials(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!("bad --trials '{v}': want a number from 1 to 1000")),
    }
}

/// median, min, max of a non-empty list.
pub fn med_min_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}

fn known_for(variant: &str) -> Vec<String> {
    diofuzz::known::all()
        .iter()
        .filter(|k| k.variants.iter().any(|v| v == variant || v == "all"))
        .map(|k| k.signature.clone())
        .collect()
}

/// Does a (possibly globbed) known signature match an observed one?
fn sig_match(pat: &str, sig: &str) -> bool {
    diofuzz::suppress::Suppressions::parse(pat).matches(sig)
}

pub fn cli(o: &BenchOpts) -> Result<i32, String> {
    if let Some(t) = &o.from_trials {
        return replot(o, t);
    }
    let root = setup::root()?;
    proc::install_handlers();
    let work = root.join("target/diofuzz-engines/bench");
    let (bins, errs) = super::prepare(&root, &o.engines.0, "dio_write", o.no_install, &work);
    for e in &errs {
        eprintln!("diofuzz bench: {e}");
    }
    if bins.is_empty() {
        return Err("no engine could be built".into());
    }
    let engines: Vec<Engine> = bins.keys().copied().collect();
    let modes = &o.mutator.0;
    let corpus = root.join("corpus/dio_write");
    let mk = |e: Engine,
              m: Mode,
              variant: Option<String>,
              time: u64,
              supp: Option<PathBuf>,
              known: Vec<String>| SessionCfg {
        root: root.clone(),
        engines: vec![e],
        target: "dio_write".into(),
        variant,
        time: Duration::from_secs(time),
        jobs: 1,
        suppress: supp,
        corpus: corpus.clone(),
        work: work.join(e.name()),
        findings: work.join("findings"),
        write_findings: false,
        merge_back: false,
        record_seed_crashes: false,
        progress: false,
        bins: bins.clone(),
        stop_when_all: known,
        mutator: m,
        collect: true,
    };
    let out = o.out.clone().unwrap_or_else(|| work.join("bench.md"));
    let stem = out.with_extension("");
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Engine benchmark (diofuzz bench)\n\nCommand: `diofuzz bench --engines {} --variants {} --trials {} --cap {} --exec-time {} --mutator {}`  \n\
         Machine: {} cores; date {}. Engines run in record-and-continue mode (no restart on a finding).\n",
        engines.iter().map(|e| e.name()).collect::<Vec<_>>().join(","),
        o.variants.0.join(","),
        o.trials,
        o.cap,
        o.exec_time,
        if modes.len() > 1 { "both" } else { modes[0].name() },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        chrono_free_date()
    );

    // Exec/s.
    let _ = writeln!(
        md,
        "## Exec/s on dio_write (newest variant, known findings suppressed, {} s, 1 job)\n\n| engine | mutator | execs | exec/s |\n|---|---|---:|---:|",
        o.exec_time
    );
    let supp = super::suppression_file(&root, &opts::Suppress::Default, None)?;
    // One step per campaign: exec/s per engine and mutator, then the trials.
    let campaigns = engines.len() * modes.len() * (1 + o.variants.0.len() * o.trials);
    let pb = crate::progress::items(
        campaigns as u64,
        "campaigns",
        crate::progress::wanted(false),
    );
    if o.exec_time > 0 {
        for e in &engines {
            for m in modes {
                if proc::stopped() {
                    break;
                }
                let cfgv = super::target_config(None, supp.as_deref())?;
                let (res, _) =
                    run::run_session(mk(*e, *m, None, o.exec_time, supp.clone(), vec![]), cfgv)?;
                let r = &res.engines[0];
                crate::progress::line(
                    &pb,
                    &format!(
                        "diofuzz bench: exec/s {} {}: {:.0}",
                        e,
                        m.name(),
                        r.exec_per_sec
                    ),
                );
                pb.inc(1);
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.0} |",
                    e,
                    m.name(),
                    r.execs,
                    r.exec_per_sec
                );
            }
        }
    }

    // Time to exposure.
    let mut tsv = String::from("variant\tengine\tmutator\ttrial\tfinding\tseconds\n");
    // Executions of every trial (the engine's own count): time x exec/s is the load-independent
    // cost of an exposure.
    let mut execs_tsv = String::from("variant\tengine\tmutator\ttrial\texecs\tseconds\n");
    let mut rates: BTreeMap<(String, Engine, Mode), Vec<f64>> = BTreeMap::new();
    for v in &o.variants.0 {
        let known = known_for(v);
        // finding -> (engine, mutator) -> per-trial seconds (None = not found within the cap)
        let mut tte: Tte = BTreeMap::new();
        for k in &known {
            tte.entry(k.clone()).or_default();
        }
        for e in &engines {
            for m in modes {
                for trial in 0..o.trials {
                    if proc::stopped() {
                        break;
                    }
                    let cfgv = super::target_config(Some(v), None)?;
                    let (res, _) = run::run_session(
                        mk(*e, *m, Some(v.clone()), o.cap, None, known.clone()),
                        cfgv,
                    )?;
                    let hits = trial_hits(&res.first_hit, e.name(), &known);
                    if let Some(r) = res.engines.first() {
                        let _ = writeln!(
                            execs_tsv,
                            "{v}\t{e}\t{}\t{}\t{}\t{:.2}",
                            m.name(),
                            trial + 1,
                            r.execs,
                            r.seconds
                        );
                        if r.execs > 0 && r.seconds > 0.0 {
                            rates
                                .entry((v.clone(), *e, *m))
                                .or_default()
                                .push(r.execs as f64 / r.seconds);
                        }
                    }
                    crate::progress::line(
                        &pb,
                        &format!(
                            "diofuzz bench: {v} {e} {} trial {}/{}: {} finding(s), first at {}",
                            m.name(),
                            trial + 1,
                            o.trials,
                            hits.len(),
                            hits.values()
                                .copied()
                                .reduce(f64::min)
                                .map(|x| format!("{x:.2} s"))
                                .unwrap_or_else(|| "-".into())
                        ),
                    );
                    pb.inc(1);
                    for (sig, t) in hits {
                        tte.entry(sig)
                            .or_default()
                            .entry((*e, *m))
                            .or_default()
                            .push(Some(t));
                    }
                    // Findings not hit in this trial: censored.
                    for per in tte.values_mut() {
                        let l = per.entry((*e, *m)).or_default();
                        while l.len() < trial + 1 {
                            l.push(None);
                        }
                    }
                }
            }
        }
        for (sig, per) in &tte {
            for ((e, m), l) in per {
                for (t, x) in l.iter().enumerate() {
                    let _ = writeln!(
                        tsv,
                        "{v}\t{e}\t{}\t{}\t{sig}\t{}",
                        m.name(),
                        t + 1,
                        x.map(|x| format!("{x:.3}")).unwrap_or_default()
                    );
                }
            }
        }
        md.push_str(&tte_table(v, &tte, &engines, modes, o));
        for e in &engines {
            match plot_tte(&stem, v, *e, &tte, modes, o.cap) {
                Ok(files) => {
                    let _ = writeln!(
                        md,
                        "\nPlot ({e}): {}",
                        files
                            .iter()
                            .map(|f| format!(
                                "[{}]({})",
                                f.extension().unwrap_or_default().to_string_lossy(),
                                f.file_name().unwrap_or_default().to_string_lossy()
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                Err(err) => eprintln!("diofuzz bench: no plot for {v} {e}: {err}"),
            }
        }
    }
    if !rates.is_empty() {
        let _ = writeln!(
            md,
            "\n## Exec/s during the trials (median over the trials, the engine's count / the trial's seconds)\n\n| variant | engine | mutator | trials | exec/s |\n|---|---|---|---:|---:|"
        );
        for ((v, e, m), l) in &rates {
            let _ = writeln!(
                md,
                "| {v} | {e} | {} | {} | {:.0} |",
                m.name(),
                l.len(),
                med_min_max(l).0
            );
        }
    }
    let tsv_path = beside(&stem, "trials.tsv");
    super::findings::write_file(&tsv_path, tsv.as_bytes())?;
    super::findings::write_file(&beside(&stem, "execs.tsv"), execs_tsv.as_bytes())?;
    super::findings::write_file(&out, md.as_bytes())?;
    println!("{md}");
    eprintln!(
        "diofuzz bench: written to {} (raw trial times: {})",
        out.display(),
        tsv_path.display()
    );
    pb.finish_and_clear();
    Ok(if proc::stopped() { 2 } else { 0 })
}

/// `stem` + "." + `suffix`: a file beside the report. Not `with_extension`, which would cut a
/// dot inside the name (`bench-v6.15` -> `bench-v6.trials.tsv`).
fn beside(stem: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = stem.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    stem.with_file_name(name)
}

/// Rebuild the time-to-exposure tables and plots from a trials TSV (no engine runs).
fn replot(o: &BenchOpts, tsv: &std::path::Path) -> Result<i32, String> {
    let text =
        std::fs::read_to_string(tsv).map_err(|e| format!("cannot read {}: {e}", tsv.display()))?;
    let by_variant = parse_trials_tsv(&text).map_err(|e| format!("{}: {e}", tsv.display()))?;
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| tsv.with_extension("").with_extension("md"));
    let stem = out.with_extension("");
    let mut md = format!(
        "# Engine benchmark (diofuzz bench, rebuilt from {})\n",
        tsv.display()
    );
    // The cap is not in the TSV: give the bench's --cap again.
    let cap = o.cap;
    for (v, (tte, engines, modes, trials)) in &by_variant {
        let oo = BenchOpts {
            trials: *trials,
            ..o.clone()
        };
        md.push_str(&tte_table(v, tte, engines, modes, &oo));
        for e in engines {
            let files = plot_tte(&stem, v, *e, tte, modes, cap)?;
            let _ = writeln!(
                md,
                "\nPlot ({e}): {}",
                files
                    .iter()
                    .map(|f| f
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    super::findings::write_file(&out, md.as_bytes())?;
    println!("{md}");
    eprintln!("diofuzz bench: written to {}", out.display());
    Ok(0)
}

/// Per variant: the time-to-exposure table, its engines and mutators (in the bench's order) and
/// the trial count.
type Trials = BTreeMap<String, (Tte, Vec<Engine>, Vec<Mode>, usize)>;

fn parse_trials_tsv(text: &str) -> Result<Trials, String> {
    let mut out: Trials = BTreeMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let [v, e, m, t, finding, secs] = f.as_slice() else {
            return Err(format!("line {}: want 6 tab-separated fields", i + 1));
        };
        let e = Engine::parse_list(e)?.0[0];
        let m = super::opts::parse_mutator(m)?;
        let t: usize = t
            .parse()
            .map_err(|_| format!("line {}: bad trial", i + 1))?;
        // A finding is its known-findings.json pattern, or F<n>: the n-th of the variant's
        // known findings in the report's (sorted) order.
        let finding = match finding
            .strip_prefix('F')
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => {
                let mut k = known_for(v);
                k.sort();
                k.get(n.wrapping_sub(1))
                    .cloned()
                    .ok_or(format!("line {}: no finding F{n} on {v}", i + 1))?
            }
            None => finding.to_string(),
        };
        let x = if secs.is_empty() {
            None
        } else {
            Some(
                secs.parse::<f64>()
                    .map_err(|_| format!("line {}: bad seconds", i + 1))?,
            )
        };
        let ent = out.entry(v.to_string()).or_default();
        if !ent.1.contains(&e) {
            ent.1.push(e);
        }
        if !ent.2.contains(&m) {
            ent.2.push(m);
        }
        ent.3 = ent.3.max(t);
        let l = ent.0.entry(finding).or_default().entry((e, m)).or_default();
        if l.len() < t {
            l.resize(t, None);
        }
        l[t - 1] = x;
    }
    Ok(out)
}

/// finding -> (engine, mutator) -> per-trial seconds (None = not found within the cap).
type Tte = BTreeMap<String, BTreeMap<(Engine, Mode), Vec<Option<f64>>>>;

/// The first time of each measured finding in one trial of `engine`: of every known pattern a
/// signature matches (patterns overlap: `*atomic bio shorter than the length*` also matches what
/// a longer pattern names), or every signature when none are known.
fn trial_hits(
    first_hit: &BTreeMap<(String, String), BTreeMap<String, f64>>,
    engine: &str,
    known: &[String],
) -> BTreeMap<String, f64> {
    let mut hits: BTreeMap<String, f64> = BTreeMap::new();
    for ((_, sig), by) in first_hit {
        let Some(t) = by.get(engine) else { continue };
        let keys: Vec<&String> = if known.is_empty() {
            vec![sig]
        } else {
            known.iter().filter(|k| sig_match(k, sig)).collect()
        };
        for key in keys {
            let x = hits.entry(key.clone()).or_insert(*t);
            *x = x.min(*t);
        }
    }
    hits
}

/// Found count, and (median, min, max) as text with right-censoring at the cap.
fn summarise(l: &[Option<f64>], cap: u64) -> (usize, Option<f64>, [String; 3]) {
    let found: Vec<f64> = l.iter().flatten().copied().collect();
    let all: Vec<f64> = l.iter().map(|x| x.unwrap_or(cap as f64)).collect();
    if all.is_empty() {
        return (0, None, ["-".into(), "-".into(), "-".into()]);
    }
    let (med, min, max) = med_min_max(&all);
    // The median of right-censored times exists only when more than half the trials found it.
    let med_ok = found.len() * 2 > all.len();
    (
        found.len(),
        med_ok.then_some(med),
        [
            if med_ok {
                format!("{med:.2}")
            } else {
                format!(">{cap}")
            },
            if found.is_empty() {
                format!(">{cap}")
            } else {
                format!("{min:.2}")
            },
            if found.len() < all.len() {
                format!(">{cap}")
            } else {
                format!("{max:.2}")
            },
        ],
    )
}

/// How many times faster the field-aware mutator's median is than the byte-level one's
/// (">x" when byte-level never reached a median within the cap).
fn factor(field: Option<f64>, bytes: Option<f64>, cap: u64) -> String {
    match (field, bytes) {
        (Some(f), Some(b)) => format!("{:.1}x", b / f.max(0.001)),
        (Some(f), None) => format!(">{:.0}x", cap as f64 / f.max(0.001)),
        (None, Some(b)) => format!("<{:.2}x", b / cap as f64),
        (None, None) => "-".into(),
    }
}

fn tte_table(v: &str, tte: &Tte, engines: &[Engine], modes: &[Mode], o: &BenchOpts) -> String {
    let mut md = String::new();
    let known = tte.len();
    let _ = writeln!(
        md,
        "\n## Time to exposure on {v} ({} trials per engine and mutator, cap {} s; {})\n",
        o.trials,
        o.cap,
        if known_for(v).is_empty() {
            "known-findings.json lists none for this variant: every signature seen".to_string()
        } else {
            format!("{known} known finding(s)")
        }
    );
    let both = modes.len() > 1;
    let _ = writeln!(
        md,
        "| # | finding | engine | mutator | found | median s | min s | max s |{}\n|---|---|---|---|---:|---:|---:|---:|{}",
        if both { " bytes/field median |" } else { "" },
        if both { "---:|" } else { "" }
    );
    // Per (engine, mutator): findings with a median, under 1 s, under 10 s.
    let mut sums: BTreeMap<(Engine, Mode), [usize; 3]> = BTreeMap::new();
    for (fi, (sig, per)) in tte.iter().enumerate() {
        for e in engines {
            let meds: BTreeMap<Mode, Option<f64>> = modes
                .iter()
                .map(|m| {
                    (
                        *m,
                        summarise(per.get(&(*e, *m)).map(|x| &x[..]).unwrap_or(&[]), o.cap).1,
                    )
                })
                .collect();
            for m in modes {
                let l = per.get(&(*e, *m)).cloned().unwrap_or_default();
                if l.is_empty() {
                    continue;
                }
                let (n, med, [ms, mn, mx]) = summarise(&l, o.cap);
                let s = sums.entry((*e, *m)).or_default();
                if let Some(x) = med {
                    s[0] += 1;
                    s[1] += (x < 1.0) as usize;
                    s[2] += (x < 10.0) as usize;
                }
                let fac = if both && *m == Mode::Field {
                    format!(
                        " {} |",
                        factor(
                            meds.get(&Mode::Field).copied().flatten(),
                            meds.get(&Mode::Bytes).copied().flatten(),
                            o.cap
                        )
                    )
                } else if both {
                    " |".into()
                } else {
                    String::new()
                };
                let _ = writeln!(
                    md,
                    "| F{} | `{}` | {} | {} | {}/{} | {} | {} | {} |{}",
                    fi + 1,
                    sig.replace('|', "\\|"),
                    e,
                    m.name(),
                    n,
                    l.len(),
                    ms,
                    mn,
                    mx,
                    fac
                );
            }
        }
    }
    let _ = writeln!(
        md,
        "\n| engine | mutator | findings with a median (found in > half the trials) | median < 1 s | median < 10 s |\n|---|---|---:|---:|---:|"
    );
    for ((e, m), [a, b, c]) in &sums {
        let _ = writeln!(md, "| {e} | {} | {a}/{known} | {b} | {c} |", m.name());
    }
    md
}

/// Box plot of the time to exposure per finding and mutator for one variant and engine (trials
/// that did not find it drawn at the cap).
fn plot_tte(
    stem: &std::path::Path,
    v: &str,
    e: Engine,
    tte: &Tte,
    modes: &[Mode],
    cap: u64,
) -> Result<Vec<PathBuf>, String> {
    let mut groups = Vec::new();
    for (fi, per) in tte.values().enumerate() {
        for m in modes {
            if let Some(l) = per.get(&(e, *m)) {
                let xs: Vec<f64> = l
                    .iter()
                    .map(|x| x.unwrap_or(cap as f64).max(0.01))
                    .collect();
                // The finding's name under the first box of its run only.
                let first = groups.len() % modes.len().max(1) == 0;
                groups.push((
                    if first {
                        format!("F{}", fi + 1)
                    } else {
                        String::new()
                    },
                    xs,
                ));
            }
        }
    }
    let name = format!(
        "{}-tte-{}-{}",
        stem.file_name().unwrap_or_default().to_string_lossy(),
        v,
        e.name()
    );
    crate::plot::box_plot(
        &stem.with_file_name(name),
        &crate::plot::Boxes {
            title: format!("Time to exposure on {v}, {e} (per finding F#, field vs bytes)"),
            y_label: "seconds (log)".into(),
            groups,
            log_y: true,
            reference: Some((cap as f64, format!("cap {cap} s (not found)"))),
            series: modes.iter().map(|m| m.name().to_string()).collect(),
        },
    )
}

/// UTC date and time via `date -u` (no date crate).
fn chrono_free_date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_beside_a_report_keep_dots_in_its_name() {
        let out = PathBuf::from("docs/bench/m-afl-v6.15.md");
        let stem = out.with_extension("");
        assert_eq!(
            super::beside(&stem, "trials.tsv"),
            PathBuf::from("docs/bench/m-afl-v6.15.trials.tsv")
        );
        assert_eq!(
            super::beside(&stem, "execs.tsv"),
            PathBuf::from("docs/bench/m-afl-v6.15.execs.tsv")
        );
    }

    use super::*;

    #[test]
    fn stats() {
        assert_eq!(med_min_max(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(med_min_max(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }

    fn parse(args: &[&str]) -> Result<BenchOpts, clap::Error> {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            o: BenchOpts,
        }
        use clap::Parser;
        T::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|t| t.o)
    }

    #[test]
    fn options() {
        let o = parse(&["--trials", "3", "--cap", "20", "--engines", "afl"]).unwrap();
        assert_eq!((o.trials, o.cap, o.engines.0.len()), (3, 20, 1));
        assert_eq!(o.variants.0, ["thread-v1", "v6.12", "thread-v2"]);
        let o = parse(&["--variants=v6.18,all"]).unwrap();
        assert_eq!(o.engines.0, Engine::ALL);
        assert_eq!(o.variants.0.len(), diofuzz::variant::VARIANTS.len());
        assert!(parse(&["--trials", "0"]).is_err());
        assert!(parse(&["--variants", "nope"]).is_err());
        assert!(parse(&["--what"]).is_err());
        assert_eq!(o.mutator.0, [Mode::Field]);
        let o = parse(&["--mutator", "both"]).unwrap();
        assert_eq!(o.mutator.0, [Mode::Field, Mode::Bytes]);
        assert_eq!(
            parse(&["--mutator=bytes"]).unwrap().mutator.0,
            [Mode::Bytes]
        );
        assert!(parse(&["--mutator", "afl"]).is_err());
    }

    #[test]
    fn censored_summaries_and_factor() {
        let (n, med, t) = summarise(&[Some(0.5), Some(1.5), None], 60);
        assert_eq!((n, med), (2, Some(1.5)));
        assert_eq!(t, ["1.50", "0.50", ">60"]);
        let (n, med, t) = summarise(&[Some(0.5), None, None], 60);
        assert_eq!((n, med), (1, None));
        assert_eq!(t[0], ">60");
        assert_eq!(factor(Some(0.5), Some(5.0), 60), "10.0x");
        assert_eq!(factor(Some(2.0), None, 60), ">30x");
        assert_eq!(factor(None, None, 60), "-");
    }

    #[test]
    fn trials_tsv_round_trip() {
        let k = {
            let mut k = known_for("thread-v1");
            k.sort();
            k
        };
        let t = format!(
            "variant\tengine\tmutator\ttrial\tfinding\tseconds\n\
             thread-v1\tlibfuzzer\tfield\t1\tF1\t0.5\n\
             thread-v1\tlibfuzzer\tfield\t2\tF1\t\n\
             thread-v1\tlibfuzzer\tbytes\t1\t{}\t7\n",
            k[1]
        );
        let m = parse_trials_tsv(&t).unwrap();
        let (tte, engines, modes, trials) = &m["thread-v1"];
        assert_eq!((engines.len(), modes.len(), *trials), (1, 2, 2));
        assert_eq!(
            tte[&k[0]][&(Engine::LibFuzzer, Mode::Field)],
            [Some(0.5), None]
        );
        assert_eq!(tte[&k[1]][&(Engine::LibFuzzer, Mode::Bytes)], [Some(7.0)]);
        assert!(parse_trials_tsv("h\nthread-v1\tlibfuzzer\n").is_err());
        assert!(parse_trials_tsv("h\nthread-v1\tlibfuzzer\tfield\t1\tF99\t1\n").is_err());
    }

    #[test]
    fn hits_map_to_known_findings() {
        let mut fh = BTreeMap::new();
        fh.insert(
            ("thread-v1".to_string(), "O1:ext4:a>b".to_string()),
            BTreeMap::from([("libfuzzer".to_string(), 2.0)]),
        );
        fh.insert(
            ("thread-v1".to_string(), "O3:ext4:a>c".to_string()),
            BTreeMap::from([("libfuzzer".to_string(), 1.0)]),
        );
        let h = trial_hits(&fh, "libfuzzer", &["*a>*".to_string()]);
        assert_eq!(h.get("*a>*"), Some(&1.0));
        // Overlapping patterns: a signature counts for every pattern it matches.
        let h = trial_hits(&fh, "libfuzzer", &["*a>*".to_string(), "*a>b*".to_string()]);
        assert_eq!(h.get("*a>*"), Some(&1.0));
        assert_eq!(h.get("*a>b*"), Some(&2.0));
        assert!(trial_hits(&fh, "afl", &[]).is_empty());
        assert_eq!(trial_hits(&fh, "libfuzzer", &[]).len(), 2);
    }
}
