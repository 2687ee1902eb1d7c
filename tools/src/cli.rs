// SPDX-License-Identifier: GPL-2.0-only
//! The diofuzz command line. Exit codes: 0 = ran and found nothing (or the command succeeded),
//! 1 = findings were reported, 2 = usage or input error.

use diofuzz::model::{self, Execution};
use diofuzz::oracle::{self, Finding};
use diofuzz::scenario::Scenario;
use diofuzz::variant::{self, Variant, VARIANTS};
use diofuzz::{errno, known, seeds};
use std::path::{Path, PathBuf};

const USAGE: &str = "\
diofuzz: a fuzzing harness suite for the Linux direct-IO write path and its buffered fallback

usage:
  diofuzz replay FILE|DIR... [--variant V|all] [--json] [--quiet]
        run corpus files (raw fuzz bytes, or readable .json scenarios) through the model; print
        the trace (ftrace function_graph style), the verdict and each finding's signature
  diofuzz variants [--json]     the kernel variants, their commits, and the switch table
  diofuzz show FILE             print a corpus file as a readable JSON scenario
  diofuzz encode FILE.json [-o OUT]
                                turn a readable scenario into corpus bytes (stdout or OUT)
  diofuzz triage FILE|DIR... [--variant V|all] [--json]
                                group the findings of many inputs by signature: count, known/new,
                                smallest input, one detail
  diofuzz known [--suppressions]
                                the known root causes (known-findings.json), or the suppression
                                file for the newest variants generated from them
  diofuzz keep FILE --name NAME [--dir DIR]
                                keep a counterexample as a regression test: DIR/NAME plus
                                NAME.expect (per variant, the signatures it must report);
                                default DIR: corpus/regressions
  diofuzz seeds [--out DIR] [--list]
                                write the named seed scenarios (default DIR: corpus/dio_write)
  diofuzz check [--variant V|all] [--fs ext4|xfs|bdev|all] [--domain FILE] [--jobs N] [--json]
                                bounded exhaustive search of a domain (see README)
  diofuzz fuzz|cmin|tmin|bench ...   run fuzzing engines (see README, `diofuzz fuzz --help`)
  diofuzz live|repro ...        replay scenarios on the running kernel / write a C reproducer

exit status: 0 nothing found, 1 findings reported, 2 usage or input error";

pub fn main(args: Vec<String>) -> i32 {
    let Some(cmd) = args.first().map(String::as_str) else {
        eprintln!("{USAGE}");
        return 2;
    };
    let rest = &args[1..];
    let r = match cmd {
        "replay" => replay(rest),
        "variants" => variants(rest),
        "show" => show(rest),
        "encode" => encode(rest),
        "seeds" => seeds_cmd(rest),
        "keep" => keep(rest),
        "triage" => triage(rest),
        "known" => known_cmd(rest),
        "check" => return crate::check::cli(rest),
        "fuzz" | "cmin" | "tmin" | "bench" => return crate::engines::cli(cmd, rest),
        "live" | "repro" => return crate::live::cli(cmd, rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command '{other}'\n\n{USAGE}")),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diofuzz: {e}");
            2
        }
    }
}

/// Minimal option parser: flags with values, boolean flags, positionals.
pub struct Opts {
    pub pos: Vec<String>,
    pub vals: Vec<(String, String)>,
    pub flags: Vec<String>,
}

impl Opts {
    pub fn parse(args: &[String], with_value: &[&str], boolean: &[&str]) -> Result<Opts, String> {
        let mut o = Opts {
            pos: vec![],
            vals: vec![],
            flags: vec![],
        };
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if let Some((k, v)) = a.split_once('=').filter(|_| a.starts_with("--")) {
                if !with_value.contains(&k) {
                    return Err(format!("unknown option '{k}'"));
                }
                o.vals.push((k.to_string(), v.to_string()));
            } else if with_value.contains(&a.as_str()) {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| format!("option '{a}' needs a value"))?;
                o.vals.push((a.clone(), v.clone()));
                i += 1;
            } else if boolean.contains(&a.as_str()) {
                o.flags.push(a.clone());
            } else if a.starts_with('-') && a.len() > 1 {
                return Err(format!("unknown option '{a}'"));
            } else {
                o.pos.push(a.clone());
            }
            i += 1;
        }
        Ok(o)
    }
    pub fn val(&self, k: &str) -> Option<&str> {
        self.vals
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    pub fn flag(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
    }
}

