// SPDX-License-Identifier: GPL-2.0-only
//! Regression files: corpus/regressions/NAME holds the input, NAME.expect the expectation (for
//! every variant, the sorted finding signatures; an empty list = no finding). `cargo test` replays
//! them all and fails if an expectation changes; `diofuzz keep FILE --name NAME` adds one.

use crate::oracle;
use crate::scenario::Scenario;
use crate::variant::VARIANTS;
use std::collections::BTreeMap;
use std::path::Path;

pub type Expectation = BTreeMap<String, Vec<String>>;

/// What every variant reports for a scenario now.
pub fn expectation(s: &Scenario) -> Expectation {
    VARIANTS
        .iter()
        .map(|v| {
            let x = crate::model::run_quiet(s, v);
            let mut sigs: Vec<String> =
                oracle::check(&x).into_iter().map(|f| f.signature).collect();
            sigs.sort();
            sigs.dedup();
            (v.name.to_string(), sigs)
        })
        .collect()
}

/// Write DIR/NAME (the encoded scenario) and DIR/NAME.expect.
pub fn keep(dir: &Path, name: &str, s: &Scenario) -> Result<Expectation, String> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') || name.ends_with(".expect") {
        return Err(format!("bad regression name '{name}'"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let bytes = s.encode().map_err(|e| e.to_string())?;
    let e = expectation(s);
    std::fs::write(dir.join(name), bytes).map_err(|e| format!("cannot write {name}: {e}"))?;
    let text = serde_json::to_string_pretty(&e).map_err(|e| e.to_string())? + "\n";
    std::fs::write(dir.join(format!("{name}.expect")), text)
        .map_err(|e| format!("cannot write {name}.expect: {e}"))?;
    Ok(e)
}

/// Read NAME.expect.
pub fn load_expectation(path: &Path) -> Result<Expectation, String> {
    let t = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path.display()))
}
