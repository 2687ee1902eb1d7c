// SPDX-License-Identifier: GPL-2.0-only
//! Finding the checkout, installing the engines' cargo tools and system packages when missing
//! (each install is announced with its exact command), and building the harness binaries.

use super::opts::Engine;
use super::proc;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The diofuzz checkout: $DIOFUZZ_ROOT, else the nearest directory upwards from the current one
/// holding fuzz/Cargo.toml and harness/, else the one this binary was built from.
pub fn root() -> Result<PathBuf, String> {
    if let Ok(r) = std::env::var("DIOFUZZ_ROOT") {
        let p = PathBuf::from(r);
        if p.join("fuzz/Cargo.toml").is_file() {
            return Ok(p);
        }
        return Err(format!(
            "DIOFUZZ_ROOT={} is not a diofuzz checkout (no fuzz/Cargo.toml)",
            p.display()
        ));
    }
    let is_root = |p: &Path| p.join("fuzz/Cargo.toml").is_file() && p.join("harness").is_dir();
    if let Ok(mut d) = std::env::current_dir() {
        loop {
            if is_root(&d) {
                return Ok(d);
            }
            if !d.pop() {
                break;
            }
        }
    }
    let built = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    if is_root(&built) {
        return Ok(built);
    }
    Err("cannot find the diofuzz checkout: run from inside it or set DIOFUZZ_ROOT".into())
}

/// Does `prog args` run and exit 0? (Output discarded.)
pub fn runs(prog: &str, args: &[&str]) -> bool {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `cargo` for libFuzzer builds: `cargo +nightly` when rustup has a nightly, else plain cargo with
/// RUSTC_BOOTSTRAP=1 (cargo fuzz needs nightly-only flags).
pub fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    if runs("rustup", &["run", "nightly", "rustc", "--version"]) {
        c.arg("+nightly");
    } else {
        c.env("RUSTC_BOOTSTRAP", "1");
    }
    c
}

fn announce_and_run(what: &str, prog: &str, args: &[&str]) -> Result<(), String> {
    eprintln!(
        "diofuzz: {what} is missing; installing it: {prog} {}",
        args.join(" ")
    );
    let mut c = Command::new(prog);
    c.args(args);
    let st = proc::run_inherit(c, prog)?;
    if st.success() {
        Ok(())
    } else {
        Err(format!(
            "installing {what} failed ({st}); run `{prog} {}` by hand",
            args.join(" ")
        ))
    }
}

fn dpkg_has(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn apt_install(pkgs: &[&str], no_install: bool) -> Result<(), String> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !dpkg_has(p)).collect();
    if missing.is_empty() || !runs("dpkg-query", &["--version"]) {
        return Ok(()); // not Debian: the build will say what is missing
    }
    if no_install {
        return Err(format!(
            "system packages missing: {} (apt-get install {})",
            missing.join(" "),
            missing.join(" ")
        ));
    }
    let root = nix::unistd::Uid::effective().is_root();
    let (prog, mut pre): (&str, Vec<&str>) = if root {
        ("apt-get", vec![])
    } else {
        ("sudo", vec!["apt-get"])
    };
    let mut upd = pre.clone();
    upd.extend(["update", "-qq"]);
    announce_and_run("the apt package index", prog, &upd)?;
    pre.extend(["install", "-y", "-qq"]);
    pre.extend(missing.iter());
    announce_and_run(&missing.join(" "), prog, &pre)
}

/// Make sure the engine's tools are installed (installing them unless `no_install`).
pub fn ensure_tools(e: Engine, no_install: bool) -> Result<(), String> {
    let (tool, check, install): (&str, &[&str], &[&str]) = match e {
        Engine::LibFuzzer => (
            "cargo-fuzz",
            &["fuzz", "--version"],
            &["install", "--locked", "cargo-fuzz"],
        ),
        Engine::Afl => (
            "cargo-afl (with AFL++)",
            &["afl", "--version"],
            &["install", "--locked", "cargo-afl"],
        ),
        Engine::Honggfuzz => (
            "honggfuzz (cargo hfuzz)",
            &["hfuzz", "version"],
            &["install", "--locked", "honggfuzz"],
        ),
    };
    if e == Engine::Honggfuzz {
        apt_install(&["binutils-dev", "libunwind-dev"], no_install)?;
    }
    if !runs("cargo", check) {
        if no_install {
            return Err(format!(
                "{tool} is not installed (cargo {}); drop --no-install to install it",
                install.join(" ")
            ));
        }
        announce_and_run(tool, "cargo", install)?;
    }
    if e == Engine::Afl && afl_bin_dir().is_none() {
        // cargo-afl builds AFL++ at install time; rebuild it if the toolchain changed since.
        if no_install {
            return Err(
                "AFL++ is not built for this toolchain: run `cargo afl config --build`".into(),
            );
        }
        announce_and_run(
            "AFL++ for this toolchain",
            "cargo",
            &["afl", "config", "--build", "--force"],
        )?;
    }
    Ok(())
}

