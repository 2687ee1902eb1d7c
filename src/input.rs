// SPDX-License-Identifier: GPL-2.0-only
//! Reading inputs: the one scenario loader and the one input walker that every command (replay,
//! show, encode, keep, triage, check, live, repro) and the tests use, so they accept and reject
//! the same things.
//!
//! - [`parse`] / [`load`]: a scenario from raw corpus bytes or readable JSON. JSON is strict:
//!   an unknown key is an error naming it and the valid keys, and every value must be one the byte
//!   format can hold (checked by encoding it). Raw bytes decode totally, as for the fuzzers; a file
//!   shorter than a full scenario loads with a warning naming the fields that took defaults.
//! - [`walk`]: FILE|DIR arguments to the scenario files they hold, sorted per argument, folders
//!   recursively (a few levels, symbolic links to folders not followed), companion files skipped.

use crate::scenario::Scenario;
use std::path::{Path, PathBuf};

/// A loaded scenario and what the loader has to say about it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    /// A raw input shorter than a full scenario: the fields that took their defaults.
    pub defaulted: Vec<&'static str>,
}

impl Loaded {
    /// The warning to print for a short raw input, if any.
    pub fn warning(&self, origin: &str) -> Option<String> {
        (!self.defaulted.is_empty()).then(|| {
            format!(
                "warning: {origin} is shorter than a full scenario; these fields took defaults: {}",
                self.defaulted.join("; ")
            )
        })
    }
}

/// Is this text (or a file of this name) a readable JSON scenario rather than corpus bytes?
fn is_json(data: &[u8], name: &str) -> bool {
    name.ends_with(".json") || data.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{')
}

/// A scenario from a file's contents; `origin` (the file name) prefixes every error.
pub fn parse(data: &[u8], origin: &str) -> Result<Loaded, String> {
    if is_json(data, origin) {
        let text = std::str::from_utf8(data)
            .map_err(|_| format!("{origin}: a .json scenario must be UTF-8"))?;
        let s: Scenario =
            serde_json::from_str(text).map_err(|e| format!("{origin}: not a scenario: {e}"))?;
        // A readable scenario may say only what the byte format can: the same ranges.
        s.encode().map_err(|e| format!("{origin}: {e}"))?;
        // ...and only a world a real system can have (src/validity.rs).
        crate::validity::require_real_world(&s).map_err(|e| format!("{origin}: {e}"))?;
        return Ok(Loaded {
            scenario: s,
            defaulted: Vec::new(),
        });
    }
    let (scenario, defaulted) = Scenario::decode_reporting_defaults(data)
        .map_err(|e| format!("{origin}: undecodable input: {e}"))?;
    Ok(Loaded {
        scenario,
        defaulted,
    })
}

/// Read and [`parse`] a scenario file.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&data, &path.display().to_string())
}

/// [`load`], printing the short-input warning on stderr: what the commands use.
pub fn load_scenario(path: &Path) -> Result<Scenario, String> {
    let l = load(path)?;
    if let Some(w) = l.warning(&path.display().to_string()) {
        eprintln!("{w}");
    }
    Ok(l.scenario)
}

/// Companion files that live beside scenarios and are not scenarios: regression expectations,
/// notes, reproducers, engine option and dictionary files, logs, variant files.
const NOT_SCENARIOS: [&str; 9] = [
    "expect", "md", "txt", "c", "options", "dict", "log", "tsv", "toml",
];

/// Does a file of this name hold a scenario (as far as its name says)?
pub fn is_scenario_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = p
        .extension()
        .map(|e| e.to_string_lossy().to_string())
        .unwrap_or_default();
    !name.is_empty()
        && !name.starts_with('.')
        && !name.to_ascii_uppercase().starts_with("README")
        && !NOT_SCENARIOS.contains(&ext.as_str())
}

/// How deep [`walk`] goes below a folder argument.
pub const MAX_DEPTH: u32 = 4;

