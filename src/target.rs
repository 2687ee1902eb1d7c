// SPDX-License-Identifier: GPL-2.0-only
//! The fuzz target functions every engine calls (libFuzzer, AFL++, honggfuzz): each takes the raw
//! bytes, decodes them with the one library decoder, runs the model and the oracle, and panics on
//! an unsuppressed finding. Configuration comes from the environment, read once:
//! - `DIOFUZZ_VARIANT`: variant name (default: the newest), or a comma list; `BASE+switch=value`
//!   and variant-file paths are accepted too (`crate::variant_file`);
//! - `DIOFUZZ_VARIANT_FILE`: a variant file (a patch described as data), run in addition to
//!   `DIOFUZZ_VARIANT` (alone when that is unset);
//! - `DIOFUZZ_SUPPRESS`: path of a suppression file (signatures that are known and not reported);
//!   empty = none; unset = suppressions/newest.txt (embedded) on v6.18 and later, none otherwise;
//! - `DIOFUZZ_COLLECT`: a folder; instead of crashing, each new signature (of every unsuppressed
//!   finding of an input, not only the first) is recorded once: `signatures.tsv` gets a line
//!   `hash, variant, signature, detail, unix time in seconds` (tab-separated; the time is when it
//!   was first recorded, which the bench's time to exposure reads), `<hash>.input` the first input
//!   that produced it. So one run surveys every root cause it reaches without restarts.

use crate::oracle::{self, Finding};
use crate::scenario::Scenario;
use crate::suppress::Suppressions;
use crate::variant::{self, Variant};
use std::sync::OnceLock;

pub struct Config {
    pub variants: Vec<&'static Variant>,
    pub suppress: Suppressions,
    pub collect: Option<std::path::PathBuf>,
}

/// The target configuration from the environment. A bad variant name or an unreadable suppression
/// file is a configuration error: it is printed and the process exits with status 2 (not a crash).
pub fn config() -> &'static Config {
    static CFG: OnceLock<Config> = OnceLock::new();
    CFG.get_or_init(|| match config_from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("diofuzz: {e}");
            std::process::exit(2);
        }
    })
}

/// The shipped suppressions for the newest variants (v6.18 and later).
pub const NEWEST_SUPPRESSIONS: &str = include_str!("../suppressions/newest.txt");
pub const NEWEST_VARIANTS: [&str; 6] = ["v6.18", "v6.19", "v7.0", "v7.1", "v7.2", "v7.3"];

/// Suppressions used when DIOFUZZ_SUPPRESS is unset: the shipped ones when every variant is one of
/// the newest, else none.
pub fn default_suppressions(variants: &[&'static Variant]) -> Suppressions {
    if variants
        .iter()
        .all(|v| NEWEST_VARIANTS.contains(&variant::known_as(v.name)))
    {
        Suppressions::parse(NEWEST_SUPPRESSIONS)
    } else {
        Suppressions::default()
    }
}

impl Config {
    /// A configuration that crashes on findings (no DIOFUZZ_COLLECT folder).
    pub fn new(variants: Vec<&'static Variant>, suppress: Suppressions) -> Config {
        Config {
            variants,
            suppress,
            collect: None,
        }
    }
}

pub fn config_from_env() -> Result<Config, String> {
    let file = match std::env::var("DIOFUZZ_VARIANT_FILE") {
        Ok(p) if !p.trim().is_empty() => Some(
            crate::variant_file::load(std::path::Path::new(p.trim()))
                .map_err(|e| format!("DIOFUZZ_VARIANT_FILE: {e}"))?,
        ),
        _ => None,
    };
    let mut variants = match std::env::var("DIOFUZZ_VARIANT") {
        Ok(v) if !v.trim().is_empty() => {
            variant::resolve(v.trim()).map_err(|e| format!("DIOFUZZ_VARIANT: {e}"))?
        }
        // A variant file alone: that variant only.
        _ if file.is_some() => vec![],
        _ => vec![variant::newest()],
    };
    variants.extend(file);
    let suppress = match std::env::var("DIOFUZZ_SUPPRESS") {
        Ok(p) if !p.trim().is_empty() => Suppressions::load(std::path::Path::new(p.trim()))?,
        // Set but empty: no suppression at all.
        Ok(_) => Suppressions::default(),
        // Unset (e.g. OSS-Fuzz, which cannot set the environment): on the newest variants the
        // shipped suppressions/newest.txt, so only new root causes crash; none on older variants,
        // so their known bugs show.
        Err(_) => default_suppressions(&variants),
    };
    let collect = match std::env::var("DIOFUZZ_COLLECT") {
        Ok(p) if !p.trim().is_empty() => {
            let d = std::path::PathBuf::from(p.trim());
            std::fs::create_dir_all(&d)
                .map_err(|e| format!("DIOFUZZ_COLLECT {}: {e}", d.display()))?;
            Some(d)
        }
        _ => None,
    };
    Ok(Config {
        variants,
        suppress,
        collect,
    })
}

/// Decode, run every configured variant, return the first unsuppressed finding.
pub fn first_finding(data: &[u8], cfg: &Config) -> Option<Finding> {
    let s = Scenario::decode(data).ok()?;
    first_finding_scenario(&s, cfg)
}

pub fn first_finding_scenario(s: &Scenario, cfg: &Config) -> Option<Finding> {
    // A scenario no real system can produce is not a finding (decoded bytes are always valid;
    // this guards scenarios built in code or loaded from JSON).
    if !crate::validity::is_valid(s) {
        return None;
    }
    for v in &cfg.variants {
        let x = crate::model::run_quiet(s, v);
        if let Some(f) = oracle::check(&x)
            .into_iter()
            .find(|f| !cfg.suppress.matches(&f.signature))
        {
            return Some(f);
        }
    }
    None
}

/// The `dio_write` target: the whole write path, every property.
pub fn dio_write(data: &[u8]) {
    let cfg = config();
    match &cfg.collect {
        // Record every unsuppressed finding of the input (none masks another), keep going.
        Some(dir) => {
            if let Ok(s) = Scenario::decode(data) {
                for v in &cfg.variants {
                    let x = crate::model::run_quiet(&s, v);
                    for f in oracle::check(&x) {
                        if !cfg.suppress.matches(&f.signature) {
                            collect(dir, &f, data);
                        }
                    }
                }
            }
        }
        None => {
            if let Some(f) = first_finding(data, cfg) {
                panic!("diofuzz finding\n{f}");
            }
        }
    }
}

/// FNV-1a, for stable file names per signature.
pub fn sig_hash(sig: &str) -> u64 {
    sig.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn collect(dir: &std::path::Path, f: &Finding, data: &[u8]) {
    use std::collections::HashSet;
    use std::io::Write;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
    let h = sig_hash(&f.signature);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.get_or_insert_with(HashSet::new).insert(h) {
        return;
    }
    let input = dir.join(format!("{h:016x}.input"));
    if input.exists() {
        return; // recorded by an earlier run
    }
    let _ = std::fs::write(&input, data);
    if let Ok(mut t) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("signatures.tsv"))
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let _ = writeln!(
            t,
            "{h:016x}\t{}\t{}\t{}\t{now:.3}",
            f.variant, f.signature, f.detail
        );
    }
}

/// A target that runs nothing (it does not even decode): the engine-overhead baseline for
/// BENCHMARKS.md. Not shipped to OSS-Fuzz (oss-fuzz/build.sh skips it).
pub fn noop(data: &[u8]) {
    std::hint::black_box(data);
}
