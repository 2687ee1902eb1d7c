// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz cmin`: corpus minimisation, and `diofuzz tmin`: crash minimisation.
//!
//! cmin runs the libFuzzer merge (what `cargo fuzz cmin` runs) or AFL++'s afl-cmin over the
//! working corpus fuzz/corpus/<target> (git-ignored) with every variant enabled and every finding suppressed (so coverage of every
//! kernel variant counts, and inputs that crash some variant are kept, not dropped as crashes);
//! it keeps the corpus files (with their names) whose content the minimised set holds, and reports
//! the counts and coverage before and after. With `--promote` it then merges what the minimised
//! working corpus covers beyond the committed corpus/<target> into it (the one deliberate way the
//! committed corpus grows).
//!
//! tmin shrinks a crash input while keeping its finding's signature: in-process (default, exact),
//! or with libFuzzer's -minimize_crash / afl-tmin, whose result is checked for the same signature.

use super::findings::{fnv64, replay};
use super::opts::{self, Engine};
use super::run::files_in;
use super::{proc, setup};
use diofuzz::scenario::MAX_INPUT;
use diofuzz::target::Config;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// libFuzzer's "INITED cov: X ft: Y" (or the last status line) of a log.
pub fn lf_coverage(log: &str) -> Option<(u64, u64)> {
    let l = log
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("cov:"))?;
    let num = |k: &str| -> Option<u64> {
        let i = l.find(k)? + k.len();
        l[i..].split_whitespace().next()?.parse().ok()
    };
    Some((num("cov:")?, num("ft:")?))
}

/// afl-cmin's "Found N unique tuples across M files".
pub fn afl_tuples(log: &str) -> Option<u64> {
    let l = log.lines().find(|l| l.contains("unique tuples across"))?;
    let i = l.find("Found ")? + 6;
    l[i..].split_whitespace().next()?.parse().ok()
}

fn suppress_all(work: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    let p = work.join("suppress-all.txt");
    std::fs::write(&p, "# cmin: coverage only, no finding stops an input\n*\n")
        .map_err(|e| e.to_string())?;
    Ok(p)
}

