// SPDX-License-Identifier: GPL-2.0-only
//! The diofuzz command line. Exit codes: 0 = ran and found nothing (or the command succeeded),
//! 1 = findings were reported, 2 = usage or input error.

use diofuzz::model::{self, Execution};
use diofuzz::oracle::{self, Finding};
use diofuzz::variant::{self, Variant, VARIANTS};
use diofuzz::{errno, input, known, seeds};
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand};

/// diofuzz: a fuzzing harness suite for the Linux direct-IO write path and its buffered fallback
#[derive(Parser, Debug)]
#[command(
    name = "diofuzz",
    version,
    arg_required_else_help = true,
    after_help = "exit status: 0 nothing found, 1 findings reported, 2 usage or input error"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run corpus files (raw fuzz bytes, or readable .json scenarios) through the model; print
    /// the trace (ftrace function_graph style), the verdict and each finding's signature
    Replay(ReplayOpts),
    /// The kernel variants, their commits, and the switch table
    Variants {
        /// JSON output
        #[arg(long)]
        json: bool,
        /// Also show these (BASE+switch=value or a variant file): their changes and a column each
        #[arg(long, value_name = "V", value_parser = variant_set)]
        variant: Option<VariantSet>,
        /// Also show this variant file
        #[arg(long, value_name = "FILE", value_parser = variant_file)]
        variant_file: Option<&'static Variant>,
    },
    /// Print a corpus file as a readable JSON scenario
    Show {
        /// A corpus file (bytes) or a .json scenario
        file: PathBuf,
    },
    /// Turn a readable scenario into corpus bytes (stdout or OUT)
    Encode {
        /// A .json scenario
        #[arg(value_name = "FILE.json")]
        file: PathBuf,
        /// Write the bytes to OUT instead of stdout
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: Option<PathBuf>,
    },
    /// Group the findings of many inputs by signature: count, known/new, smallest input, one detail
    Triage(TriageOpts),
    /// The known root causes (known-findings.json), or the suppression file for the newest
    /// variants generated from them
    Known {
        /// Print the suppression file for the newest variants
        #[arg(long)]
        suppressions: bool,
    },
    /// Keep a counterexample as a regression test: DIR/NAME plus NAME.expect (per variant, the
    /// signatures it must report)
    Keep {
        /// The counterexample (bytes or .json)
        file: PathBuf,
        /// The regression's name
        #[arg(long)]
        name: String,
        /// Where it goes
        #[arg(long, value_name = "DIR", default_value = "corpus/regressions")]
        dir: PathBuf,
    },
    /// Write the named seed scenarios
    Seeds {
        /// Where they go
        #[arg(long, value_name = "DIR", default_value = "corpus/dio_write")]
        out: PathBuf,
        /// Only list them
        #[arg(long)]
        list: bool,
    },
    /// Write the fuzzing dictionary generated from the model's domains (every engine reads it)
    Dict {
        /// Where it goes (`-` for stdout)
        #[arg(
            long,
            short = 'o',
            value_name = "FILE",
            default_value = "fuzz/dio_write.dict"
        )]
        out: PathBuf,
    },
    /// Bounded exhaustive search of a domain (see README)
    Check(crate::check::CheckOpts),
    /// Which modelled kernel decisions and errno returns a corpus reaches, per kernel function
    /// (table, --json, --html, --plot)
    Coverage(crate::coverage::CoverageOpts),
    /// Run fuzzing engines (libFuzzer, AFL++, honggfuzz) side by side on the shared corpus
    Fuzz(crate::engines::opts::FuzzOpts),
    /// Minimise a corpus (libFuzzer -merge=1 or afl-cmin), coverage of every variant counting
    Cmin(crate::engines::cmin::CminOpts),
    /// Minimise a crash input, keeping its signature
    Tmin(crate::engines::cmin::TminOpts),
    /// Time to exposure and exec/s per engine (BENCHMARKS.md)
    Bench(crate::engines::bench::BenchOpts),
    /// Replay scenarios on the running kernel (scratch filesystems, root) and compare with the model
    Live(crate::live::Opts),
    /// Serve a ublk fault device (root, ublk_drv): memory-backed, a write request touching a sector
    /// armed by `live --fault-device /dev/ublkbN` fails once with the armed errno (-ETIMEDOUT,
    /// -EINVAL, -ENOMEM, ...); prints the device, runs until SIGINT/SIGTERM, then deletes it
    UblkFault {
        /// Device size in MiB
        #[arg(long, default_value_t = 512)]
        size_mb: u64,
    },
    /// Write a standalone C reproducer for a scenario (JSON or bytes), or build and run it
    Repro(crate::live::repro::ReproOpts),
    /// The live differential on real kernels under QEMU (Debian's 6.12-7.3 or your own build), with an atomic-capable scsi_debug disk
    Lab(crate::lab::Opts),
    /// One folder per finding for kernel developers: decision path, C reproducer, an fstests
    /// test (tests/generic/NNN + NNN.out) and a plain-text report
    Report(crate::report::ReportOpts),
    /// Charts (SVG and PNG) from the JSON of `coverage` and `live`
    Plot {
        #[command(subcommand)]
        what: crate::plot_cmd::PlotCmd,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The inputs and variants `replay` and `triage` both take.
#[derive(Args, Debug)]
pub struct Selection {
    /// Corpus files or folders
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Variants: a name, a comma list, all, BASE+switch=value, or a variant file [default: the
    /// newest]
    #[arg(long, value_name = "V|all", value_parser = variant_set)]
    pub variant: Option<VariantSet>,
    /// A variant file (a patch described as data, see README): run it too (alone without
    /// --variant)
    #[arg(long, value_name = "FILE", value_parser = variant_file)]
    pub variant_file: Option<&'static Variant>,
}

impl Selection {
    /// The variants to run (the newest when none is given) and every input file.
    fn resolve(&self) -> Result<(Vec<&'static Variant>, Vec<PathBuf>), String> {
        let vs = VariantSet::selected(&self.variant, self.variant_file, || vec![variant::newest()]);
        Ok((vs, input::walk(&self.inputs)?))
    }
}

#[derive(Args, Debug)]
pub struct ReplayOpts {
    #[command(flatten)]
    pub sel: Selection,
    /// Run every file on two variants and report the signatures PATCHED closes, opens and leaves
    /// unchanged (exit 1 when one opens)
    #[arg(long, value_name = "BASE,PATCHED", value_parser = variant_pair,
          conflicts_with_all = ["variant", "variant_file", "quiet"])]
    pub compare: Option<VariantPair>,
    /// JSON output, one object per file and variant
    #[arg(long)]
    pub json: bool,
    /// No trace: the result and verdict only
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct TriageOpts {
    #[command(flatten)]
    pub sel: Selection,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

/// Variants as `--variant` takes them: a name, a comma list, or `all`.
#[derive(Clone)]
pub struct VariantSet(pub Vec<&'static Variant>);

impl std::fmt::Debug for VariantSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|v| v.name))
            .finish()
    }
}

