// SPDX-License-Identifier: GPL-2.0-only
//! User variants: a patch described as data, loaded at run time, without recompiling.
//!
//! A user variant is a built-in base variant with some switches changed. Two spellings:
//! - inline, wherever a variant name is taken: `v6.15+ext4_atomic_hole_einval` (a yes/no switch
//!   turned on), `v6.18+ext4_iomap_end=WantDirectioFallback+ext4_fallback_warn=no`;
//! - a variant file (JSON), given as the variant (`--variant my-patch.json`, a spec ending in
//!   `.json` or holding a `/`) or through `DIOFUZZ_VARIANT_FILE` for the fuzz targets:
//!
//! ```json
//! {
//!   "name": "ext4-atomic-hole-einval",
//!   "base": "v6.15",
//!   "description": "ext4_iomap_alloc: -EINVAL, not -ENOTBLK, for an atomic write into a hole of an indirect inode",
//!   "switches": {
//!     "ext4_atomic_hole_einval": { "value": true, "commit": "my patch (not posted yet)" }
//!   }
//! }
//! ```
//!
//! Rules: unknown keys, unknown switches and values a switch cannot take are errors that name the
//! valid ones; a change that leaves a switch as the base has it is an error (it would test
//! nothing); a user variant never shares a name with a built-in one. A user variant is not in
//! [`crate::variant::VARIANTS`], so it never becomes [`crate::variant::newest`], never enters a
//! regression's `.expect`, and its findings are labelled known/new by its base's known findings
//! ([`crate::variant::known_as`]).

use crate::variant::{self, Variant};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// The variant file (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    /// The name it is reported under (not a built-in variant's name; no `,` or spaces).
    pub name: String,
    /// The built-in variant it changes.
    pub base: String,
    /// What the patch does, in one line.
    pub description: String,
    /// Switch name -> the new value and the commit or patch it stands for.
    pub switches: BTreeMap<String, SwitchChange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchChange {
    /// true/false (or "yes"/"no") for a yes/no switch, a value name for the others.
    pub value: Value,
    /// The commit, or the patch (subject, mail, file), this change stands for.
    pub commit: String,
}

/// A loaded user variant.
#[derive(Debug)]
pub struct UserVariant {
    pub variant: &'static Variant,
    pub base: &'static Variant,
    /// (switch, base value, new value, commit or patch), in switch order.
    pub changes: Vec<(String, Value, Value, String)>,
    /// Where it came from: the file, or "inline".
    pub source: String,
}

static LOADED: Mutex<Vec<&'static UserVariant>> = Mutex::new(Vec::new());

/// A user variant loaded earlier in this process.
pub fn find(name: &str) -> Option<&'static UserVariant> {
    LOADED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .find(|u| u.variant.name == name)
}

/// Every user variant loaded so far, in load order.
pub fn loaded() -> Vec<&'static UserVariant> {
    LOADED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A variant spec that names a file rather than a variant.
pub fn looks_like_file(spec: &str) -> bool {
    spec.ends_with(".json") || spec.contains('/')
}

const NOT_SWITCHES: [&str; 3] = ["name", "kernel", "about"];

fn switches_of(v: &Variant) -> Map<String, Value> {
    let mut m = match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for k in NOT_SWITCHES {
        m.remove(k);
    }
    m
}

/// The switch names (sorted: the serialised map's order).
pub fn switch_names() -> Vec<String> {
    switches_of(variant::newest()).keys().cloned().collect()
}

/// The values switch `name` can take, as text for an error message.
pub fn valid_values(name: &str) -> String {
    let base = switches_of(variant::newest());
    match base.get(name) {
        Some(Value::Bool(_)) => "true or false (yes or no)".into(),
        Some(_) => {
            // serde names the enum's variants when it meets one it does not know.
            let mut m = base.clone();
            m.insert(name.into(), Value::String("\u{1}".into()));
            match serde_json::from_value::<Variant>(Value::Object(m)) {
                Err(e) => {
                    let t = e.to_string();
                    t.split_once("expected one of ")
                        .map(|(_, rest)| rest.replace('`', ""))
                        .unwrap_or(t)
                }
                Ok(_) => String::new(),
            }
        }
        None => String::new(),
    }
}

