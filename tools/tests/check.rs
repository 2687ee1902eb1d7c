// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz check`: domains parse and expand, bad domains are refused, and a small domain finds
//! exactly the root causes each variant has.

use diofuzz::variant::by_name;
use diofuzz_tools::check::{check, Domain, DEFAULT_DOMAIN};

#[test]
fn default_domain_parses_and_is_bounded() {
    let d = Domain::parse(DEFAULT_DOMAIN).unwrap();
    assert!(d.size() > 300_000, "{}", d.size());
    assert!(d.size() < 2_000_000, "{}", d.size());
    // Every input of the default domain encodes (so every counterexample is replayable).
    for i in (0..d.size()).step_by(97) {
        d.get(i).unwrap().encode().unwrap();
    }
}

#[test]
fn bad_domains_are_refused_with_a_reason() {
    for (text, want) in [
        ("{}", "slices"),
        (r#"{"slices": [{"pos": 5}]}"#, "must be a list"),
        (r#"{"slices": [{"bogus": [1]}]}"#, "unknown dimension"),
        (
            r#"{"slices": [{"blocks": ["WQ"]}]}"#,
            "unknown block letter",
        ),
        (
            r#"{"slices": [{"fault": ["Ext4OrphanAdd:EFAULT:0"]}]}"#,
            "cannot return",
        ),
        (r#"{"slices": [{"inode": ["nosuchflag"]}]}"#, "unknown flag"),
        (r#"{"slices": [{"pos": []}]}"#, "empty"),
    ] {
        let e = Domain::parse(text)
            .err()
            .unwrap_or_else(|| panic!("{text} was accepted"));
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn expansions() {
    let d = Domain::parse(
        r#"{"slices": [{"blocks": ["all:3:HW"], "fault": ["none", "Ext4OrphanAdd:EIO:1"]}]}"#,
    )
    .unwrap();
    assert_eq!(d.size(), 8 * 2);
    let all = Domain::parse(r#"{"slices": [{"fault": ["all"]}]}"#).unwrap();
    assert!(all.size() > 100);
}

/// The thread's root cause on a small domain: found on thread-v1, absent on v6.13.
#[test]
fn small_domain_separates_the_variants() {
    let d = Domain::parse(
        r#"{"slices": [{
            "blocks": ["W", "WH"], "i_size": [4096, 4608], "open": ["direct|append"], "rwf": ["atomic"],
            "pos": [0], "len": [4096], "fault": ["none", "DioGetPages:ENOMEM:0"]
        }]}"#,
    )
    .unwrap();
    let vs = [by_name("thread-v1").unwrap(), by_name("v6.13").unwrap()];
    let r = check(&d, &vs, 2, false).unwrap();
    assert_eq!(r.inputs, 8);
    let sigs = r.signatures();
    let has = |v: &str, pat: &str| sigs.iter().any(|(var, s)| var == v && s.contains(pat));
    assert!(
        has(
            "thread-v1",
            "->iomap_end returned -ENOTBLK after zero progress"
        ),
        "{sigs:?}"
    );
    assert!(
        !has("v6.13", "->iomap_end returned -ENOTBLK after zero progress"),
        "{sigs:?}"
    );
    assert!(
        has(
            "v6.13",
            "WARN_ON_ONCE(IOCB_ATOMIC) before the buffered fallback"
        ),
        "{sigs:?}"
    );
}
