// SPDX-License-Identifier: GPL-2.0-only
//! The fuzz target functions every engine calls (libFuzzer, AFL++, honggfuzz): each takes the raw
//! bytes, decodes them with the one library decoder, runs the model and the oracle, and panics on
//! an unsuppressed finding. Configuration comes from the environment, read once:
//! - `DIOFUZZ_VARIANT`: variant name (default: the newest), or a comma list;
//! - `DIOFUZZ_SUPPRESS`: path of a suppression file (signatures that are known and not reported).

use crate::oracle::{self, Finding};
use crate::scenario::Scenario;
use crate::suppress::Suppressions;
use crate::variant::{self, Variant};
use std::sync::OnceLock;

pub struct Config {
    pub variants: Vec<&'static Variant>,
    pub suppress: Suppressions,
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

pub fn config_from_env() -> Result<Config, String> {
    let variants = match std::env::var("DIOFUZZ_VARIANT") {
        Ok(v) if !v.trim().is_empty() => {
            variant::resolve(v.trim()).map_err(|e| format!("DIOFUZZ_VARIANT: {e}"))?
        }
        _ => vec![variant::newest()],
    };
    let suppress = match std::env::var("DIOFUZZ_SUPPRESS") {
        Ok(p) if !p.trim().is_empty() => Suppressions::load(std::path::Path::new(p.trim()))?,
        _ => Suppressions::default(),
    };
    Ok(Config { variants, suppress })
}

/// Decode, run every configured variant, return the first unsuppressed finding.
pub fn first_finding(data: &[u8], cfg: &Config) -> Option<Finding> {
    let s = Scenario::decode(data).ok()?;
    first_finding_scenario(&s, cfg)
}

pub fn first_finding_scenario(s: &Scenario, cfg: &Config) -> Option<Finding> {
    for v in &cfg.variants {
        let x = crate::model::run(s, v);
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
    if let Some(f) = first_finding(data, config()) {
        panic!("diofuzz finding\n{f}");
    }
}

/// A target that decodes but runs nothing: the baseline for BENCHMARKS.md.
pub fn noop(data: &[u8]) {
    std::hint::black_box(data);
}
