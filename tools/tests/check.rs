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

/// The default domain's pairwise slice: every pair of values of any two dimensions is in some
/// input, except the pairs reported infeasible (no real world holds them); every input is a real,
/// encodable world; pairs that need several dimensions to agree are found.
#[test]
fn pairwise_slice_leaves_no_pair_uncovered() {
    let d = Domain::parse(DEFAULT_DOMAIN).unwrap();
    assert_eq!(d.coverage.len(), 1, "one pairwise slice");
    let si = d.rows.iter().position(|r| r.is_some()).unwrap();
    let (dims, rows) = (&d.slices[si], d.rows[si].as_ref().unwrap());
    let sizes: Vec<usize> = dims.iter().map(|(_, v)| v.len()).collect();
    let cov = &d.coverage[0];
    let uncovered = diofuzz::pairwise::uncovered(&sizes, rows);
    assert_eq!(uncovered.len(), cov.infeasible.len());
    assert_eq!(cov.covered + cov.infeasible.len() as u64, cov.pairs);
    assert!(rows.len() < 1000, "{} rows", rows.len());
    let desc = |a: usize, va: usize, b: usize, vb: usize| {
        format!(
            "{}={} & {}={}",
            dims[a].0, dims[a].1[va], dims[b].0, dims[b].1[vb]
        )
    };
    let reported: Vec<&String> = cov.infeasible.iter().map(|(p, _)| p).collect();
    for p in &uncovered {
        let s = desc(p.a, p.va, p.b, p.vb);
        assert!(reported.contains(&&s), "{s} is uncovered and not reported");
    }
    // every input of the slice is a real, encodable world
    let first: u64 = (0..si)
        .map(|i| match &d.rows[i] {
            Some(r) => r.len() as u64,
            None => d.slices[i].iter().map(|(_, v)| v.len() as u64).product(),
        })
        .sum();
    for i in 0..rows.len() as u64 {
        let s = d.get(first + i).unwrap();
        s.encode().unwrap();
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
    }
    // combinations the issue named, and ones that need three or more dimensions to agree
    for (ka, va, kb, vb) in [
        ("rlimit", "8192", "rwf", "\"atomic\""),
        ("buf_align", "1", "mount", "\"xfs_always_cow\""),
        ("fault_at", "2048", "open", "\"direct|append\""),
        ("fault", "\"BioEndIo:EAGAIN:0\"", "open", "\"\""),
        ("fault", "\"BioEndIo:EAGAIN:0\"", "inode", "\"dax\""),
        (
            "fault",
            "\"XfsIomapBegin:ENOSPC:0\"",
            "inode",
            "\"immutable\"",
        ),
    ] {
        let s = format!("{ka}={va} & {kb}={vb}");
        let t = format!("{kb}={vb} & {ka}={va}");
        assert!(
            !reported.contains(&&s) && !reported.contains(&&t),
            "{s} should be covered"
        );
        assert!(
            dims.iter().any(|(k, v)| k == ka
                && v.contains(&serde_json::from_str::<serde_json::Value>(va).unwrap())),
            "{ka}={va} is not a value of the slice"
        );
    }
}