/// Read a scenario file: readable JSON (a `.json` name or text starting with `{`) or fuzz bytes.
pub fn load_scenario(path: &Path) -> Result<Scenario, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json") || data.first() == Some(&b'{');
    if is_json {
        let text = String::from_utf8(data)
            .map_err(|_| format!("{}: a .json scenario must be UTF-8", path.display()))?;
        let s: Scenario = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a scenario: {e}", path.display()))?;
        // A readable scenario may say only what the byte format can: the same ranges.
        s.encode().map_err(|e| format!("{}: {e}", path.display()))?;
        diofuzz::validity::require_real_world(&s)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(s);
    }
    Scenario::decode(&data).map_err(|e| format!("{}: undecodable input: {e}", path.display()))
}

/// Expand FILE|DIR arguments into files, sorted, skipping hidden files and READMEs.
pub fn expand_inputs(paths: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let p = PathBuf::from(p);
        let md = std::fs::metadata(&p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
        if md.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                .map_err(|e| format!("cannot read directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .filter(|f| {
                    let n = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    !n.starts_with('.') && !n.ends_with(".md") && !n.ends_with(".expect")
                })
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err("no input files".into());
    }
    Ok(out)
}

fn finding_json(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "property": f.property,
        "title": f.property.title(),
        "variant": f.variant,
        "fs": f.fs,
        "path": f.path,
        "signature": f.signature,
        "detail": f.detail,
        "known": known::label(&f.signature, f.variant),
    })
}

fn exec_json(file: &Path, x: &Execution, findings: &[Finding]) -> serde_json::Value {
    serde_json::json!({
        "file": file.display().to_string(),
        "variant": x.variant.name,
        "fs": x.fs.name(),
        "ret": x.ret,
        "ret_name": errno::fmt_ret(x.ret),
        "atomic": x.atomic,
        "write_pos": x.write_pos,
        "ki_pos_after": x.ki_pos_after,
        "i_size_after": x.after.i_size,
        "buffered_calls": x.buffered_calls,
        "buffered_bytes": x.buffered_bytes,
        "bios": x.bios.iter().map(|b| serde_json::json!({"pos": b.pos, "len": b.len, "atomic": b.atomic, "zero": b.zero, "status": b.status})).collect::<Vec<_>>(),
        "warns": x.warns,
        "path": x.path,
        "trace": x.trace.render(),
        "verdict": if findings.is_empty() { "pass" } else { "finding" },
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}

fn replay(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &["--variant"], &["--json", "--quiet"])?;
    if o.pos.is_empty() {
        return Err("replay needs FILE or DIR".into());
    }
    let vs = variant::resolve(o.val("--variant").unwrap_or(variant::newest().name))?;
    let files = expand_inputs(&o.pos)?;
    let (json, quiet) = (o.flag("--json"), o.flag("--quiet"));
    let mut any = false;
    let mut out = Vec::new();
    for f in &files {
        let s = load_scenario(f)?;
        for v in &vs {
            let x = model::run(&s, v);
            let fs = oracle::check(&x);
            any |= !fs.is_empty();
            if json {
                out.push(exec_json(f, &x, &fs));
                continue;
            }
            print_exec(f, v, &x, &fs, quiet);
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(if any { 1 } else { 0 })
}

fn print_exec(f: &Path, v: &Variant, x: &Execution, fs: &[Finding], quiet: bool) {
    println!(
        "# {} on {} ({}), fs {}",
        f.display(),
        v.name,
        v.kernel,
        x.fs.name()
    );
    if !quiet {
        print!("{}", x.trace.render());
    }
    println!(
        "  result: {}{}  write_pos={} ki_pos={} i_size={} bios={} buffered={}B warns={}",
        errno::fmt_ret(x.ret),
        if x.aio { " (aio completion)" } else { "" },
        x.write_pos,
        x.ki_pos_after,
        x.after.i_size,
        x.bios.len(),
        x.buffered_bytes,
        x.warns.len()
    );
    if fs.is_empty() {
        println!("  verdict: pass");
    }
    for fd in fs {
        println!(
            "  verdict: {} {} [{}]: {}",
            fd.property,
            fd.property.title(),
            known::label(&fd.signature, fd.variant),
            fd.detail
        );
        println!("    path: {}", fd.path.join(" -> "));
        println!("    signature: {}", fd.signature);
    }
    println!();
}

fn variants(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &[], &["--json"])?;
    if o.flag("--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&VARIANTS[..]).unwrap_or_default()
        );
        return Ok(0);
    }
    println!("{:<10} {:<16} about", "variant", "kernel");
    for v in VARIANTS.iter() {
        println!("{:<10} {:<16} {}", v.name, v.kernel, v.about);
    }
    println!();
    let rows = VARIANTS[0].switches();
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    print!("{:<w$}  ", "switch (commit)");
    for v in VARIANTS.iter() {
        print!("{:>10}", v.name);
    }
    println!();
    for (i, (name, _, commit)) in rows.iter().enumerate() {
        print!("{name:<w$}  ");
        for v in VARIANTS.iter() {
            let val = &v.switches()[i].1;
            let short: String = val.chars().take(9).collect();
            print!("{short:>10}");
        }
        println!("   {commit}");
    }
    Ok(0)
}

fn show(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &[], &[])?;
    let [f] = o.pos.as_slice() else {
        return Err("show needs exactly one FILE".into());
    };
    let s = load_scenario(Path::new(f))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?
    );
    Ok(0)
}

