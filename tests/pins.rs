// SPDX-License-Identifier: GPL-2.0-only
//! O9: user pages pinned into bios (bio_iov_iter_get_pages, FOLL_PIN) are released exactly once
//! (bio_release_pages) on every path. Per variant: the atomic short-bio WARN path leaked them until
//! 7.1; every other path of every variant is balanced.

use diofuzz::model::run_quiet;
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::Scenario;
use diofuzz::variant::{by_name, VARIANTS};
use std::path::PathBuf;

fn regression(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/regressions")
        .join(name);
    Scenario::decode(&std::fs::read(p).unwrap()).unwrap()
}

const LEAK: &str = "bio_put() without bio_release_pages()";

#[test]
fn atomic_short_bio_leaked_its_pins_until_7_1() {
    let s = regression("atomic_bio_shorter_than_length");
    for v in VARIANTS.iter() {
        let x = run_quiet(&s, v);
        let warned = !x.warns.is_empty();
        let o9 = check(&x).iter().any(|f| f.property == Prop::O9);
        if warned && !v.dio_atomic_short_releases_pages {
            assert!(o9 && x.pinned_left > 0, "{}: leak expected", v.name);
            assert!(x.path.contains(&"iomap_dio_bio_iter: bio_put() without bio_release_pages(): pinned user pages leak"));
        } else {
            assert!(!o9 && x.pinned_left == 0, "{}", v.name);
        }
    }
    // the WARN itself stays on 7.1+, only the pins are released
    let x = run_quiet(&s, by_name("v7.1").unwrap());
    assert!(!x.warns.is_empty() && x.pinned_left == 0);
    assert!(!run_quiet(&s, by_name("v7.0").unwrap())
        .pin_errors
        .iter()
        .any(|_| true));
}

/// Every committed input on every variant: pins balanced (no leak, no double release) except on
/// the known leak path.
#[test]
fn pins_are_balanced_on_every_other_path() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["corpus/dio_write", "corpus/regressions"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') || name.ends_with(".expect") || name.ends_with(".md") {
                continue;
            }
            let s = Scenario::decode(&std::fs::read(&p).unwrap()).unwrap();
            for v in VARIANTS.iter() {
                let x = run_quiet(&s, v);
                n += 1;
                assert!(
                    x.pin_errors.is_empty(),
                    "{name} on {}: {:?}",
                    v.name,
                    x.pin_errors
                );
                if !x.path.iter().any(|d| d.contains(LEAK)) {
                    assert_eq!(x.pinned_left, 0, "{name} on {}: {:?}", v.name, x.path);
                }
            }
        }
    }
    assert!(n > 500);
    // and pseudo-random inputs (xorshift), which reach the bdev, XFS and fault paths
    let mut seed = 0x2545f4914f6cdd1du64;
    for i in 0..3000 {
        let data: Vec<u8> = (0..(i % 80))
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 16) as u8
            })
            .collect();
        let Ok(s) = Scenario::decode(&data) else {
            continue;
        };
        for v in [
            by_name("v6.13").unwrap(),
            by_name("v7.0").unwrap(),
            by_name("v7.3").unwrap(),
        ] {
            let x = run_quiet(&s, v);
            assert!(x.pin_errors.is_empty(), "{data:?} on {}", v.name);
            if !x.path.iter().any(|d| d.contains(LEAK)) {
                assert_eq!(x.pinned_left, 0, "{data:?} on {}: {:?}", v.name, x.path);
            }
        }
    }
}
