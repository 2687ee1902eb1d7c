// SPDX-License-Identifier: GPL-2.0-only
//! Suppression files: one signature pattern per line; `#` starts a comment; `*` matches any run of
//! characters (a pattern without `*` must match the whole signature). Used by the fuzz targets
//! (DIOFUZZ_SUPPRESS) and the CLI.

use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct Suppressions {
    patterns: Vec<String>,
}

/// Glob match with `*` only (no other metacharacters): signatures contain `?`, `[` freely.
pub fn glob(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Suppressions {
    pub fn parse(text: &str) -> Suppressions {
        let mut s = Suppressions::default();
        for line in text.lines() {
            let l = line.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                continue;
            }
            s.patterns.push(l.to_string());
        }
        s
    }
    pub fn load(path: &Path) -> Result<Suppressions, String> {
        std::fs::read_to_string(path)
            .map(|t| Suppressions::parse(&t))
            .map_err(|e| format!("cannot read suppression file {}: {e}", path.display()))
    }
    pub fn matches(&self, sig: &str) -> bool {
        self.patterns.iter().any(|p| glob(p, sig))
    }
    pub fn len(&self) -> usize {
        self.patterns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        assert!(glob("O1:ext4:a>b", "O1:ext4:a>b"));
        assert!(!glob("O1:ext4:a", "O1:ext4:a>b"));
        assert!(glob("O1:*", "O1:ext4:a>b"));
        assert!(glob("*S1: x*", "O1:ext4:S1: x>y"));
        assert!(glob("O1:*b*d", "O1:abcd"));
        assert!(!glob("O1:*b*d", "O1:abce"));
        assert!(!glob("O2:*", "O1:ext4"));
        let s = Suppressions::parse("# c\nO7:*WARN_ON_ONCE(IOCB_ATOMIC)*  # dax\n\nO2:ext4:x\n");
        assert_eq!(s.len(), 2);
        assert!(s.matches("O7:ext4:dax_iomap_rw: WARN_ON_ONCE(IOCB_ATOMIC)"));
        assert!(s.matches("O2:ext4:x") && !s.matches("O2:ext4:xy"));
    }
}
