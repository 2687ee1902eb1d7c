// SPDX-License-Identifier: GPL-2.0-only
//! The known-findings file (`known-findings.json` at the repository root, embedded at build time):
//! signature -> the variants it holds for, a description, and the kernel commit that fixed it.
//! `check`, `replay` and the fuzz engines label a finding "known" or "new" with it.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Known {
    /// Signature pattern (`*` matches any run of characters).
    pub signature: String,
    /// Variant names it is known on ("all" for every variant).
    pub variants: Vec<String>,
    pub description: String,
    /// The kernel commit that fixed it, if one did.
    #[serde(default)]
    pub fixed_by: Option<String>,
}

impl Known {
    pub fn matches(&self, sig: &str, variant: &str) -> bool {
        crate::suppress::glob(&self.signature, sig)
            && self.variants.iter().any(|v| v == "all" || v == variant)
    }
}

const EMBEDDED: &str = include_str!("../known-findings.json");

/// The embedded known-findings list (parsed once; a malformed file fails the build's tests).
pub fn all() -> &'static [Known] {
    static K: OnceLock<Vec<Known>> = OnceLock::new();
    K.get_or_init(|| serde_json::from_str(EMBEDDED).expect("known-findings.json is malformed"))
}

/// The known entry for a finding's signature on a variant, if any.
pub fn lookup(signature: &str, variant: &str) -> Option<&'static Known> {
    all().iter().find(|k| k.matches(signature, variant))
}

/// "known" or "new".
pub fn label(signature: &str, variant: &str) -> &'static str {
    if lookup(signature, variant).is_some() {
        "known"
    } else {
        "new"
    }
}