fn unknown_switch(name: &str) -> String {
    format!(
        "unknown switch '{name}'; valid switches: {}",
        switch_names().join(", ")
    )
}

/// A value as given (JSON, or inline text) made into the switch's JSON type.
fn normalise(name: &str, base: &Value, v: &Value) -> Result<Value, String> {
    let bad = || {
        format!(
            "switch {name}: {v} is not a value it can take; valid: {}",
            valid_values(name)
        )
    };
    match base {
        Value::Bool(_) => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        },
        _ => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(bad()),
        },
    }
}

/// `base` with `changes` (switch, value) applied; every change checked.
pub fn apply(base: &Variant, changes: &[(String, Value)]) -> Result<Variant, String> {
    let mut m = switches_of(base);
    for (k, v) in changes {
        let Some(old) = m.get(k).cloned() else {
            return Err(unknown_switch(k));
        };
        let v = normalise(k, &old, v)?;
        if v == old {
            return Err(format!(
                "switch {k} is already {v} on {}: the change would test nothing",
                base.name
            ));
        }
        let mut trial = m.clone();
        trial.insert(k.clone(), v.clone());
        serde_json::from_value::<Variant>(Value::Object(trial)).map_err(|_| {
            format!(
                "switch {k}: {v} is not a value it can take; valid: {}",
                valid_values(k)
            )
        })?;
        m.insert(k.clone(), v);
    }
    let mut out: Variant =
        serde_json::from_value(Value::Object(m)).map_err(|e| format!("switches: {e}"))?;
    out.name = base.name;
    out.kernel = base.kernel;
    out.about = base.about;
    Ok(out)
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn builtin_base(name: &str) -> Result<&'static Variant, String> {
    variant::builtin(name).ok_or_else(|| {
        format!(
            "unknown base variant '{name}'; known: {}",
            variant::VARIANTS
                .iter()
                .map(|v| v.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Build, check and register a user variant.
fn register(
    name: &str,
    base: &'static Variant,
    about: String,
    changes: Vec<(String, Value, String)>,
    source: String,
) -> Result<&'static Variant, String> {
    if let Some(u) = find(name) {
        // The same spec resolved twice (e.g. `--compare` and `--variant`): one variant.
        if u.source == source {
            return Ok(u.variant);
        }
        return Err(format!(
            "variant name '{name}' is used by {} already",
            u.source
        ));
    }
    if name.is_empty() || name.contains(',') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "variant name '{name}' must be non-empty, without commas or spaces"
        ));
    }
    if variant::builtin(name).is_some() || name == "all" {
        return Err(format!(
            "variant name '{name}' is a built-in variant's: give the patch its own name"
        ));
    }
    if changes.is_empty() {
        return Err(format!("variant '{name}' changes no switch"));
    }
    let pairs: Vec<(String, Value)> = changes
        .iter()
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect();
    let mut v = apply(base, &pairs)?;
    v.name = leak(name.to_string());
    v.kernel = leak(format!("{} + patch", base.kernel));
    v.about = leak(about);
    let old = switches_of(base);
    let new = switches_of(&v);
    let v: &'static Variant = Box::leak(Box::new(v));
    let changes = changes
        .into_iter()
        .map(|(k, _, c)| {
            let (a, b) = (old[&k].clone(), new[&k].clone());
            (k, a, b, c)
        })
        .collect();
    let u: &'static UserVariant = Box::leak(Box::new(UserVariant {
        variant: v,
        base,
        changes,
        source,
    }));
    LOADED.lock().unwrap_or_else(|e| e.into_inner()).push(u);
    Ok(v)
}

/// `BASE+switch[=value]+...`: a yes/no switch without `=value` is turned on.
pub fn inline(spec: &str) -> Result<&'static Variant, String> {
    let mut parts = spec.split('+').map(str::trim);
    let base = builtin_base(parts.next().unwrap_or(""))?;
    let names = switches_of(base);
    let mut changes = Vec::new();
    for p in parts {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Value::String(v.trim().to_string())),
            None => {
                match names.get(p) {
                    Some(Value::Bool(_)) => {}
                    Some(_) => {
                        return Err(format!(
                            "switch {p} needs a value: {p}=VALUE, one of {}",
                            valid_values(p)
                        ))
                    }
                    None => return Err(unknown_switch(p)),
                }
                (p, Value::Bool(true))
            }
        };
        if k.is_empty() {
            return Err(format!("'{spec}': empty switch name after '+'"));
        }
        changes.push((k.to_string(), v, format!("inline ({spec})")));
    }
    register(
        spec,
        base,
        format!(
            "{} with {}",
            base.name,
            spec.split_once('+').map_or("", |x| x.1)
        ),
        changes,
        "inline".into(),
    )
}

