// SPDX-License-Identifier: GPL-2.0-only
//! The fuzz targets take a patch described as data through DIOFUZZ_VARIANT_FILE (one test in its
//! own process: it sets the environment).

#[test]
fn fuzz_targets_read_a_variant_file_from_the_environment() {
    let f = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/patches/ext4-atomic-hole-einval.json"
    );
    std::env::remove_var("DIOFUZZ_VARIANT");
    std::env::remove_var("DIOFUZZ_SUPPRESS");
    std::env::set_var("DIOFUZZ_VARIANT_FILE", f);
    let cfg = diofuzz::target::config_from_env().unwrap();
    let names: Vec<&str> = cfg.variants.iter().map(|v| v.name).collect();
    assert_eq!(names, ["ext4-atomic-hole-einval"]);
    // Its base (v6.15) is not one of the newest: no default suppressions, as for v6.15.
    assert!(cfg.suppress.is_empty());
    // The patch closes S3: the committed S3 input finds nothing on it.
    let s3 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/regressions/thread_s3_indirect_hole"
    ))
    .unwrap();
    assert!(diofuzz::target::first_finding(&s3, &cfg).is_none());
    // With DIOFUZZ_VARIANT too, both run.
    std::env::set_var("DIOFUZZ_VARIANT", "v6.15");
    let cfg = diofuzz::target::config_from_env().unwrap();
    assert_eq!(cfg.variants.len(), 2);
    assert!(diofuzz::target::first_finding(&s3, &cfg).is_some());
    // A bad file is a configuration error naming the variable.
    std::env::set_var("DIOFUZZ_VARIANT_FILE", "/nonexistent/patch.json");
    let e = diofuzz::target::config_from_env().err().unwrap();
    assert!(
        e.contains("DIOFUZZ_VARIANT_FILE") && e.contains("/nonexistent/patch.json"),
        "{e}"
    );
}