impl VariantSet {
    /// The given variants, or the newest alone.
    pub fn or_newest(v: &Option<VariantSet>) -> Vec<&'static Variant> {
        v.as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_else(|| vec![variant::newest()])
    }

    /// `--variant` plus `--variant-file`: both lists, the file alone when `--variant` is not
    /// given, `default()` when neither is.
    pub fn selected(
        v: &Option<VariantSet>,
        file: Option<&'static Variant>,
        default: impl FnOnce() -> Vec<&'static Variant>,
    ) -> Vec<&'static Variant> {
        match (v, file) {
            (None, None) => default(),
            (None, Some(f)) => vec![f],
            (Some(s), f) => s.0.iter().copied().chain(f).collect(),
        }
    }
}

/// `--compare BASE,PATCHED`: two variants, each as `--variant` takes it.
#[derive(Clone, Copy)]
pub struct VariantPair(pub &'static Variant, pub &'static Variant);

impl std::fmt::Debug for VariantPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.0.name, self.1.name)
    }
}

/// clap value parser: `BASE,PATCHED`, or a user variant alone (compared with its base).
pub fn variant_pair(s: &str) -> Result<VariantPair, String> {
    match s.split(',').collect::<Vec<_>>().as_slice() {
        [p] => {
            let p = variant::resolve_one(p)?;
            match diofuzz::variant_file::find(p.name) {
                Some(u) => Ok(VariantPair(u.base, p)),
                None => Err(format!(
                    "'{s}': want BASE,PATCHED (a built-in variant alone has no base to compare with)"
                )),
            }
        }
        [a, b] => {
            let (a, b) = (variant::resolve_one(a)?, variant::resolve_one(b)?);
            if a.name == b.name {
                return Err(format!("'{s}': compare two different variants"));
            }
            Ok(VariantPair(a, b))
        }
        _ => Err(format!(
            "'{s}': want BASE,PATCHED (e.g. v6.15,v6.15+ext4_atomic_hole_einval or v6.15,my-patch.json)"
        )),
    }
}

/// clap value parser: a variant file (a patch described as data).
pub fn variant_file(s: &str) -> Result<&'static Variant, String> {
    diofuzz::variant_file::load(Path::new(s.trim()))
}

/// clap value parser: a variant name, a comma list, or `all`; the error names the known ones.
pub fn variant_set(s: &str) -> Result<VariantSet, String> {
    variant::resolve(s.trim()).map(VariantSet)
}

