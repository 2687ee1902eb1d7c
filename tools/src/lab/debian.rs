// SPDX-License-Identifier: GPL-2.0-only
//! Debian's kernels: a private apt configuration in the cache (the host's apt sources are never
//! touched) naming the suites trixie and trixie-backports, the catalogue of kernels it offers,
//! the packages that hold a kernel and its modules, and the download (apt-get download, so the
//! packages are verified as apt verifies them: signed Release file -> Packages hashes -> .deb
//! hash) and unpacking into the cache.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The archive the suites come from, when the host's sources name no Debian mirror.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Suites that carry the kernels (amd64, flavour "amd64").
pub const SUITES: [&str; 2] = ["trixie", "trixie-backports"];

/// A kernel release of the archive and the packages that boot it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// "7.3.4"
    pub version: String,
    /// "7.3.4+deb13-amd64" (the modules folder name, `uname -r`).
    pub release: String,
    /// Packages to download: kernel image and modules.
    pub packages: Vec<String>,
    /// Why it cannot run the lab (no modules package), if so.
    pub unusable: Option<String>,
}

/// (major, minor, point) of "7.3.4".
pub fn version_key(v: &str) -> (u32, u32, u32) {
    let mut p = v.split(|c: char| !c.is_ascii_digit());
    let mut n = || p.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (n(), n(), n())
}

/// The kernels in a list of package names (the archive index): for each version, the package
/// set. Up to 6.18 (and 6.12) `linux-image-V-amd64(-unsigned)` holds kernel and modules; from
/// 6.19 `linux-binary-V-amd64` holds the kernel and `linux-modules-V-amd64` the modules.
pub fn catalogue<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Kernel> {
    // release -> which package kinds exist
    #[derive(Default)]
    struct Has {
        image: bool,
        unsigned: bool,
        binary: bool,
        modules: bool,
    }
    let mut m: BTreeMap<String, Has> = BTreeMap::new();
    for n in names {
        let n = n.trim();
        let (kind, rest) = if let Some(r) = n.strip_prefix("linux-image-") {
            ("image", r)
        } else if let Some(r) = n.strip_prefix("linux-binary-") {
            ("binary", r)
        } else if let Some(r) = n.strip_prefix("linux-modules-") {
            ("modules", r)
        } else {
            continue;
        };
        let (rel, unsigned) = match rest.strip_suffix("-unsigned") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        // Only the generic amd64 flavour: "X.Y.Z+debNN-amd64" (not -cloud-amd64, -rt-amd64).
        let Some(base) = rel.strip_suffix("-amd64") else {
            continue;
        };
        let Some((ver, abi)) = base.split_once('+') else {
            continue;
        };
        if abi.contains('-') || !ver.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            continue;
        }
        if ver.split('.').count() != 3 || !ver.split('.').all(|x| x.parse::<u32>().is_ok()) {
            continue;
        }
        let h = m.entry(rel.to_string()).or_default();
        match (kind, unsigned) {
            ("image", true) => h.unsigned = true,
            ("image", false) => h.image = true,
            ("binary", _) => h.binary = true,
            _ => h.modules = true,
        }
    }
    let mut out: Vec<Kernel> = m
        .into_iter()
        .filter_map(|(rel, h)| {
            let version = rel.split('+').next()?.to_string();
            let (packages, unusable) = if h.binary {
                if h.modules {
                    (
                        vec![format!("linux-binary-{rel}"), format!("linux-modules-{rel}")],
                        None,
                    )
                } else {
                    (
                        vec![format!("linux-binary-{rel}")],
                        Some(format!(
                            "no linux-modules-{rel} package in the archive: ext4, XFS and scsi_debug cannot be loaded"
                        )),
                    )
                }
            } else if h.unsigned {
                (vec![format!("linux-image-{rel}-unsigned")], None)
            } else if h.image {
                (vec![format!("linux-image-{rel}")], None)
            } else {
                return None;
            };
            Some(Kernel {
                version,
                release: rel,
                packages,
                unusable,
            })
        })
        .collect();
    out.sort_by_key(|k| version_key(&k.version));
    out
}

/// Resolve the user's `--kernel` list against the catalogue: "7.3" means the newest 7.3.x,
/// "7.3.4" that release, "newest" the newest usable release, "all" the newest usable release of
/// every series (newest first).
pub fn select(cat: &[Kernel], want: &str) -> Result<Vec<Kernel>, String> {
    let usable: Vec<&Kernel> = cat.iter().filter(|k| k.unusable.is_none()).collect();
    let series = |k: &Kernel| {
        let (a, b, _) = version_key(&k.version);
        (a, b)
    };
    if want.trim() == "newest" {
        return usable
            .last()
            .map(|k| vec![(*k).clone()])
            .ok_or_else(|| format!("no usable kernel; available: {}", available(cat)));
    }
    if want.trim() == "all" {
        let mut newest: BTreeMap<(u32, u32), &Kernel> = BTreeMap::new();
        for k in &usable {
            newest.insert(series(k), k);
        }
        return Ok(newest.values().rev().map(|k| (*k).clone()).collect());
    }
    let mut out = Vec::new();
    for w in want.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let w = w.trim_start_matches('v');
        let parts = w.split('.').count();
        let found: Vec<&Kernel> = cat
            .iter()
            .filter(|k| k.version == w || (parts == 2 && k.version.starts_with(&format!("{w}."))))
            .collect();
        let Some(k) = found.iter().rev().find(|k| k.unusable.is_none()) else {
            let why = found
                .last()
                .and_then(|k| k.unusable.clone())
                .map(|u| format!(" ({u})"))
                .unwrap_or_default();
            return Err(format!(
                "unknown kernel version {w}{why}; available: {}",
                available(cat)
            ));
        };
        out.push((*k).clone());
    }
    if out.is_empty() {
        return Err(format!("no kernel named; available: {}", available(cat)));
    }
    Ok(out)
}

