// SPDX-License-Identifier: GPL-2.0-only
//! Suppression files: one signature per line; `#` starts a comment; a trailing `*` matches any
//! signature with that prefix. Used by the fuzz targets (DIOFUZZ_SUPPRESS) and the CLI.

use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct Suppressions {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Suppressions {
    pub fn parse(text: &str) -> Suppressions {
        let mut s = Suppressions::default();
        for line in text.lines() {
            let l = line.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                continue;
            }
            match l.strip_suffix('*') {
                Some(p) => s.prefixes.push(p.to_string()),
                None => s.exact.push(l.to_string()),
            }
        }
        s
    }
    pub fn load(path: &Path) -> Result<Suppressions, String> {
        std::fs::read_to_string(path)
            .map(|t| Suppressions::parse(&t))
            .map_err(|e| format!("cannot read suppression file {}: {e}", path.display()))
    }
    pub fn matches(&self, sig: &str) -> bool {
        self.exact.iter().any(|e| e == sig)
            || self.prefixes.iter().any(|p| sig.starts_with(p.as_str()))
    }
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefixes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
