// SPDX-License-Identifier: GPL-2.0-only
//! Crash triage: every crash file an engine writes is replayed in-process through the library
//! (`target::first_finding`), deduplicated by (variant, signature), labelled known/new with
//! known-findings.json, and stored under `findings/<target>/<slug>/`:
//! `finding.json` (signature, property, variant, label, detail, which engines found it when) and
//! one input per engine (`<engine>-<hash>.bin`). Crashes that do not reproduce in-process (a
//! timeout, an OOM, an engine problem) go to `findings/<target>/unreproduced/`.

use diofuzz::known;
use diofuzz::suppress::Suppressions;
use diofuzz::target::{self, Config};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// FNV-1a, 64 bits: a stable content hash for file names (no extra dependency).
pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A file-name-safe, readable slug for a finding: variant, property, filesystem, hash.
pub fn slug(variant: &str, signature: &str) -> String {
    let mut parts = signature.splitn(3, ':');
    let prop = parts.next().unwrap_or("X");
    let fs = parts.next().unwrap_or("x");
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!(
        "{}-{}-{}-{:016x}",
        clean(variant),
        clean(prop),
        clean(fs),
        fnv64(format!("{variant}\n{signature}").as_bytes())
    )
}

#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub engine: String,
    /// Seconds since the start of the session.
    pub seconds: f64,
    pub input: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub signature: String,
    pub variant: String,
    pub property: String,
    pub label: String,
    pub detail: String,
    pub target: String,
    pub slug: String,
    /// Number of crash files with this signature (all engines).
    pub count: u64,
    /// First hit per engine, in the order found.
    pub found_by: Vec<Hit>,
}

impl Entry {
    pub fn first_seconds(&self) -> f64 {
        self.found_by
            .iter()
            .map(|h| h.seconds)
            .fold(f64::INFINITY, f64::min)
    }
}

/// What one crash file turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A signature not seen before in this session.
    New { variant: String, signature: String },
    /// A signature already seen.
    Dup { variant: String, signature: String },
    /// No finding in-process (timeout, OOM, or suppressed here).
    NoRepro,
}

/// Replay one input; a panic inside the model (a bug in diofuzz itself, not a finding) is caught
/// and reported as a pseudo-finding with signature `model-panic:<message>`.
pub fn replay(data: &[u8], cfg: &Config) -> Option<(String, String, String, String)> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        target::first_finding(data, cfg)
    }));
    std::panic::set_hook(prev);
    match r {
        Ok(Some(f)) => Some((
            f.variant.to_string(),
            f.signature.clone(),
            f.property.to_string(),
            f.detail.clone(),
        )),
        Ok(None) => None,
        Err(e) => {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let first = msg.lines().next().unwrap_or("").to_string();
            Some((
                "-".into(),
                format!("model-panic:{first}"),
                "panic".into(),
                msg,
            ))
        }
    }
}

pub struct Triage {
    /// The targets' configuration with the user's suppressions.
    pub cfg: Config,
    /// The same plus every signature found in this session: what a restarted engine runs with,
    /// so a crash is replayed with it first (an input can hold several findings; the target
    /// panics on the first one not suppressed).
    session: Config,
    base_text: String,
    pub found: std::collections::BTreeSet<String>,
    /// Signature patterns (known-findings.json style globs) suppressed as a whole once one
    /// signature matching them is found.
    pub group_by: Vec<String>,
    pub dir: PathBuf,
    pub target: String,
    pub entries: BTreeMap<(String, String), Entry>,
    pub unreproduced: Vec<Hit>,
    /// Whether to write to `dir` (the bench keeps everything in memory).
    pub write: bool,
}

impl Triage {
    pub fn new(cfg: Config, base_text: &str, dir: PathBuf, target: &str, write: bool) -> Triage {
        let session = super::make_config(cfg.variants.clone(), Suppressions::parse(base_text));
        Triage {
            cfg,
            session,
            base_text: base_text.to_string(),
            found: Default::default(),
            group_by: Vec::new(),
            dir,
            target: target.to_string(),
            entries: BTreeMap::new(),
            unreproduced: Vec::new(),
            write,
        }
    }