/// AFL++'s bin directory as cargo-afl built it for the current rustc
/// (`~/.local/share/afl.rs/rustc-<version>-<hash>/afl.rs-<version>/afl/bin`).
pub fn afl_bin_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let base = data.join("afl.rs");
    let rustc = Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // "rustc 1.95.0 (5980761a0 2026-..)" -> "rustc-1.95.0-5980761"
    let mut w = rustc.split_whitespace().skip(1);
    let want = match (w.next(), w.next()) {
        (Some(v), Some(h)) => format!(
            "rustc-{v}-{}",
            h.trim_start_matches('(')
                .chars()
                .take(7)
                .collect::<String>()
        ),
        _ => String::new(),
    };
    let mut found = Vec::new();
    for d in std::fs::read_dir(&base).ok()?.flatten() {
        let Ok(inner) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for i in inner.flatten() {
            let bin = i.path().join("afl/bin");
            if bin.join("afl-fuzz").is_file() {
                found.push((d.file_name().to_string_lossy() == want, bin));
            }
        }
    }
    found.sort();
    found.pop().map(|x| x.1)
}

/// The host target triple (where cargo fuzz and cargo hfuzz put their binaries).
pub fn host_triple() -> String {
    Command::new("rustc")
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".into())
}

/// Where the built binary of `target` for engine `e` lives.
pub fn binary(root: &Path, e: Engine, target: &str) -> PathBuf {
    match e {
        Engine::LibFuzzer => root
            .join("fuzz/target")
            .join(host_triple())
            .join("release")
            .join(target),
        Engine::Afl => root.join("harness/afl/target/release").join(target),
        Engine::Honggfuzz => root
            .join("harness/hfuzz/hfuzz_target")
            .join(host_triple())
            .join("release")
            .join(target),
    }
}

/// The honggfuzz fuzzer binary itself (built by `cargo hfuzz build`).
pub fn honggfuzz_bin(root: &Path) -> PathBuf {
    root.join("harness/hfuzz/hfuzz_target/honggfuzz")
}

/// The build command of each engine (the plain commands docs/engines.md shows).
pub fn build_command(root: &Path, e: Engine, target: &str) -> Command {
    match e {
        Engine::LibFuzzer => {
            let mut c = nightly_cargo();
            c.current_dir(root).args(["fuzz", "build", "-O", target]);
            c
        }
        Engine::Afl => {
            let mut c = Command::new("cargo");
            c.current_dir(root.join("harness/afl")).args([
                "afl",
                "build",
                "--release",
                "--bin",
                target,
            ]);
            c
        }
        Engine::Honggfuzz => {
            let mut c = Command::new("cargo");
            c.current_dir(root.join("harness/hfuzz"))
                .args(["hfuzz", "build"]);
            c
        }
    }
}

/// Build `target` for `e`, output to `log`; on failure the error names the log and its tail.
pub fn build(root: &Path, e: Engine, target: &str, log: &Path) -> Result<PathBuf, String> {
    eprintln!(
        "diofuzz: building {target} for {e} (log: {})",
        log.display()
    );
    let _ = std::fs::remove_file(log);
    let st = proc::run_logged(build_command(root, e, target), e.name(), log)?;
    if !st.success() {
        return Err(format!(
            "building {target} for {e} failed ({st}); last lines of {}:\n{}",
            log.display(),
            tail(log, 15)
        ));
    }
    let b = binary(root, e, target);
    if !b.is_file() {
        return Err(format!(
            "{e} build succeeded but {} is missing",
            b.display()
        ));
    }
    if e == Engine::Afl {
        build_afl_mutator(root, &log.with_extension("mutator.log"))?;
    }
    Ok(b)
}

/// The AFL++ custom mutator library (harness/afl-mutator: the library's field-aware mutator).
/// diofuzz-hfuzz-mutate, built beside this diofuzz binary (`cargo build --release` builds both).
pub fn hfuzz_mutate_bin() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find diofuzz itself: {e}"))?;
    let bin = exe.with_file_name("diofuzz-hfuzz-mutate");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build --release` (honggfuzz's field mutator), or use --mutator bytes",
            bin.display()
        ))
    }
}

pub fn afl_mutator_lib(root: &Path) -> PathBuf {
    root.join("harness/afl-mutator/target/release/libdiofuzz_afl_mutator.so")
}

/// Build the AFL++ custom mutator library: a plain (not instrumented) `cargo build --release`.
pub fn build_afl_mutator(root: &Path, log: &Path) -> Result<PathBuf, String> {
    let mut c = Command::new("cargo");
    c.current_dir(root.join("harness/afl-mutator"))
        .args(["build", "--release"]);
    let st = proc::run_logged(c, "afl-mutator", log)?;
    let lib = afl_mutator_lib(root);
    if !st.success() || !lib.is_file() {
        return Err(format!(
            "building the AFL++ custom mutator (harness/afl-mutator) failed ({st}); last lines of {}:\n{}",
            log.display(),
            tail(log, 15)
        ));
    }
    Ok(lib)
}

/// The last `n` lines of a text file ("" if unreadable).
pub fn tail(p: &Path, n: usize) -> String {
    let s = std::fs::read(p).unwrap_or_default();
    let s = String::from_utf8_lossy(&s);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
