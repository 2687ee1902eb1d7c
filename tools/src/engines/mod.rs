// SPDX-License-Identifier: GPL-2.0-only
//! Engine orchestration (`diofuzz fuzz`, `cmin`, `tmin`, `bench`): libFuzzer (cargo fuzz, fuzz/),
//! AFL++ (cargo afl, harness/afl) and honggfuzz (cargo hfuzz, harness/hfuzz), all calling the
//! library's target functions on one shared working corpus (fuzz/corpus/<target>, git-ignored,
//! seeded from the committed corpus/<target>). See docs/engines.md.

pub mod bench;
pub mod cmin;
pub mod findings;
pub mod lock;
pub mod opts;
pub mod proc;
pub mod run;
pub mod setup;
pub mod stats;

use opts::{Engine, FuzzOpts, Suppress};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Print an engine subcommand's error and give its exit code (2: usage or input error).
pub fn exit_code(cmd: &str, r: Result<i32, String>) -> i32 {
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diofuzz {cmd}: {e}");
            2
        }
    }
}

/// The committed seed corpus of a target: corpus/<target>. Only `cmin --promote` and `seeds`
/// write to it.
pub fn seed_corpus(root: &Path, target: &str) -> PathBuf {
    root.join("corpus").join(target)
}

/// The git-ignored working corpus of a target, fuzz/corpus/<target> (also cargo fuzz's default),
/// which the engines grow. It is created when missing and gets every committed seed it lacks (by
/// file name), so new seeds reach it and a fuzzing run never writes into git's tree.
pub fn working_corpus(root: &Path, target: &str) -> Result<PathBuf, String> {
    let dir = root.join("fuzz/corpus").join(target);
    if std::fs::symlink_metadata(root.join("fuzz/corpus")).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(format!(
            "{} is a symbolic link (the old layout, to the committed corpus): remove it, the \
             working corpus is now a folder of its own",
            root.join("fuzz/corpus").display()
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for f in run::files_in(&seed_corpus(root, target)) {
        let Some(name) = f.file_name() else { continue };
        let to = dir.join(name);
        if !to.exists() {
            std::fs::copy(&f, &to).map_err(|e| format!("cannot seed {}: {e}", to.display()))?;
        }
    }
    Ok(dir)
}

/// Is every variant of this DIOFUZZ_VARIANT value one the shipped suppressions are for (v6.18 to
/// v7.3, target::NEWEST_VARIANTS: the same rule as the target's default)?
pub fn is_newest(variant: Option<&str>) -> bool {
    match variant {
        None => true,
        Some(v) => diofuzz::variant::resolve(v)
            .map(|vs| {
                vs.iter()
                    .all(|x| diofuzz::target::NEWEST_VARIANTS.contains(&x.name))
            })
            .unwrap_or(false),
    }
}

/// The suppression file to use: `--suppress FILE`, none, or by default suppressions/newest.txt
/// when fuzzing the newest variant.
pub fn suppression_file(
    root: &Path,
    s: &Suppress,
    variant: Option<&str>,
) -> Result<Option<PathBuf>, String> {
    match s {
        Suppress::None => Ok(None),
        Suppress::File(p) => {
            if p.is_file() {
                Ok(Some(p.clone()))
            } else {
                Err(format!("suppression file {} does not exist", p.display()))
            }
        }
        Suppress::Default => {
            let p = root.join("suppressions/newest.txt");
            Ok((is_newest(variant) && p.is_file()).then_some(p))
        }
    }
}

pub fn target_config(
    variant: Option<&str>,
    suppress: Option<&Path>,
) -> Result<diofuzz::target::Config, String> {
    let variants = match variant {
        Some(v) => diofuzz::variant::resolve(v)?,
        None => vec![diofuzz::variant::newest()],
    };
    let suppress = match suppress {
        Some(p) => diofuzz::suppress::Suppressions::load(p)?,
        None => Default::default(),
    };
    Ok(make_config(variants, suppress))
}

/// The one place engines/ builds a target Config (its other fields stay off).
pub fn make_config(
    variants: Vec<&'static diofuzz::variant::Variant>,
    suppress: diofuzz::suppress::Suppressions,
) -> diofuzz::target::Config {
    diofuzz::target::Config::new(variants, suppress)
}

/// Install (unless told not to) and build every engine; engines that fail are left out with a
/// message. Returns the built binaries.
pub fn prepare(
    root: &Path,
    engines: &[Engine],
    target: &str,
    no_install: bool,
    logdir: &Path,
) -> (BTreeMap<Engine, PathBuf>, Vec<String>) {
    let _ = std::fs::create_dir_all(logdir);
    let mut bins = BTreeMap::new();
    let mut errs = Vec::new();
    for e in engines {
        if proc::stopped() {
            errs.push("interrupted".to_string());
            break;
        }
        let r = setup::ensure_tools(*e, no_install).and_then(|_| {
            setup::build(
                root,
                *e,
                target,
                &logdir.join(format!("build-{}.log", e.name())),
            )
        });
        match r {
            Ok(b) => {
                bins.insert(*e, b);
            }
            Err(m) => errs.push(format!("{e}: {m}")),
        }
    }
    (bins, errs)
}

/// `diofuzz fuzz`.
pub fn fuzz(o: &FuzzOpts) -> Result<i32, String> {
    let mutator = opts::mutator_or_env(o.mutator)?;
    let root = setup::root()?;
    proc::install_handlers();
    let supp = suppression_file(&root, &o.suppression(), o.variant.as_deref())?;
    let cfgv = target_config(o.variant.as_deref(), supp.as_deref())?;
    let corpus = match &o.corpus_dir {
        Some(d) => d.clone(),
        None => working_corpus(&root, &o.target)?,
    };
    let findings = o
        .findings_dir
        .clone()
        .unwrap_or_else(|| root.join("findings").join(&o.target));
    let variant_name = o
        .variant
        .clone()
        .unwrap_or_else(|| diofuzz::variant::newest().name.to_string());
    // One working directory per target and named variant, so that sessions on two variants can
    // run side by side; run_session locks it against a second session on the same one.
    let work = root.join("target/diofuzz-engines").join(match &o.variant {
        Some(v) => format!("{}-{v}", o.target),
        None => o.target.clone(),
    });
    eprintln!(
        "diofuzz fuzz: target {}, variant {variant_name}, engines {}, {} s, jobs {}, suppressions {}",
        o.target,
        o.engines
            .0
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(","),
        o.time,
        o.jobs,
        supp.as_ref()
            .map(|p| format!("{} ({} entries)", p.display(), cfgv.suppress.len()))
            .unwrap_or_else(|| "none".into())
    );
    let (bins, errs) = prepare(
        &root,
        &o.engines.0,
        &o.target,
        o.no_install,
        &work.join("..").join("build-logs"),
    );
    for e in &errs {
        eprintln!("diofuzz fuzz: {e}");
    }
    if bins.is_empty() {
        return Err("no engine could be built".into());
    }
    if proc::stopped() {
        return Err("interrupted".into());
    }
    let cfg = run::SessionCfg {
        root: root.clone(),
        engines: bins.keys().copied().collect(),
        target: o.target.clone(),
        variant: o.variant.clone(),
        time: Duration::from_secs(o.time),
        jobs: o.jobs,
        suppress: supp,
        corpus,
        work: work.clone(),
        findings: findings.clone(),
        write_findings: true,
        merge_back: !o.no_merge,
        record_seed_crashes: true,
        progress: true,
        bins,
        stop_when_all: Vec::new(),
        mutator,
        collect: o.record_and_continue,
    };
    let (res, triage) = run::run_session(cfg, cfgv)?;
    let mut text = summary(&res, &triage, &findings);
    if o.record_and_continue {
        for e in &res.engines {
            let d = work.join(&e.engine).join("collect");
            text.push_str(&format!(
                "recorded (record-and-continue), {}: {} (signatures.tsv and one .input per signature; replaced by the next session)\n",
                e.engine,
                d.display()
            ));
        }
    }
    println!("{text}");
    let _ = std::fs::create_dir_all(&findings);
    let _ = std::fs::write(findings.join("summary.txt"), &text);
    if let Ok(j) = serde_json::to_string_pretty(&res) {
        let _ = std::fs::write(findings.join("summary.json"), j + "\n");
    }
    Ok(
        if !errs.is_empty() || res.engines.iter().any(|e| e.status.starts_with("failed")) {
            2
        } else if res.findings_total + res.unreproduced > 0 {
            1
        } else {
            0
        },
    )
}

/// The end-of-session summary: one row per engine, then the findings table.
pub fn summary(res: &run::SessionResult, t: &findings::Triage, dir: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n== diofuzz fuzz summary: target {}, variant {}, {:.0} s{} ==",
        res.target,
        res.variant,
        res.seconds,
        if res.interrupted {
            " (interrupted: engines stopped)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "{:<10} {:>9} {:>12} {:>9} {:>8} {:>5} {:>8} {:>8}  status",
        "engine", "restarts", "execs", "exec/s", "corpus+", "crash", "sigs", "first(s)"
    );
    for e in &res.engines {
        let _ = writeln!(
            s,
            "{:<10} {:>9} {:>12} {:>9.0} {:>8} {:>5} {:>8} {:>8}  {}",
            e.engine,
            e.restarts,
            e.execs,
            e.exec_per_sec,
            e.corpus_added,
            e.crash_files,
            e.signatures.len(),
            e.first_crash_seconds
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into()),
            e.status
        );
    }
    let _ = writeln!(
        s,
        "corpus: {} -> {} files\nfindings: {} signature(s), {} new, in {}",
        res.corpus_before,
        res.corpus_after,
        res.findings_total,
        res.findings_new,
        dir.display()
    );
    s.push_str(&t.table());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_detection() {
        assert!(is_newest(None));
        assert!(is_newest(Some(diofuzz::variant::newest().name)));
        assert!(!is_newest(Some("thread-v1")));
        assert!(!is_newest(Some("all")));
    }

    #[test]
    fn working_corpus_is_seeded_and_separate() {
        let root = std::env::temp_dir().join(format!("diofuzz-wc-{}", std::process::id()));
        let seeds = seed_corpus(&root, "dio_write");
        std::fs::create_dir_all(&seeds).unwrap();
        std::fs::write(seeds.join("a"), b"seed a").unwrap();
        let w = working_corpus(&root, "dio_write").unwrap();
        assert_eq!(w, root.join("fuzz/corpus/dio_write"));
        assert_eq!(std::fs::read(w.join("a")).unwrap(), b"seed a");
        // The working copy is the engines' to change; a new seed arrives, an edited file stays.
        std::fs::write(w.join("a"), b"grown").unwrap();
        std::fs::write(seeds.join("b"), b"seed b").unwrap();
        working_corpus(&root, "dio_write").unwrap();
        assert_eq!(std::fs::read(w.join("a")).unwrap(), b"grown");
        assert_eq!(std::fs::read(w.join("b")).unwrap(), b"seed b");
        assert_eq!(std::fs::read(seeds.join("a")).unwrap(), b"seed a");
        // The old layout (fuzz/corpus -> ../corpus) is refused, not written through.
        std::fs::remove_dir_all(root.join("fuzz")).unwrap();
        std::fs::create_dir_all(root.join("fuzz")).unwrap();
        std::os::unix::fs::symlink("../corpus", root.join("fuzz/corpus")).unwrap();
        assert!(working_corpus(&root, "dio_write")
            .unwrap_err()
            .contains("symbolic link"));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn suppression_choice() {
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let d = suppression_file(&root, &Suppress::Default, None).unwrap();
        assert_eq!(d.is_some(), root.join("suppressions/newest.txt").is_file());
        assert!(
            suppression_file(&root, &Suppress::Default, Some("thread-v1"))
                .unwrap()
                .is_none()
        );
        assert!(suppression_file(&root, &Suppress::None, None)
            .unwrap()
            .is_none());
        assert!(suppression_file(&root, &Suppress::File("/no/such/file".into()), None).is_err());
    }
}