/// Parse a variant file's text (JSON) and register the variant. `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<&'static Variant, String> {
    let f: VariantFile =
        serde_json::from_str(text).map_err(|e| format!("{origin}: not a variant file: {e}"))?;
    let base = builtin_base(&f.base).map_err(|e| format!("{origin}: {e}"))?;
    for (k, c) in &f.switches {
        if c.commit.trim().is_empty() {
            return Err(format!(
                "{origin}: switch {k}: say which commit or patch it stands for (\"commit\")"
            ));
        }
    }
    let changes = f
        .switches
        .into_iter()
        .map(|(k, c)| (k, c.value, c.commit))
        .collect();
    register(&f.name, base, f.description, changes, origin.to_string())
        .map_err(|e| format!("{origin}: {e}"))
}

/// Load a variant file.
pub fn load(path: &Path) -> Result<&'static Variant, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read variant file {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_changes_one_switch_and_keeps_the_rest() {
        let v = inline("v6.15+ext4_fallback_warn=no").unwrap();
        let base = variant::builtin("v6.15").unwrap();
        assert!(!v.ext4_fallback_warn && base.ext4_fallback_warn);
        assert_eq!(v.iter_protocol, base.iter_protocol);
        assert_eq!(variant::known_as(v.name), "v6.15");
        assert_eq!(variant::newest().name, variant::NEWEST);
        // The default variant is one the shipped suppressions cover.
        assert!(crate::target::NEWEST_VARIANTS.contains(&variant::NEWEST));
    }

    #[test]
    fn bad_switches_and_values_name_the_valid_ones() {
        let e = inline("v6.15+ext4_fallback_wrn").unwrap_err();
        assert!(e.contains("unknown switch 'ext4_fallback_wrn'") && e.contains("iter_protocol"));
        let e = inline("v6.15+iter_protocol=Sideways").unwrap_err();
        assert!(
            e.contains("Processed") && e.contains("AdvanceStatus"),
            "{e}"
        );
        let e = inline("v6.15+iter_protocol").unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = inline("v6.15+ext4_fallback_warn=maybe").unwrap_err();
        assert!(e.contains("true or false"), "{e}");
        let e = inline("v6.15+ext4_fallback_warn=yes").unwrap_err();
        assert!(e.contains("already"), "{e}");
        let e = inline("v9.9+ext4_fallback_warn").unwrap_err();
        assert!(e.contains("unknown base variant 'v9.9'"), "{e}");
    }

    #[test]
    fn variant_files_are_strict() {
        let e = parse(
            r#"{"name":"p","base":"v6.15","description":"d","switchez":{}}"#,
            "f.json",
        )
        .unwrap_err();
        assert!(
            e.contains("unknown field `switchez`") && e.contains("switches"),
            "{e}"
        );
        let e = parse(
            r#"{"name":"v6.15","base":"v6.15","description":"d","switches":{"ext4_fallback_warn":{"value":false,"commit":"x"}}}"#,
            "f.json",
        )
        .unwrap_err();
        assert!(e.contains("built-in"), "{e}");
        let e = parse(
            r#"{"name":"p2","base":"v6.15","description":"d","switches":{"ext4_fallback_warn":{"value":false,"commit":""}}}"#,
            "f.json",
        )
        .unwrap_err();
        assert!(e.contains("commit"), "{e}");
        let v = parse(
            r#"{"name":"p3","base":"v6.15","description":"d","switches":{"ext4_fallback_warn":{"value":false,"commit":"x"}}}"#,
            "f.json",
        )
        .unwrap();
        assert_eq!(v.name, "p3");
        assert!(variant::resolve("all")
            .unwrap()
            .iter()
            .all(|b| b.name != "p3"));
    }
}