/// "6.12.117, 6.16.12, ..." — the usable releases, newest of each series last.
pub fn available(cat: &[Kernel]) -> String {
    let v: Vec<String> = cat
        .iter()
        .filter(|k| k.unusable.is_none())
        .map(|k| k.version.clone())
        .collect();
    if v.is_empty() {
        "none (is the archive reachable?)".into()
    } else {
        v.join(", ")
    }
}

/// The private apt configuration under `dir` (sources.list, lists/).
pub struct Apt {
    pub dir: PathBuf,
}

impl Apt {
    pub fn new(dir: &Path) -> Result<Apt, String> {
        fs::create_dir_all(dir.join("lists/partial"))
            .map_err(|e| format!("create {}: {e}", dir.display()))?;
        let src = dir.join("sources.list");
        let mirror = host_mirror().unwrap_or_else(|| DEFAULT_MIRROR.to_string());
        let body: String = SUITES
            .iter()
            .map(|s| {
                format!(
                    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} {s} main\n"
                )
            })
            .collect();
        if fs::read_to_string(&src).ok().as_deref() != Some(body.as_str()) {
            fs::write(&src, body).map_err(|e| format!("write {}: {e}", src.display()))?;
        }
        Ok(Apt {
            dir: dir.to_path_buf(),
        })
    }

    /// The -o options that make apt use only this configuration.
    pub fn opts(&self) -> Vec<String> {
        let mut v = vec![
            format!(
                "Dir::Etc::sourcelist={}",
                self.dir.join("sources.list").display()
            ),
            "Dir::Etc::sourceparts=-".into(),
            format!("Dir::State::Lists={}", self.dir.join("lists").display()),
            "Dir::Cache::pkgcache=".into(),
            "Dir::Cache::srcpkgcache=".into(),
            "Acquire::Languages=none".into(),
        ];
        if nix::unistd::geteuid().is_root() {
            // Downloads go into the user's cache, which apt's _apt user cannot write.
            v.push("APT::Sandbox::User=root".into());
        }
        v.into_iter().flat_map(|o| ["-o".to_string(), o]).collect()
    }

    fn lists_age_secs(&self) -> Option<u64> {
        let rd = fs::read_dir(self.dir.join("lists")).ok()?;
        rd.flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("InRelease"))
            .filter_map(|e| e.metadata().ok()?.modified().ok()?.elapsed().ok())
            .map(|d| d.as_secs())
            .min()
    }

    /// `apt-get update` of the private lists when they are missing or older than a day.
    pub fn update(&self, force: bool) -> Result<(), String> {
        if !force && self.lists_age_secs().is_some_and(|a| a < 86400) {
            return Ok(());
        }
        let out = Command::new("apt-get")
            .args(self.opts())
            .args(["-q", "update"])
            .output()
            .map_err(|e| format!("apt-get: {e} (the lab downloads Debian's kernels with apt)"))?;
        if !out.status.success() {
            return Err(format!(
                "apt-get update of the private lists failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Package names of the kernels in the private lists.
    pub fn kernel_names(&self) -> Result<Vec<String>, String> {
        let out = Command::new("apt-cache")
            .args(self.opts())
            .args(["pkgnames", "linux-"])
            .output()
            .map_err(|e| format!("apt-cache: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "apt-cache pkgnames: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// `apt-get download` the packages into `dir` (verified by apt).
    pub fn download(&self, pkgs: &[String], dir: &Path) -> Result<Vec<PathBuf>, String> {
        fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let out = Command::new("apt-get")
            .args(self.opts())
            .args(["-q", "download"])
            .args(pkgs)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("apt-get download: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "apt-get download {}: {}",
                pkgs.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let mut debs = Vec::new();
        for e in fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.ends_with(".deb") && pkgs.iter().any(|p| n.starts_with(&format!("{p}_"))) {
                debs.push(e.path());
            }
        }
        if debs.len() != pkgs.len() {
            return Err(format!(
                "apt-get download left {} of {} packages in {}",
                debs.len(),
                pkgs.len(),
                dir.display()
            ));
        }
        Ok(debs)
    }
}

/// The Debian mirror the host already uses (its deb822 or one-line sources), so the private
/// configuration reaches the same archive.
fn host_mirror() -> Option<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(rd.flatten().map(|e| e.path()));
    }
    for f in files {
        let Ok(s) = fs::read_to_string(&f) else {
            continue;
        };
        for l in s.lines() {
            let l = l.trim();
            let uri = if let Some(u) = l.strip_prefix("URIs:") {
                u.split_whitespace().next()
            } else if l.starts_with("deb ") {
                l.split_whitespace().find(|w| w.starts_with("http"))
            } else {
                None
            };
            if let Some(u) = uri {
                let u = u.trim_end_matches('/');
                if u.ends_with("/debian") && !u.contains("security") {
                    return Some(u.to_string());
                }
            }
        }
    }
    None
}

/// An unpacked kernel in the cache: the kernel image and the modules folder.
#[derive(Clone, Debug)]
pub struct Unpacked {
    pub release: String,
    pub vmlinuz: PathBuf,
    pub modules: PathBuf,
}

/// Find the kernel and modules in an unpacked package tree.
pub fn locate(root: &Path, release: &str) -> Option<Unpacked> {
    let modules = ["usr/lib/modules", "lib/modules"]
        .iter()
        .map(|d| root.join(d).join(release))
        .find(|p| p.is_dir())?;
    let vmlinuz = [
        modules.join("vmlinuz"),
        root.join(format!("boot/vmlinuz-{release}")),
    ]
    .into_iter()
    .find(|p| p.is_file())?;
    Some(Unpacked {
        release: release.to_string(),
        vmlinuz,
        modules,
    })
}

/// Unpack .debs into `root` (dpkg-deb -x).
pub fn unpack(debs: &[PathBuf], root: &Path) -> Result<(), String> {
    fs::create_dir_all(root).map_err(|e| format!("create {}: {e}", root.display()))?;
    for d in debs {
        let st = Command::new("dpkg-deb")
            .arg("-x")
            .arg(d)
            .arg(root)
            .status()
            .map_err(|e| format!("dpkg-deb: {e}"))?;
        if !st.success() {
            return Err(format!("dpkg-deb -x {} failed", d.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &[
        "linux-image-6.12.107+deb13-amd64",
        "linux-image-6.12.107+deb13-amd64-unsigned",
        "linux-image-6.12.117+deb13-amd64-unsigned",
        "linux-image-6.12.117+deb13-cloud-amd64-unsigned",
        "linux-image-6.17.13+deb13-amd64",
        "linux-image-6.17.13+deb13-rt-amd64",
        "linux-image-6.19.14+deb13-amd64",
        "linux-binary-6.19.14+deb13-amd64",
        "linux-binary-7.3.4+deb13-amd64",
        "linux-binary-7.3.4+deb13-cloud-amd64",
        "linux-modules-7.3.4+deb13-amd64",
        "linux-image-7.3.4+deb13-amd64",
        "linux-image-amd64",
        "linux-headers-7.3.4+deb13-amd64",
    ];

    #[test]
    fn package_selection() {
        let c = catalogue(NAMES.iter().copied());
        let v: Vec<&str> = c.iter().map(|k| k.version.as_str()).collect();
        assert_eq!(v, ["6.12.107", "6.12.117", "6.17.13", "6.19.14", "7.3.4"]);
        let k = |v: &str| c.iter().find(|k| k.version == v).unwrap();
        // 6.12: the unsigned image holds kernel and modules.
        assert_eq!(
            k("6.12.117").packages,
            ["linux-image-6.12.117+deb13-amd64-unsigned"]
        );
        // 6.17: the (signed) image package.
        assert_eq!(k("6.17.13").packages, ["linux-image-6.17.13+deb13-amd64"]);
        // 7.3: binary + modules.
        assert_eq!(
            k("7.3.4").packages,
            [
                "linux-binary-7.3.4+deb13-amd64",
                "linux-modules-7.3.4+deb13-amd64"
            ]
        );
        assert_eq!(k("7.3.4").release, "7.3.4+deb13-amd64");
        // 6.19: a binary without modules is not usable, and says why.
        assert!(k("6.19.14")
            .unusable
            .as_deref()
            .unwrap()
            .contains("linux-modules"));
    }

    #[test]
    fn version_requests() {
        let c = catalogue(NAMES.iter().copied());
        let names = |w: &str| {
            select(&c, w).map(|v| v.iter().map(|k| k.version.clone()).collect::<Vec<_>>())
        };
        assert_eq!(names("6.12").unwrap(), ["6.12.117"]);
        assert_eq!(names("6.12.107,v7.3").unwrap(), ["6.12.107", "7.3.4"]);
        assert_eq!(names("all").unwrap(), ["7.3.4", "6.17.13", "6.12.117"]);
        assert_eq!(names("newest").unwrap(), ["7.3.4"]);
        let e = names("5.10").unwrap_err();
        assert!(e.contains("unknown kernel version 5.10"), "{e}");
        assert!(
            e.contains("available: 6.12.107, 6.12.117, 6.17.13, 7.3.4"),
            "{e}"
        );
        let e = names("6.19").unwrap_err();
        assert!(e.contains("linux-modules"), "{e}");
    }
}
