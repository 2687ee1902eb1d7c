// SPDX-License-Identifier: GPL-2.0-only
//! Stable point releases as data: a variant models x.y.0, and a stable release x.y.z carries
//! backported fixes. Each entry here is one backport: the stable series it went into, the first
//! point release known to carry it, the mainline commit it backports (the variant switch it
//! overrides is named after that commit), and the evidence. `for_release("6.17.13")` lists the
//! backports of a release, and [`apply`] makes "v6.17 plus the backports in 6.17.13".
//!
//! `since` is the oldest point release in which the backport was *observed* (`diofuzz lab` on
//! Debian's kernels, docs/lab-bench.md) or read; an older release of the series may carry it too.
//! This table is separate from src/variant.rs on purpose: it overrides switches, it defines none.

use crate::variant::Variant;

/// One backported change.
pub struct Backport {
    /// The mainline commit (or release, when no id is known) the backport carries.
    pub commit: &'static str,
    /// What the switch change means.
    pub title: &'static str,
    /// The stable series (major, minor) it went into.
    pub series: (u32, u32),
    /// The first point release known to carry it.
    pub since: u32,
    /// Where that is known from.
    pub evidence: &'static str,
    /// The switch override.
    pub apply: fn(&mut Variant),
}

impl Backport {
    /// "6.17.13+" style label of where it holds.
    pub fn holds_from(&self) -> String {
        format!("{}.{}.{}", self.series.0, self.series.1, self.since)
    }
}

/// The backports, oldest series first.
pub static BACKPORTS: &[Backport] = &[
    Backport {
        commit: "c3be7ebbbce5",
        title: "generic_atomic_write_valid() takes the iocb and checks IOCB_DIRECT",
        series: (6, 12),
        since: 107,
        evidence: "variant.rs (atomic_valid_checks_direct: 6.13, also in 6.12.y); oldest Debian 6.12 build is 6.12.107",
        apply: |v| v.atomic_valid_checks_direct = true,
    },
    Backport {
        commit: "block: Don't allow an atomic write be truncated in blkdev_write_iter()",
        title: "an atomic write past the block device end is -EINVAL instead of truncated",
        series: (6, 12),
        since: 107,
        evidence: "variant.rs (bdev_atomic_no_truncate: 6.13, also in 6.12.y)",
        apply: |v| v.bdev_atomic_no_truncate = true,
    },
    Backport {
        commit: "963845748fe6",
        title: "ext4 has no ->iomap_end: a zero-progress DIO error (misaligned buffer -EINVAL) is returned, not sent to the buffered path",
        series: (6, 17),
        since: 8,
        evidence: "diofuzz lab (docs/lab-bench.md): on Debian 6.17.13 it alone turns 52 of 1500 disagreements with v6.17 into agreement (misaligned-buffer ext4 O_DIRECT writes return -EINVAL, the v6.18 behaviour, where v6.17 falls back to buffered IO); on 6.17.8 (the oldest Debian 6.17 build) the same 14 of 150 ext4-loop scenarios disagree with plain v6.17",
        apply: |v| v.ext4_iomap_end = crate::variant::Ext4IomapEnd::None,
    },
    Backport {
        commit: "8d54eacd82a0",
        title: "XFS software atomic writes convert a delalloc CoW reservation before use (no -EIO)",
        series: (6, 17),
        since: 8,
        evidence: "stable 8e31320fd1c3 in the 13 Nov 2025 linux-6.17.y push; diofuzz repro corpus/regressions/cow_xfs_atomic_delalloc_eio --run --kernel K (docs/model-state.md): Debian 6.16.12 returns -EIO as v6.16 predicts, 6.17.8 and 6.17.13 write the 4096 bytes",
        apply: |v| v.xfs_atomic_cow_convert_delay = true,
    },
    Backport {
        commit: "8d7bba1e8314",
        title: "XFS software atomic writes convert only the CoW mapping returned, not the whole write range",
        series: (6, 17),
        since: 8,
        evidence: "stable 77a1fb9d17af in the same 13 Nov 2025 linux-6.17.y push as 8e31320fd1c3 (docs/model-state.md)",
        apply: |v| v.xfs_atomic_cow_trim = true,
    },
];

/// Parse "6.17.13+deb13-amd64" (or "6.17.13", "v6.17.13") into (6, 17, 13); the point release
/// is 0 when absent.
pub fn parse_release(rel: &str) -> Option<(u32, u32, u32)> {
    let mut p = rel
        .trim()
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit());
    let maj = p.next()?.parse().ok()?;
    let min = p.next()?.parse().ok()?;
    let pt = p.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    Some((maj, min, pt))
}

/// The backports a release carries (empty for an x.y.0 or an unknown series).
pub fn for_release(rel: &str) -> Vec<&'static Backport> {
    let Some((a, b, c)) = parse_release(rel) else {
        return Vec::new();
    };
    BACKPORTS
        .iter()
        .filter(|bp| bp.series == (a, b) && c >= bp.since)
        .collect()
}

/// `base` with the switch overrides of `bps` applied (the name stays the base's; the caller names
/// the result, e.g. "v6.17+6.17.13").
pub fn apply(base: &Variant, bps: &[&Backport]) -> Variant {
    let mut v = base.clone();
    for bp in bps {
        (bp.apply)(&mut v);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variant;

    #[test]
    fn releases_parse() {
        assert_eq!(parse_release("6.17.13+deb13-amd64"), Some((6, 17, 13)));
        assert_eq!(parse_release("v7.3"), Some((7, 3, 0)));
        assert_eq!(parse_release("garbage"), None);
    }

    #[test]
    fn a_release_gets_its_series_backports_only() {
        let names = |r: &str| for_release(r).iter().map(|b| b.commit).collect::<Vec<_>>();
        let six_17 = vec!["963845748fe6", "8d54eacd82a0", "8d7bba1e8314"];
        assert_eq!(names("6.17.13+deb13-amd64"), six_17);
        assert_eq!(names("6.17.8"), six_17);
        assert!(
            names("6.17.7").is_empty(),
            "before the first release known to carry it"
        );
        assert!(names("6.18.15").is_empty(), "another series");
        assert_eq!(names("6.12.117").len(), 2);
    }

    #[test]
    fn apply_overrides_only_the_named_switches() {
        let base = variant::by_name("v6.17").unwrap();
        let v = apply(base, &for_release("6.17.13"));
        assert_eq!(v.ext4_iomap_end, variant::Ext4IomapEnd::None);
        assert_ne!(base.ext4_iomap_end, variant::Ext4IomapEnd::None);
        // Everything else is the base's.
        let mut back = v.clone();
        back.ext4_iomap_end = base.ext4_iomap_end;
        back.xfs_atomic_cow_convert_delay = base.xfs_atomic_cow_convert_delay;
        back.xfs_atomic_cow_trim = base.xfs_atomic_cow_trim;
        assert!(v.xfs_atomic_cow_convert_delay && v.xfs_atomic_cow_trim);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(base).unwrap()
        );
        // Every backport changes something in its series' variant (none is a no-op).
        for bp in BACKPORTS {
            let b = variant::by_name(&format!("v{}.{}", bp.series.0, bp.series.1)).unwrap();
            let after = apply(b, &[bp]);
            assert_ne!(
                serde_json::to_string(&after).unwrap(),
                serde_json::to_string(b).unwrap(),
                "{} is a no-op on v{}.{}",
                bp.commit,
                bp.series.0,
                bp.series.1
            );
        }
    }
}