fn encode(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &["-o"], &[])?;
    let [f] = o.pos.as_slice() else {
        return Err("encode needs exactly one FILE.json".into());
    };
    let s = load_scenario(Path::new(f))?;
    let bytes = s.encode().map_err(|e| format!("{f}: {e}"))?;
    match o.val("-o") {
        Some(out) => std::fs::write(out, &bytes).map_err(|e| format!("cannot write {out}: {e}"))?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(0)
}

fn seeds_cmd(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &["--out"], &["--list"])?;
    if o.flag("--list") {
        for s in seeds::all() {
            println!("{:<40} {}", s.name, s.about);
        }
        return Ok(0);
    }
    let dir = PathBuf::from(o.val("--out").unwrap_or("corpus/dio_write"));
    let n = seeds::write_all(&dir)?;
    println!("wrote {n} seed files to {}", dir.display());
    Ok(0)
}

fn keep(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &["--name", "--dir"], &[])?;
    let [f] = o.pos.as_slice() else {
        return Err("keep needs exactly one FILE".into());
    };
    let name = o.val("--name").ok_or("keep needs --name NAME")?;
    let dir = PathBuf::from(o.val("--dir").unwrap_or("corpus/regressions"));
    let s = load_scenario(Path::new(f))?;
    let e = diofuzz::regress::keep(&dir, name, &s)?;
    let buggy: Vec<&String> = e
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k)
        .collect();
    println!(
        "kept {} in {}; findings on: {}",
        name,
        dir.display(),
        if buggy.is_empty() {
            "no variant".to_string()
        } else {
            buggy
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    Ok(0)
}

fn triage(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &["--variant"], &["--json"])?;
    if o.pos.is_empty() {
        return Err("triage needs FILE or DIR".into());
    }
    let vs = variant::resolve(o.val("--variant").unwrap_or(variant::newest().name))?;
    // signature -> (count, smallest input, variant, detail)
    let mut groups: std::collections::BTreeMap<
        String,
        (usize, PathBuf, u64, &'static str, String),
    > = Default::default();
    let files = expand_inputs(&o.pos)?;
    let mut skipped = 0;
    for f in &files {
        let Ok(s) = load_scenario(f) else {
            skipped += 1;
            continue;
        };
        let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(u64::MAX);
        for v in &vs {
            for fd in oracle::check(&model::run_quiet(&s, v)) {
                let e = groups.entry(fd.signature.clone()).or_insert((
                    0,
                    f.clone(),
                    u64::MAX,
                    fd.variant,
                    fd.detail.clone(),
                ));
                e.0 += 1;
                if size < e.2 {
                    (e.1, e.2, e.3, e.4) = (f.clone(), size, fd.variant, fd.detail.clone());
                }
            }
        }
    }
    if o.flag("--json") {
        let v: Vec<_> = groups
            .iter()
            .map(|(sig, (n, f, _, var, d))| {
                serde_json::json!({"signature": sig, "count": n, "smallest": f.display().to_string(), "variant": var, "detail": d, "known": known::label(sig, var)})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!(
            "{} inputs ({} undecodable), {} distinct signatures",
            files.len(),
            skipped,
            groups.len()
        );
        for (sig, (n, f, _, var, d)) in &groups {
            println!(
                "\n{n:>6}x [{}] {sig}\n        smallest: {} ({var})\n        {d}",
                known::label(sig, var),
                f.display()
            );
        }
    }
    Ok(if groups.is_empty() { 0 } else { 1 })
}

fn known_cmd(args: &[String]) -> Result<i32, String> {
    let o = Opts::parse(args, &[], &["--suppressions"])?;
    if o.flag("--suppressions") {
        print!(
            "{}",
            known::suppression_lines(&diofuzz::target::NEWEST_VARIANTS)
        );
        return Ok(0);
    }
    for k in known::all() {
        println!(
            "{}\n    variants: {}  where: {}  fixed by: {}\n    {}\n",
            k.signature,
            k.variants.join(", "),
            if k.scope.is_empty() {
                "any".to_string()
            } else {
                k.scope.join(", ")
            },
            k.fixed_by.as_deref().unwrap_or("-"),
            k.description
        );
    }
    Ok(0)
}
