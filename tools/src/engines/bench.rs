// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz bench`: time to exposure, FuzzBench/Magma style, and exec/s per engine.
//!
//! For each variant and engine, `--trials` independent campaigns of at most `--cap` seconds each
//! start from corpus/dio_write without the files that already crash on that variant (the engine
//! must find every bug itself). A campaign runs like `diofuzz fuzz` (restart on each crash with
//! the found signatures suppressed), so every signature gets its own time to exposure: the
//! seconds from the campaign's start (build excluded) to the first crash file with it. A trial
//! that never hits a signature counts as the cap (right-censored) and the table says in how many
//! trials it was found. The findings measured are the variant's entries in known-findings.json;
//! when it lists none for a variant, every signature seen in any trial is measured.
//! Exec/s: each engine alone on the newest variant (known findings suppressed) for `--exec-time`.

use super::opts::{self, Engine, Engines};
use super::run::{self, SessionCfg};
use super::{proc, setup};
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
    let corpus = root.join("corpus/dio_write");
    let mk = |e: Engine,
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
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Engine benchmark (diofuzz bench)\n\nCommand: `diofuzz bench --engines {} --variants {} --trials {} --cap {} --exec-time {}`  \n\
         Machine: {} cores; date {}.\n",
        engines.iter().map(|e| e.name()).collect::<Vec<_>>().join(","),
        o.variants.0.join(","),
        o.trials,
        o.cap,
        o.exec_time,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        chrono_free_date()
    );

    // Exec/s.
    let _ = writeln!(
        md,
        "## Exec/s on dio_write (newest variant, known findings suppressed, {} s, 1 job)\n\n| engine | execs | exec/s |\n|---|---:|---:|",
        o.exec_time
    );
    let supp = super::suppression_file(&root, &opts::Suppress::Default, None)?;
    // One step per campaign: exec/s per engine, then trials per variant and engine.
    let campaigns = engines.len() * (1 + o.variants.0.len() * o.trials);
    let pb = crate::progress::items(
        campaigns as u64,
        "campaigns",
        crate::progress::wanted(false),
    );
    for e in &engines {
        if proc::stopped() {
            break;
        }
        let cfgv = super::target_config(None, supp.as_deref())?;
        let (res, _) = run::run_session(mk(*e, None, o.exec_time, supp.clone(), vec![]), cfgv)?;
        let r = &res.engines[0];
        crate::progress::line(
            &pb,
            &format!("diofuzz bench: exec/s {}: {:.0}", e, r.exec_per_sec),
        );
        pb.inc(1);
        let _ = writeln!(md, "| {} | {} | {:.0} |", e, r.execs, r.exec_per_sec);
    }

    // Time to exposure.
    for v in &o.variants.0 {
        let known = known_for(v);
        // (signature) -> engine -> per-trial seconds (None = not found within the cap)
        let mut tte: BTreeMap<String, BTreeMap<Engine, Vec<Option<f64>>>> = BTreeMap::new();
        for k in &known {
            tte.entry(k.clone()).or_default();
        }
        for e in &engines {
            for trial in 0..o.trials {
                if proc::stopped() {
                    break;
                }
                let cfgv = super::target_config(Some(v), None)?;
                let (res, _) =
                    run::run_session(mk(*e, Some(v.clone()), o.cap, None, known.clone()), cfgv)?;
                let mut hits: BTreeMap<String, f64> = BTreeMap::new();
                for ((_, sig), by) in &res.first_hit {
                    if let Some(t) = by.get(e.name()) {
                        let key = if known.is_empty() {
                            sig.clone()
                        } else {
                            match known.iter().find(|k| sig_match(k, sig)) {
                                Some(k) => k.clone(),
                                None => continue,
                            }
                        };
                        let x = hits.entry(key).or_insert(*t);
                        *x = x.min(*t);
                    }
                }
                crate::progress::line(
                    &pb,
                    &format!(
                        "diofuzz bench: {v} {e} trial {}/{}: {} signature(s), first at {}",
                        trial + 1,
                        o.trials,
                        hits.len(),
                        hits.values()
                            .copied()
                            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
                            .map(|x| format!("{x:.2} s"))
                            .unwrap_or_else(|| "-".into())
                    ),
                );
                pb.inc(1);
                for (sig, t) in hits {
                    tte.entry(sig)
                        .or_default()
                        .entry(*e)
                        .or_default()
                        .push(Some(t));
                }
                // Signatures not hit in this trial: censored.
                for per in tte.values_mut() {
                    let l = per.entry(*e).or_default();
                    while l.len() < trial + 1 {
                        l.push(None);
                    }
                }
            }
        }
        let _ = writeln!(
            md,
            "\n## Time to exposure on {v} ({} trials per engine, cap {} s; {})\n",
            o.trials,
            o.cap,
            if known.is_empty() {
                "known-findings.json lists none for this variant: every signature seen".to_string()
            } else {
                format!("{} known finding(s)", known.len())
            }
        );
        let _ = writeln!(
            md,
            "| finding | engine | found | median s | min s | max s |\n|---|---|---:|---:|---:|---:|"
        );
        // Per engine: how many signatures it found in at least half of the trials.
        for (sig, per) in &tte {
            for e in &engines {
                let l = per.get(e).cloned().unwrap_or_default();
                let found: Vec<f64> = l.iter().flatten().copied().collect();
                let all: Vec<f64> = l.iter().map(|x| x.unwrap_or(o.cap as f64)).collect();
                if all.is_empty() {
                    continue;
                }
                let (med, min, max) = med_min_max(&all);
                // The median of right-censored times exists only when more than half the
                // trials found it.
                let cens = |x: f64, n: usize| {
                    if n * 2 <= all.len() {
                        format!(">{}", o.cap)
                    } else {
                        format!("{x:.2}")
                    }
                };
                let _ = writeln!(
                    md,
                    "| `{}` | {} | {}/{} | {} | {} | {} |",
                    sig.replace('|', "\\|"),
                    e,
                    found.len(),
                    all.len(),
                    cens(med, found.len()),
                    if found.is_empty() {
                        format!(">{}", o.cap)
                    } else {
                        format!("{min:.2}")
                    },
                    if found.len() < all.len() {
                        format!(">{}", o.cap)
                    } else {
                        format!("{max:.2}")
                    }
                );
            }
        }
    }
    let out = o.out.clone().unwrap_or_else(|| work.join("bench.md"));
    super::findings::write_file(&out, md.as_bytes())?;
    println!("{md}");
    eprintln!("diofuzz bench: written to {}", out.display());
    pb.finish_and_clear();
    Ok(if proc::stopped() { 2 } else { 0 })
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
    }
}