/// The default domain's targeted slices (issue 14): small products in which most inputs hold a
/// known finding whose fields must agree several at a time (the wide slices held them rarely or
/// never), so that `check` finds it on every variant known-findings.json lists it for and the
/// mutator's domain step draws it often. Each entry: the start of the slice's name, and the
/// known-findings.json patterns it finds.
const TARGETED: [(&str, &[&str]); 17] = [
    (
        "ext4: atomic writes across i_size or with O_DSYNC",
        &[
            "O2:*size update failed after the data was written*",
            "O2:*generic_write_sync failed after the data was written*",
        ],
    ),
    (
        "block device and XFS: atomic O_DSYNC writes",
        &["O2:*generic_write_sync failed after the data was written*"],
    ),
    (
        "ext4: atomic writes into a hole of an indirect-mapped inode",
        &["*S3: ext4_iomap_alloc: hole in an indirect inode -> -ENOTBLK*"],
    ),
    (
        "ext4: O_APPEND writes at an EOF one sector past a block",
        &[
            "*->iomap_end returned -ENOTBLK after zero progress*__iomap_dio_rw consumed -ENOTBLK*buffered write (generic_perform_write)*",
            "*tail zeroing overwrote the error*buffered write (generic_perform_write)*",
        ],
    ),
    (
        "ext4: atomic writes whose user buffer faults at a page boundary",
        &[
            "*iomap_dio_bio_iter: atomic bio shorter than the length*",
            "*iomap_dio_bio_iter: atomic bio shorter than the length*bio_put() without bio_release_pages()*",
        ],
    ),
    (
        "block device: atomic writes whose user buffer faults part-way",
        &["*bio_iov_iter_get_pages: pinned only part of the buffer*"],
    ),
    (
        "XFS always-CoW: writes past a sub-block EOF",
        &["O6:xfs:*shared extent -> CoW mapping*tail zeroing overwrote the error*"],
    ),
    (
        "XFS always-CoW: atomic writes from a user buffer not block aligned",
        &["*always-CoW inode with a user buffer not block aligned -> unaligned path*CoW inode -> -ENOTBLK*"],
    ),
    (
        "XFS: unaligned writes over holes and unwritten blocks",
        &["*head zeroing over data this DIO already wrote*"],
    ),
    ("ext4 data=journal: atomic writes truncated", &["*truncated*"]),
    ("block device: atomic writes past the device end", &["*truncated*"]),
    ("XFS: atomic writes truncated by RLIMIT_FSIZE", &["*truncated*"]),
    (
        "XFS: software atomic writes past EOF",
        &["O2:xfs:*tail zeroing overwrote the error*"],
    ),
    (
        "XFS always-CoW: async O_APPEND atomic writes",
        &["*CoW range not HW-atomic -> -ENOPROTOOPT>*async DIO queued (-EIOCBQUEUED)*"],
    ),
    (
        "ext4 bigalloc, encrypted with inline crypto",
        &["*fscrypt_limit_io_blocks shortened the mapping>*ext4_iomap_begin: WARN_ON_ONCE(atomic mapping shorter than the write)*"],
    ),
    (
        "block device: writes from a misaligned buffer",
        &["*direct_write_fallback: flush failed, ki_pos rolled back over the buffered bytes*"],
    ),
    (
        "ext4: O_DIRECT writes past EOF into preallocated blocks",
        &[
            "*short DIO -> buffered fallback of the remainder*ext4_dio_write_iter: buffered fallback failed, DIO bytes discarded from the result",
            "*short DIO -> buffered fallback of the remainder*",
        ],
    ),
];

/// Each targeted slice: every input is a real, encodable world and the slice finds each of its
/// findings; together they find each finding on every variant known-findings.json lists it for
/// (so the whole default domain does too).
#[test]
fn targeted_slices_are_real_worlds_and_find_their_findings_on_every_listed_variant() {
    let text: serde_json::Value = serde_json::from_str(DEFAULT_DOMAIN).unwrap();
    let slices = text["slices"].as_array().unwrap();
    let all: Vec<_> = diofuzz::variant::VARIANTS.iter().collect();
    let known = diofuzz::known::all();
    // (known entry, variant) pairs some targeted slice finds.
    let mut found = std::collections::HashSet::new();
    for (prefix, patterns) in TARGETED {
        let slice = slices
            .iter()
            .find(|s| s["name"].as_str().unwrap_or("").starts_with(prefix))
            .unwrap_or_else(|| panic!("no slice named '{prefix}...' in the default domain"));
        let d = Domain::parse(&serde_json::json!({ "slices": [slice] }).to_string()).unwrap();
        assert!(
            d.size() <= 400,
            "{prefix}: {} inputs: keep it targeted",
            d.size()
        );
        for i in 0..d.size() {
            let s = d.get(i).unwrap();
            s.encode().unwrap();
            assert!(
                diofuzz::validity::is_valid(&s),
                "{prefix}: input {i}: {:?}",
                diofuzz::validity::violations(&s)
            );
        }
        let r = check(&d, &all, 2, false).unwrap();
        assert!(r.unreal.is_empty(), "{prefix}: {:?}", r.unreal);
        let sigs = r.signatures();
        for pat in patterns.iter() {
            let entries: Vec<usize> = (0..known.len())
                .filter(|&k| known[k].signature == *pat)
                .collect();
            assert!(!entries.is_empty(), "{pat} is not in known-findings.json");
            let before = found.len();
            for &k in &entries {
                for (var, s) in &sigs {
                    if known[k].matches(s, var) {
                        found.insert((k, var.clone()));
                    }
                }
            }
            assert!(found.len() > before, "{prefix}: finds {pat} on no variant");
        }
    }
    for (_, patterns) in TARGETED {
        for pat in patterns.iter() {
            for (k, e) in known
                .iter()
                .enumerate()
                .filter(|(_, e)| e.signature == *pat)
            {
                for v in &all {
                    // v6.12 has no ext4 atomic writes: the thread chain there is a non-atomic
                    // O8 (the tail-zeroing entry, checked above), outside this entry's O1/O2/O3/O7
                    // scope.
                    let listed = e.variants.iter().any(|x| x == "all" || x == v.name);
                    if !listed || (v.name == "v6.12" && pat.starts_with("*->iomap_end returned")) {
                        continue;
                    }
                    assert!(
                        found.contains(&(k, v.name.to_string())),
                        "no targeted slice finds {pat} (known entry {k}) on {}",
                        v.name
                    );
                }
            }
        }
    }
}