/// clap value parser: exactly one variant.
pub fn one_variant(s: &str) -> Result<&'static Variant, String> {
    match variant::resolve(s.trim())?.as_slice() {
        [v] => Ok(*v),
        _ => Err(format!("'{s}': want one variant, not a list")),
    }
}

/// Parse the command line (without the program name) and run it; returns the exit code.
/// clap's own usage errors exit 2 and --help/--version exit 0, as clap does.
pub fn main(args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(std::iter::once("diofuzz".to_string()).chain(args)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    run(cli.cmd)
}

fn run(cmd: Cmd) -> i32 {
    let r = match cmd {
        Cmd::Replay(o) => replay(&o),
        Cmd::Variants {
            json,
            variant,
            variant_file,
        } => variants(
            json,
            &VariantSet::selected(&variant, variant_file, Vec::new),
        ),
        Cmd::Show { file } => show(&file),
        Cmd::Encode { file, out } => encode(&file, out.as_deref()),
        Cmd::Seeds { out, list } => seeds_cmd(&out, list),
        Cmd::Dict { out } => dict_cmd(&out),
        Cmd::Keep { file, name, dir } => keep(&file, &name, &dir),
        Cmd::Triage(o) => triage(&o),
        Cmd::Known { suppressions } => known_cmd(suppressions),
        Cmd::Check(o) => return crate::check::cli(&o),
        Cmd::Coverage(o) => crate::coverage::cli(&o),
        Cmd::Fuzz(o) => return crate::engines::exit_code("fuzz", crate::engines::fuzz(&o)),
        Cmd::Cmin(o) => {
            return crate::engines::exit_code("cmin", crate::engines::cmin::cmin_cli(&o))
        }
        Cmd::Tmin(o) => {
            return crate::engines::exit_code("tmin", crate::engines::cmin::tmin_cli(&o))
        }
        Cmd::Bench(o) => return crate::engines::exit_code("bench", crate::engines::bench::cli(&o)),
        Cmd::Live(o) => return crate::live::run_live(&o),
        Cmd::Repro(o) => return crate::live::repro::main(&o),
        Cmd::UblkFault { size_mb } => match crate::live::ublk::serve(size_mb) {
            Ok(()) => Ok(0),
            Err(e) => {
                eprintln!("diofuzz ublk-fault: {e}");
                return 2;
            }
        },
        Cmd::Lab(o) => return crate::lab::run(&o),
        Cmd::Report(o) => crate::report::cli(&o),
        Cmd::Plot { what } => crate::plot_cmd::cli(&what),
        Cmd::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "diofuzz",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("diofuzz: {e}");
            2
        }
    }
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

fn replay(o: &ReplayOpts) -> Result<i32, String> {
    let (vs, files) = o.sel.resolve()?;
    if let Some(VariantPair(base, patched)) = o.compare {
        let c = crate::compare::files(&files, base, patched)?;
        if o.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::compare::to_json(&c)).unwrap_or_default()
            );
        } else {
            crate::compare::print(&c, "files");
        }
        return Ok(c.exit_code());
    }
    let (json, quiet) = (o.json, o.quiet);
    let mut any = false;
    let mut out = Vec::new();
    for f in &files {
        let s = input::load_scenario(f)?;
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

fn variants(json: bool, extra: &[&'static Variant]) -> Result<i32, String> {
    let mut all: Vec<&'static Variant> = VARIANTS.iter().collect();
    all.extend(extra.iter().filter(|v| variant::builtin(v.name).is_none()));
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(0);
    }
    // Columns as wide as the longest name (user variants have long ones).
    let nw = all.iter().map(|v| v.name.len()).max().unwrap_or(8).max(7);
    println!("{:<nw$} {:<16} about", "variant", "kernel");
    for v in &all {
        println!("{:<nw$} {:<16} {}", v.name, v.kernel, v.about);
    }
    for u in diofuzz::variant_file::loaded() {
        if !all.iter().any(|v| v.name == u.variant.name) {
            continue;
        }
        println!(
            "\n{} = {} with ({}):",
            u.variant.name, u.base.name, u.source
        );
        for (k, old, new, commit) in &u.changes {
            println!("  {k}: {old} -> {new}   ({commit})");
        }
    }
    println!();
    let rows = VARIANTS[0].switches();
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    let cols: Vec<Vec<String>> = all
        .iter()
        .map(|v| v.switches().into_iter().map(|r| r.1).collect())
        .collect();
    let widths: Vec<usize> = all
        .iter()
        .zip(&cols)
        .map(|(v, c)| {
            c.iter()
                .map(String::len)
                .chain([v.name.len()])
                .max()
                .unwrap_or(1)
                + 1
        })
        .collect();
    print!("{:<w$}  ", "switch (commit)");
    for (v, cw) in all.iter().zip(&widths) {
        print!("{:>cw$}", v.name);
    }
    println!();
    for (i, (name, _, commit)) in rows.iter().enumerate() {
        print!("{name:<w$}  ");
        for (c, cw) in cols.iter().zip(&widths) {
            print!("{:>cw$}", c[i]);
        }
        println!("   {commit}");
    }
    Ok(0)
}

fn show(f: &Path) -> Result<i32, String> {
    let s = input::load_scenario(f)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?
    );
    Ok(0)
}