    /// Triage one crash input found by `engine` `seconds` into the session.
    pub fn add(&mut self, engine: &str, data: &[u8], seconds: f64) -> Result<Outcome, String> {
        let h = fnv64(data);
        let Some((variant, signature, property, detail)) =
            replay(data, &self.session).or_else(|| replay(data, &self.cfg))
        else {
            let name = format!("{engine}-{h:016x}.bin");
            if self.write {
                let d = self.dir.join("unreproduced");
                write_file(&d.join(&name), data)?;
            }
            self.unreproduced.push(Hit {
                engine: engine.into(),
                seconds,
                input: name,
            });
            return Ok(Outcome::NoRepro);
        };
        // Suppress the whole known pattern when one is given for it (the bench: one exposure per
        // known finding), else the exact signature.
        let supp = self
            .group_by
            .iter()
            .find(|p| Suppressions::parse(p).matches(&signature))
            .cloned()
            .unwrap_or_else(|| signature.clone());
        if !signature.starts_with("model-panic:") && self.found.insert(supp) {
            self.session.suppress = Suppressions::parse(&self.session_text());
        }
        let key = (variant.clone(), signature.clone());
        let label = known::label(&signature, &variant).to_string();
        let is_new = !self.entries.contains_key(&key);
        let e = self.entries.entry(key).or_insert_with(|| Entry {
            slug: slug(&variant, &signature),
            signature: signature.clone(),
            variant: variant.clone(),
            property,
            label,
            detail,
            target: self.target.clone(),
            count: 0,
            found_by: Vec::new(),
        });
        e.count += 1;
        if !e.found_by.iter().any(|x| x.engine == engine) {
            let name = format!("{engine}-{h:016x}.bin");
            e.found_by.push(Hit {
                engine: engine.into(),
                seconds,
                input: name.clone(),
            });
            if self.write {
                let d = self.dir.join(&e.slug);
                write_file(&d.join(&name), data)?;
            }
        }
        if self.write {
            let d = self.dir.join(&e.slug);
            let json = serde_json::to_string_pretty(&*e).map_err(|x| x.to_string())?;
            write_file(&d.join("finding.json"), format!("{json}\n").as_bytes())?;
        }
        Ok(if is_new {
            Outcome::New { variant, signature }
        } else {
            Outcome::Dup { variant, signature }
        })
    }

    /// The session's suppression file text: the user's, then the signatures found so far.
    pub fn session_text(&self) -> String {
        let mut s = self.base_text.clone();
        s.push_str("\n# found in this session\n");
        for sig in &self.found {
            s.push_str(sig);
            s.push('\n');
        }
        s
    }

    /// The findings table, first found first.
    pub fn table(&self) -> String {
        let mut v: Vec<&Entry> = self.entries.values().collect();
        v.sort_by(|a, b| a.first_seconds().total_cmp(&b.first_seconds()));
        let mut s = String::new();
        if v.is_empty() {
            s.push_str("no findings\n");
        } else {
            // As wide as the longest variant name (a patch variant's can be long).
            let vw = v.iter().map(|e| e.variant.len()).max().unwrap_or(0).max(10);
            let _ = writeln!(
                s,
                "{:<6} {:<5} {:<vw$} {:>8} {:>6}  {:<28} signature",
                "label", "prop", "variant", "first(s)", "files", "engines (first s)"
            );
            for e in v {
                let by = e
                    .found_by
                    .iter()
                    .map(|h| format!("{}({:.1})", h.engine, h.seconds))
                    .collect::<Vec<_>>()
                    .join(",");
                let _ = writeln!(
                    s,
                    "{:<6} {:<5} {:<vw$} {:>8.1} {:>6}  {:<28} {}",
                    e.label,
                    e.property,
                    e.variant,
                    e.first_seconds(),
                    e.count,
                    by,
                    e.signature
                );
                let _ = writeln!(s, "{:>6} -> {}/", "", e.slug);
            }
        }
        if !self.unreproduced.is_empty() {
            let _ = writeln!(
                s,
                "{} crash file(s) did not reproduce in-process (timeouts/OOM?): see unreproduced/",
                self.unreproduced.len()
            );
        }
        s
    }

    pub fn count_new(&self) -> usize {
        self.entries.values().filter(|e| e.label == "new").count()
    }
}

pub fn write_file(p: &Path, data: &[u8]) -> Result<(), String> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    std::fs::write(p, data).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: &str) -> Config {
        super::super::make_config(
            diofuzz::variant::resolve(v).unwrap(),
            Suppressions::default(),
        )
    }

    #[test]
    fn slugs_are_safe_and_distinct() {
        let a = slug("thread-v1", "O7:ext4:S1: a>S2: b");
        let b = slug("thread-v1", "O7:ext4:S1: a>S2: c");
        assert_ne!(a, b);
        assert!(a.starts_with("thread-v1-O7-ext4-"));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(a, slug("thread-v1", "O7:ext4:S1: a>S2: b"));
    }

    #[test]
    fn unreproducible_and_dedup() {
        let mut t = Triage::new(
            cfg("v6.12"),
            "",
            PathBuf::from("/nonexistent"),
            "dio_write",
            false,
        );
        // Too long to decode: never a finding.
        let long = vec![0u8; diofuzz::scenario::MAX_INPUT + 1];
        assert_eq!(t.add("afl", &long, 1.0).unwrap(), Outcome::NoRepro);
        assert_eq!(t.unreproduced.len(), 1);
        // Synthetic dedup: two hits with one key count once.
        let key = ("v".to_string(), "O7:ext4:x".to_string());
        t.entries.insert(
            key.clone(),
            Entry {
                signature: key.1.clone(),
                variant: key.0.clone(),
                property: "O7".into(),
                label: "new".into(),
                detail: String::new(),
                target: "dio_write".into(),
                slug: slug(&key.0, &key.1),
                count: 1,
                found_by: vec![Hit {
                    engine: "afl".into(),
                    seconds: 2.5,
                    input: "x".into(),
                }],
            },
        );
        assert_eq!(t.count_new(), 1);
        assert!(t.table().contains("afl(2.5)"));
        assert!(t.table().contains("did not reproduce"));
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