fn lf_cov_of(
    bin: &Path,
    dir: &Path,
    env: &[(&str, String)],
    log: &Path,
) -> Result<(u64, u64), String> {
    let mut c = Command::new(bin);
    c.arg("-runs=0")
        .arg(format!("-max_len={MAX_INPUT}"))
        .arg(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let _ = std::fs::remove_file(log);
    proc::run_logged(c, "libfuzzer", log)?;
    let t = std::fs::read_to_string(log).unwrap_or_default();
    lf_coverage(&t).ok_or_else(|| format!("no coverage line in {}", log.display()))
}

/// `diofuzz cmin`: minimise a corpus.
#[derive(clap::Args, Clone, Debug)]
pub struct CminOpts {
    /// The fuzz target
    #[arg(long, short = 't', default_value = "dio_write", value_parser = opts::check_target)]
    pub target: String,
    /// The minimising engine: libfuzzer (-merge=1) or afl (afl-cmin)
    #[arg(long, short = 'e', default_value = "libfuzzer", value_parser = Engine::parse_minimiser)]
    pub engine: Engine,
    /// Variants whose coverage counts (a name, a comma list, or all)
    #[arg(long, short = 'v', value_name = "V", default_value = "all", value_parser = opts::check_variant)]
    pub variant: String,
    /// The corpus to minimise [default: the working corpus fuzz/corpus/<target>]
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Then merge what the minimised corpus covers beyond the committed corpus/<target> into it
    /// (libFuzzer -merge=1 -use_counters=0: only inputs that add an edge, named by their SHA-1)
    #[arg(long)]
    pub promote: bool,
    /// Do not install missing engine tools (fail instead)
    #[arg(long)]
    pub no_install: bool,
}

pub fn cmin_cli(o: &CminOpts) -> Result<i32, String> {
    let CminOpts {
        target,
        engine,
        variant,
        corpus,
        promote,
        no_install,
    } = o.clone();
    if promote && engine != Engine::LibFuzzer {
        return Err("--promote merges with libFuzzer (-merge=1): use --engine libfuzzer".into());
    }
    let root = setup::root()?;
    proc::install_handlers();
    let corpus = match corpus {
        Some(c) => c,
        None => super::working_corpus(&root, &target)?,
    };
    let before = files_in(&corpus);
    if before.is_empty() {
        return Err(format!(
            "{} is empty or missing: nothing to minimise",
            corpus.display()
        ));
    }
    let work = root.join("target/diofuzz-engines/cmin").join(&target);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let supp = suppress_all(&work)?;
    let env = [
        ("DIOFUZZ_VARIANT", variant.clone()),
        ("DIOFUZZ_SUPPRESS", supp.display().to_string()),
    ];
    let (bins, errs) = super::prepare(&root, &[engine], &target, no_install, &work);
    let Some(bin) = bins.get(&engine).cloned() else {
        return Err(errs.join("; "));
    };
    let out = work.join("min");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let (cov_before, cov_after): (String, Box<dyn Fn() -> Result<String, String>>);
    let pb = crate::progress::spinner(
        &format!("{engine}: minimising {} files", before.len()),
        crate::progress::wanted(false),
    );
    match engine {
        Engine::LibFuzzer => {
            let (c, f) = lf_cov_of(&bin, &corpus, &env, &work.join("cov-before.log"))?;
            cov_before = format!("cov {c}, ft {f}");
            let mut cmd = Command::new(&bin);
            cmd.arg("-merge=1")
                .arg(format!("-max_len={MAX_INPUT}"))
                .arg(format!("-artifact_prefix={}/", work.display()))
                .arg(&out)
                .arg(&corpus);
            for (k, v) in &env {
                cmd.env(k, v);
            }
            let log = work.join("merge.log");
            let st = proc::run_logged(cmd, "libfuzzer -merge=1", &log)?;
            if !st.success() {
                return Err(format!(
                    "libFuzzer merge failed ({st}):\n{}",
                    setup::tail(&log, 10)
                ));
            }
            let (b2, o2, w2) = (bin.clone(), out.clone(), work.clone());
            let env2 = env.clone();
            cov_after = Box::new(move || {
                let (c, f) = lf_cov_of(&b2, &o2, &env2, &w2.join("cov-after.log"))?;
                Ok(format!("cov {c}, ft {f}"))
            });
        }
        Engine::Afl => {
            let afl = setup::afl_bin_dir().ok_or("AFL++ not found (cargo afl config --build)")?;
            let mut cmd = Command::new("bash");
            cmd.arg(afl.join("afl-cmin.bash"))
                .arg("-i")
                .arg(&corpus)
                .arg("-o")
                .arg(&out)
                .args(["-T", "1", "--"])
                .arg(&bin)
                .env("AFL_PATH", &afl)
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        afl.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                );
            for (k, v) in &env {
                cmd.env(k, v);
            }
            let _ = std::fs::remove_dir_all(&out);
            let log = work.join("afl-cmin.log");
            let st = proc::run_logged(cmd, "afl-cmin", &log)?;
            let t = std::fs::read_to_string(&log).unwrap_or_default();
            if !st.success() {
                return Err(format!(
                    "afl-cmin failed ({st}):\n{}",
                    setup::tail(&log, 10)
                ));
            }
            let tuples = afl_tuples(&t);
            cov_before = tuples
                .map(|n| format!("{n} AFL tuples"))
                .unwrap_or_else(|| "? AFL tuples".into());
            let cb = cov_before.clone();
            cov_after = Box::new(move || Ok(cb.clone() + " (afl-cmin keeps every tuple)"));
        }
        Engine::Honggfuzz => unreachable!(),
    }
    pb.finish_and_clear();
    let keep: HashSet<u64> = files_in(&out)
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .map(|d| fnv64(&d))
        .collect();
    if keep.is_empty() {
        return Err("the minimised set is empty; corpus left as it was".into());
    }
    // Keep the first file of each kept content (original names), remove the rest.
    let mut kept_hashes = HashSet::new();
    let mut removed = 0;
    for f in &before {
        let h = std::fs::read(f).map(|d| fnv64(&d)).unwrap_or(0);
        if keep.contains(&h) && kept_hashes.insert(h) {
            continue;
        }
        std::fs::remove_file(f).map_err(|e| format!("cannot remove {}: {e}", f.display()))?;
        removed += 1;
    }
    let after = files_in(&corpus).len();
    let cov_after = cov_after()?;
    println!(
        "diofuzz cmin ({engine}, variants {variant}): {}: {} -> {after} files ({removed} removed)\n  coverage before: {cov_before}\n  coverage after:  {cov_after}",
        corpus.display(),
        before.len()
    );
    if promote {
        let seeds = super::seed_corpus(&root, &target);
        if same_dir(&seeds, &corpus) {
            return Err(format!(
                "--promote: {} is the committed corpus itself",
                corpus.display()
            ));
        }
        let pb = crate::progress::spinner(
            &format!("libfuzzer: merging new edges into {}", seeds.display()),
            crate::progress::wanted(false),
        );
        let added = promote_into(&bin, &corpus, &seeds, &env, &work);
        pb.finish_and_clear();
        let added = added?;
        println!(
            "promoted {} input(s) with new edges into {}{}",
            added.len(),
            seeds.display(),
            if added.is_empty() {
                String::new()
            } else {
                " (named by SHA-1; `git status` lists them: review and commit)".to_string()
            }
        );
    }
    Ok(0)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// libFuzzer's merge of `from` into `into`: only inputs that add coverage to `into` are copied
/// (named by their SHA-1). Returns the new files of `into`.
fn promote_into(
    bin: &Path,
    from: &Path,
    into: &Path,
    env: &[(&str, String)],
    work: &Path,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(into).map_err(|e| format!("cannot create {}: {e}", into.display()))?;
    let before: HashSet<PathBuf> = files_in(into).into_iter().collect();
    let mut cmd = Command::new(bin);
    // Edges only (no hit-count buckets): an input is promoted for a branch the committed corpus
    // never takes, not for taking a known one more often.
    cmd.arg("-merge=1")
        .arg("-use_counters=0")
        .arg(format!("-max_len={MAX_INPUT}"))
        .arg(format!("-artifact_prefix={}/", work.display()))
        .arg(into)
        .arg(from);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let log = work.join("promote.log");
    let st = proc::run_logged(cmd, "libfuzzer -merge=1 (promote)", &log)?;
    if !st.success() {
        return Err(format!(
            "libFuzzer merge into {} failed ({st}):\n{}",
            into.display(),
            setup::tail(&log, 10)
        ));
    }
    Ok(files_in(into)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect())
}

/// Shrink `data` keeping `pred` true: drop chunks (halving the chunk size), then lower bytes.
pub fn shrink(data: &[u8], pred: &dyn Fn(&[u8]) -> bool, max_tries: usize) -> Vec<u8> {
    let mut cur = data.to_vec();
    let mut tries = 0;
    // Trailing bytes first (the decoder reads zeros past the end).
    while !cur.is_empty() && tries < max_tries {
        tries += 1;
        let t = &cur[..cur.len() - 1];
        if pred(t) {
            cur.pop();
        } else {
            break;
        }
    }
    let mut chunk = cur.len().max(1) / 2;
    while chunk >= 1 && tries < max_tries {
        let mut i = 0;
        while i + chunk <= cur.len() && tries < max_tries {
            tries += 1;
            let mut t = cur[..i].to_vec();
            t.extend_from_slice(&cur[i + chunk..]);
            if pred(&t) {
                cur = t;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    for i in 0..cur.len() {
        for v in [0u8, 1] {
            if tries >= max_tries || cur[i] <= v {
                break;
            }
            tries += 1;
            let mut t = cur.clone();
            t[i] = v;
            if pred(&t) {
                cur = t;
                break;
            }
        }
    }
    cur
}

/// `diofuzz tmin`: minimise a crash input, keeping its signature.
#[derive(clap::Args, Clone, Debug)]
pub struct TminOpts {
    /// The crash input
    pub file: PathBuf,
    /// builtin (in-process, exact), libfuzzer (-minimize_crash) or afl (afl-tmin)
    #[arg(long, short = 'e', default_value = "builtin", value_parser = parse_tmin_engine)]
    pub engine: TminEngine,
    /// Variants to replay on [default: the one in finding.json next to FILE, else all]
    #[arg(long, short = 'v', value_name = "V", value_parser = opts::check_variant)]
    pub variant: Option<String>,
    /// Where the minimised input goes [default: FILE.min]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Time limit for an engine's minimiser: seconds, or 10m, 1h
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = opts::parse_secs)]
    pub time: u64,
}

/// tmin's engine: diofuzz's own shrinker or an engine's minimiser.
#[derive(Clone, Copy, Debug)]
pub struct TminEngine(pub Option<Engine>);

fn parse_tmin_engine(v: &str) -> Result<TminEngine, String> {
    match v {
        "diofuzz" | "builtin" => Ok(TminEngine(None)),
        _ => Engine::parse_minimiser(v)
            .map(|e| TminEngine(Some(e)))
            .map_err(|_| format!("unknown tmin engine '{v}'; use builtin, libfuzzer or afl")),
    }
}

pub fn tmin_cli(o: &TminOpts) -> Result<i32, String> {
    let TminOpts {
        file,
        engine,
        variant,
        out,
        time,
    } = o.clone();
    let engine = engine.0;
    let data = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    // The variant: --variant, else the one recorded in findings/<..>/finding.json next to FILE,
    // else every variant.
    let variant = variant
        .or_else(|| {
            let j = file.parent()?.join("finding.json");
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(j).ok()?).ok()?;
            v.get("variant")?.as_str().map(str::to_string)
        })
        .unwrap_or_else(|| "all".into());
    let cfg: Config = super::target_config(Some(&variant), None)?;
    let Some((fv, sig, _, _)) = replay(&data, &cfg) else {
        return Err(format!(
            "{} does not crash on variant(s) {variant}: nothing to minimise",
            file.display()
        ));
    };
    let out = out.unwrap_or_else(|| {
        let mut p = file.clone().into_os_string();
        p.push(".min");
        p.into()
    });
    let same = |d: &[u8]| {
        replay(d, &cfg)
            .map(|x| x.1 == sig && x.0 == fv)
            .unwrap_or(false)
    };
    let min = match engine {
        None => shrink(&data, &same, 200_000),
        Some(e) => {
            let root = setup::root()?;
            proc::install_handlers();
            let work = root.join("target/diofuzz-engines/tmin");
            let _ = std::fs::create_dir_all(&work);
            let (bins, errs) = super::prepare(&root, &[e], "dio_write", false, &work);
            let bin = bins.get(&e).cloned().ok_or_else(|| errs.join("; "))?;
            let tmp = work.join("engine-min");
            let _ = std::fs::remove_file(&tmp);
            let mut c = match e {
                Engine::LibFuzzer => {
                    let mut c = Command::new(&bin);
                    c.args(["-minimize_crash=1", &format!("-max_total_time={time}")])
                        .arg(format!("-exact_artifact_path={}", tmp.display()))
                        .arg(&file);
                    c
                }
                _ => {
                    let afl = setup::afl_bin_dir().ok_or("AFL++ not found")?;
                    let mut c = Command::new(afl.join("afl-tmin"));
                    c.arg("-i")
                        .arg(&file)
                        .arg("-o")
                        .arg(&tmp)
                        .arg("--")
                        .arg(&bin);
                    c
                }
            };
            c.env("DIOFUZZ_VARIANT", &variant);
            let log = work.join("tmin.log");
            proc::run_logged(c, e.name(), &log)?;
            let m = std::fs::read(&tmp)
                .map_err(|_| format!("{e} wrote no minimised file; see {}", log.display()))?;
            if same(&m) {
                m
            } else {
                eprintln!(
                    "diofuzz tmin: {e}'s result has another signature; shrinking in-process instead"
                );
                shrink(&data, &same, 200_000)
            }
        }
    };
    std::fs::write(&out, &min).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "diofuzz tmin: {} ({} bytes) -> {} ({} bytes), signature kept on {fv}: {sig}",
        file.display(),
        data.len(),
        out.display(),
        min.len()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_keeps_predicate() {
        let data: Vec<u8> = (0..200u8).collect();
        let pred = |d: &[u8]| d.contains(&77) && d.contains(&150);
        let m = shrink(&data, &pred, 100_000);
        assert!(pred(&m));
        assert!(m.len() <= 3, "{m:?}");
    }

    #[test]
    fn coverage_lines() {
        let log = "INFO: seed\n#35\tINITED cov: 812 ft: 2301 corp: 35/1200b exec/s: 0 rss: 33Mb\n";
        assert_eq!(lf_coverage(log), Some((812, 2301)));
        assert_eq!(lf_coverage("nothing"), None);
        assert_eq!(
            afl_tuples("[*] Found 1234 unique tuples across 35 files.\n"),
            Some(1234)
        );
    }
}