/// FILE|DIR arguments to scenario files. A file argument is taken as given; a folder gives its
/// scenario files (see [`is_scenario_name`]), recursively, sorted. Errors: a missing argument, an
/// unreadable folder, no input at all.
pub fn walk<P: AsRef<Path>>(args: &[P]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for a in args {
        let p = a.as_ref();
        let md = std::fs::metadata(p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
        if md.is_dir() {
            let mut v = Vec::new();
            walk_dir(p, &mut v, 0)?;
            v.sort();
            out.extend(v);
        } else {
            out.push(p.to_path_buf());
        }
    }
    if out.is_empty() {
        return Err("no input files".into());
    }
    Ok(out)
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>, depth: u32) -> Result<(), String> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if ft.is_dir() {
            if depth < MAX_DEPTH && !hidden {
                walk_dir(&p, out, depth + 1)?;
            }
        } else if (ft.is_file() || (ft.is_symlink() && p.is_file())) && is_scenario_name(&p) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companion_files_are_not_scenarios() {
        assert!(is_scenario_name(Path::new(
            "corpus/dio_write/a1_statx_one_block"
        )));
        assert!(is_scenario_name(Path::new("x/k3.json")));
        for n in [
            "corpus/regressions/dax_atomic.expect",
            "corpus/.gitkeep",
            "corpus/regressions/README.md",
            "corpus/README",
            "x/repro.c",
            "patch.toml",
        ] {
            assert!(!is_scenario_name(Path::new(n)), "{n}");
        }
    }

    #[test]
    fn json_is_strict_and_bytes_are_total() {
        let e = parse(br#"{"world": {"i_sise": 4096}}"#, "s.json").unwrap_err();
        assert!(
            e.contains("unknown field `i_sise`") && e.contains("i_size"),
            "{e}"
        );
        let e = parse(br#"{"request": {"rwf": {"atomc": true}}}"#, "s.json").unwrap_err();
        assert!(e.contains("`atomc`") && e.contains("atomic"), "{e}");
        let e = parse(br#"{"request": {"pos": 700}}"#, "s.json").unwrap_err();
        assert!(e.contains("pos 700"), "{e}");
        let l = parse(&[0, 0, 0], "short").unwrap();
        assert!(l.defaulted.contains(&"world.inode"), "{:?}", l.defaulted);
        assert!(l.warning("short").unwrap().contains("took defaults"));
        let full = l.scenario.encode().unwrap();
        assert!(parse(&full, "full").unwrap().defaulted.is_empty());
    }

    #[test]
    fn faults_use_kernel_and_errno_names() {
        let l = parse(
            br#"{"faults": [{"site": "ext4_map_blocks(create)", "errno": "ENOSPC"}]}"#,
            "f.json",
        )
        .unwrap();
        let j = serde_json::to_string(&l.scenario.faults).unwrap();
        assert_eq!(
            j,
            r#"[{"site":"ext4_map_blocks(create)","nth":0,"errno":"ENOSPC"}]"#
        );
        // The Rust name and a number are still read.
        assert!(parse(
            br#"{"faults": [{"site": "Ext4MapBlocksCreate", "errno": 28}]}"#,
            "f.json"
        )
        .is_ok());
        let e = parse(br#"{"faults": [{"site": "ext4_map_blockz"}]}"#, "f.json").unwrap_err();
        assert!(
            e.contains("unknown fault site") && e.contains("bio_endio"),
            "{e}"
        );
        let e = parse(
            br#"{"faults": [{"site": "bio_endio", "errno": "ENOSPACE"}]}"#,
            "f.json",
        )
        .unwrap_err();
        assert!(
            e.contains("unknown errno 'ENOSPACE'") && e.contains("ENOSPC"),
            "{e}"
        );
        let e = parse(
            br#"{"faults": [{"site": "bio_endio", "errno": "EPERM"}]}"#,
            "f.json",
        )
        .unwrap_err();
        assert!(e.contains("bio_endio cannot return EPERM"), "{e}");
    }
}