fn encode(f: &Path, out: Option<&Path>) -> Result<i32, String> {
    let s = input::load_scenario(f)?;
    let bytes = s.encode().map_err(|e| format!("{}: {e}", f.display()))?;
    match out {
        Some(out) => std::fs::write(out, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(0)
}

fn seeds_cmd(dir: &Path, list: bool) -> Result<i32, String> {
    if list {
        for s in seeds::all() {
            println!("{:<40} {}", s.name, s.about);
        }
        return Ok(0);
    }
    let n = seeds::write_all(dir)?;
    println!("wrote {n} seed files to {}", dir.display());
    Ok(0)
}

fn dict_cmd(out: &Path) -> Result<i32, String> {
    let d = diofuzz::mutate::dictionary();
    if out == Path::new("-") {
        print!("{d}");
        return Ok(0);
    }
    std::fs::write(out, &d).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let n = d.lines().filter(|l| !l.starts_with('#')).count();
    println!("wrote {n} dictionary tokens to {}", out.display());
    Ok(0)
}

fn keep(f: &Path, name: &str, dir: &Path) -> Result<i32, String> {
    let s = input::load_scenario(f)?;
    let e = diofuzz::regress::keep(dir, name, &s)?;
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

fn triage(o: &TriageOpts) -> Result<i32, String> {
    let (vs, files) = o.sel.resolve()?;
    // signature -> (count, smallest input, variant, detail)
    let mut groups: std::collections::BTreeMap<
        String,
        (usize, PathBuf, u64, &'static str, String),
    > = Default::default();
    let mut skipped = 0;
    for f in &files {
        let Ok(s) = input::load_scenario(f) else {
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
    if o.json {
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

fn known_cmd(suppressions: bool) -> Result<i32, String> {
    if suppressions {
        print!(
            "{}",
            known::suppression_lines(&diofuzz::target::NEWEST_VARIANTS)
        );
        return Ok(0);
    }
    let produced = committed_findings();
    for k in known::all() {
        // The committed inputs that produce it: a finding it matches, on one of its variants.
        let mut files: Vec<(&Path, Vec<&str>)> = Vec::new();
        for (f, v, sigs) in &produced {
            if !(k.variants.iter().any(|x| x == "all" || x == v)
                && sigs.iter().any(|s| k.matches(s, v)))
            {
                continue;
            }
            match files.iter_mut().find(|(g, _)| g == f) {
                Some((_, vs)) => vs.push(v),
                None => files.push((f, vec![v])),
            }
        }
        let mut by: Vec<String> = files
            .iter()
            .map(|(f, vs)| format!("{} ({})", f.display(), vs.join(", ")))
            .collect();
        let n = by.len();
        by.truncate(3);
        println!(
            "{}\n    variants: {}  where: {}  fixed by: {}\n    {}\n    inputs: {}\n",
            k.signature,
            k.variants.join(", "),
            if k.scope.is_empty() {
                "any".to_string()
            } else {
                k.scope.join(", ")
            },
            k.fixed_by.as_deref().unwrap_or("-"),
            k.description,
            match n {
                0 => "none committed (corpus/regressions, corpus/dio_write)".to_string(),
                1..=3 => by.join(", "),
                _ => format!("{} and {} more", by.join(", "), n - 3),
            }
        );
    }
    Ok(0)
}

/// Every committed input (corpus/regressions, then corpus/dio_write, from the current folder) on
/// every built-in variant: (file, variant, finding signatures). Missing folders are skipped.
fn committed_findings() -> Vec<(PathBuf, &'static str, Vec<String>)> {
    let dirs: Vec<&Path> = ["corpus/regressions", "corpus/dio_write"]
        .iter()
        .map(Path::new)
        .filter(|d| d.is_dir())
        .collect();
    let files = input::walk(&dirs).unwrap_or_default();
    let mut out = Vec::new();
    for f in files {
        let Ok(l) = input::load(&f) else { continue };
        for v in VARIANTS.iter() {
            let sigs: Vec<String> = oracle::check(&model::run_quiet(&l.scenario, v))
                .into_iter()
                .map(|x| x.signature)
                .collect();
            if !sigs.is_empty() {
                out.push((f.clone(), v.name, sigs));
            }
        }
    }
    out
}
