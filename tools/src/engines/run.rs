// SPDX-License-Identifier: GPL-2.0-only
//! One fuzzing session: one or more engines side by side on the shared corpus.
//!
//! Every engine runs in "stop at the first crash" mode. When a crash file appears, diofuzz stops
//! that engine, replays the crash in-process (findings.rs), adds its signature to the session's
//! suppression file (the targets read DIOFUZZ_SUPPRESS at start) and restarts the engine on its
//! grown corpus. So each signature is reported once per engine and no engine drowns in duplicates
//! of the first bug (honggfuzz would keep one crash per stack, and every finding panics at the
//! same place). Corpus files that already crash are recorded as findings (engine "corpus") and
//! are not given to the engines, which must find those bugs by themselves.

use super::findings::{fnv64, Outcome, Triage};
use super::opts::Engine;
use super::proc::{self, Group};
use super::setup;
use super::stats::{self, Stats};
use diofuzz::mutate::Mode;
use diofuzz::scenario::MAX_INPUT;
use diofuzz::target::Config;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// What a session needs (filled from `diofuzz fuzz` options, or by the bench).
pub struct SessionCfg {
    pub root: PathBuf,
    pub engines: Vec<Engine>,
    pub target: String,
    /// DIOFUZZ_VARIANT for the targets (None = the library's default, the newest).
    pub variant: Option<String>,
    pub time: Duration,
    pub jobs: usize,
    /// The user's suppression file, if any.
    pub suppress: Option<PathBuf>,
    pub corpus: PathBuf,
    /// Session scratch (engine corpora, logs, crash folders); emptied first.
    pub work: PathBuf,
    pub findings: PathBuf,
    pub write_findings: bool,
    pub merge_back: bool,
    /// Record crashing corpus files as findings (the bench leaves them out silently).
    pub record_seed_crashes: bool,
    pub progress: bool,
    /// Binaries already built (the bench builds once).
    pub bins: BTreeMap<Engine, PathBuf>,
    /// Known-finding patterns: each is suppressed as a whole once hit, and the session ends
    /// early when every one has been hit (the bench). Empty: run for the whole time.
    pub stop_when_all: Vec<String>,
    /// DIOFUZZ_MUTATOR for the engines: the library's field-aware mutator (libFuzzer hooks, the
    /// AFL++ custom mutator library) or the engines' own byte mutations.
    pub mutator: Mode,
    /// Record-and-continue (DIOFUZZ_COLLECT): the targets record each new signature with its
    /// time and keep going, so engines never stop or restart on a finding (the bench).
    pub collect: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EngineResult {
    pub engine: String,
    pub status: String,
    pub restarts: u32,
    pub execs: u64,
    pub exec_per_sec: f64,
    pub crash_files: u64,
    pub signatures: Vec<String>,
    pub first_crash_seconds: Option<f64>,
    pub corpus_added: usize,
    pub seconds: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct SessionResult {
    pub target: String,
    pub variant: String,
    pub seconds: f64,
    pub interrupted: bool,
    pub engines: Vec<EngineResult>,
    /// (variant, signature) -> first seconds, per engine name.
    #[serde(skip)]
    pub first_hit: BTreeMap<(String, String), BTreeMap<String, f64>>,
    pub corpus_before: usize,
    pub corpus_after: usize,
    pub findings_new: usize,
    pub findings_total: usize,
    pub unreproduced: usize,
}

struct Runner {
    e: Engine,
    bin: PathBuf,
    dir: PathBuf,
    attempt: u32,
    procs: Vec<Group>,
    attempt_start: Instant,
    seen: HashSet<PathBuf>,
    done_execs: u64,
    cur: Stats,
    crash_files: u64,
    sigs: BTreeSet<String>,
    first_crash: Option<f64>,
    quick_exits: u32,
    failed: Option<String>,
    corpus_start: usize,
    /// Lines of the collect folder's signatures.tsv already read.
    collected: usize,
}

fn count_files(d: &Path) -> usize {
    files_in(d).len()
}

/// The inputs in a corpus folder, sorted: the one input walker ([`diofuzz::input::walk`]); none
/// when the folder does not exist (yet).
pub fn files_in(d: &Path) -> Vec<PathBuf> {
    if !d.is_dir() {
        return Vec::new();
    }
    diofuzz::input::walk(&[d]).unwrap_or_default()
}

fn mkdir(d: &Path) -> Result<(), String> {
    std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))
}

/// Copy inputs into `dst` under content-hash names, skipping duplicates and oversize files.
fn copy_unique(srcs: &[PathBuf], dst: &Path, prefix: &str) -> Result<usize, String> {
    mkdir(dst)?;
    let mut n = 0;
    for s in srcs {
        let Ok(data) = std::fs::read(s) else { continue };
        if data.len() > MAX_INPUT {
            continue;
        }
        let p = dst.join(format!("{prefix}{:016x}", fnv64(&data)));
        if !p.exists() {
            std::fs::write(&p, &data).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

impl Runner {
    /// DIOFUZZ_COLLECT folder of this engine (record-and-continue mode).
    fn collect_dir(&self) -> PathBuf {
        self.dir.join("collect")
    }

    /// Signatures the targets recorded since the last call: (variant, signature, seconds since
    /// the session start).
    fn read_collected(&mut self, sys0: SystemTime, t0: Instant) -> Vec<(String, String, f64)> {
        let text =
            std::fs::read_to_string(self.collect_dir().join("signatures.tsv")).unwrap_or_default();
        let start = sys0
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let (out, n) = parse_collected(&text, self.collected, start, t0.elapsed().as_secs_f64());
        self.collected = n;
        out
    }

    fn log(&self) -> PathBuf {
        self.dir.join(format!("log.{}", self.attempt))
    }

    fn afl_out(&self, k: u32) -> PathBuf {
        self.dir.join(format!("out.{k}"))
    }

    fn crash_dirs(&self) -> Vec<PathBuf> {
        match self.e {
            Engine::LibFuzzer => vec![self.dir.join("crashes")],
            Engine::Afl => std::fs::read_dir(self.afl_out(self.attempt))
                .map(|r| r.flatten().map(|e| e.path().join("crashes")).collect())
                .unwrap_or_default(),
            Engine::Honggfuzz => vec![self.dir.join(format!("crashes.{}", self.attempt))],
        }
    }

    /// New crash files, oldest first.
    fn new_crashes(&mut self) -> Vec<(PathBuf, SystemTime)> {
        let mut out = Vec::new();
        for d in self.crash_dirs() {
            for f in files_in(&d) {
                let name = f
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                let is_crash = match self.e {
                    Engine::LibFuzzer => ["crash-", "timeout-", "oom-", "leak-"]
                        .iter()
                        .any(|p| name.starts_with(p)),
                    Engine::Afl => name.starts_with("id:"),
                    Engine::Honggfuzz => name.ends_with(".fuzz"),
                };
                if is_crash && self.seen.insert(f.clone()) {
                    let t = f
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or_else(|_| SystemTime::now());
                    out.push((f, t));
                }
            }
        }
        out.sort_by_key(|x| x.1);
        out
    }

    fn corpus_dirs(&self) -> Vec<PathBuf> {
        match self.e {
            Engine::LibFuzzer | Engine::Honggfuzz => vec![self.dir.join("corpus")],
            Engine::Afl => (0..=self.attempt)
                .flat_map(|k| {
                    std::fs::read_dir(self.afl_out(k))
                        .map(|r| {
                            r.flatten()
                                .map(|e| e.path().join("queue"))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                })
                .collect(),
        }
    }

    fn corpus_size(&self) -> usize {
        match self.e {
            Engine::Afl => {
                let mut h = HashSet::new();
                for d in self.corpus_dirs() {
                    for f in files_in(&d) {
                        if let Ok(x) = std::fs::read(&f) {
                            h.insert(fnv64(&x));
                        }
                    }
                }
                h.len()
            }
            _ => count_files(&self.dir.join("corpus")),
        }
    }

    fn read_stats(&self) -> Stats {
        let log =
            String::from_utf8_lossy(&std::fs::read(self.log()).unwrap_or_default()).into_owned();
        match self.e {
            Engine::LibFuzzer => stats::libfuzzer(&log),
            Engine::Afl => {
                let mut s = Stats::default();
                if let Ok(r) = std::fs::read_dir(self.afl_out(self.attempt)) {
                    for d in r.flatten() {
                        let t = std::fs::read_to_string(d.path().join("fuzzer_stats"))
                            .unwrap_or_default();
                        let x = stats::afl(&t);
                        s.execs += x.execs;
                        s.exec_s += x.exec_s;
                    }
                }
                s
            }
            Engine::Honggfuzz => {
                let st = std::fs::read_to_string(self.dir.join(format!("stats.{}", self.attempt)))
                    .unwrap_or_default();
                stats::honggfuzz(&log, &st)
            }
        }
    }

    fn start(&mut self, s: &Sess, remaining: Duration) -> Result<(), String> {
        self.attempt_start = Instant::now();
        let secs = remaining.as_secs().max(1).to_string();
        let mut env: Vec<(String, String)> = vec![
            ("DIOFUZZ_SUPPRESS".into(), s.supp_file.display().to_string()),
            // diofuzz triages by signature: skip the slow stack symbolization on each crash.
            (
                "ASAN_OPTIONS".into(),
                "symbolize=0:detect_leaks=0:abort_on_error=1".into(),
            ),
            ("RUST_BACKTRACE".into(), "0".into()),
        ];
        if let Some(v) = &s.cfg.variant {
            env.push(("DIOFUZZ_VARIANT".into(), v.clone()));
        }
        env.push(("DIOFUZZ_MUTATOR".into(), s.cfg.mutator.name().into()));
        if s.cfg.collect {
            env.push((
                "DIOFUZZ_COLLECT".into(),
                self.collect_dir().display().to_string(),
            ));
        }
        let dict = s.cfg.root.join(format!("fuzz/{}.dict", s.cfg.target));
        let dict = dict.is_file().then_some(dict);
        // honggfuzz has no custom-mutator interface: the model's help there is the dictionary
        // generated from its domains, so `bytes` runs it without one.
        let hfuzz_dict = dict.clone().filter(|_| s.cfg.mutator == Mode::Field);
        let mut cmds: Vec<Command> = Vec::new();
        match self.e {
            Engine::LibFuzzer => {
                let mut c = Command::new(&self.bin);
                c.arg(self.dir.join("corpus"))
                    .arg(format!(
                        "-artifact_prefix={}/",
                        self.dir.join("crashes").display()
                    ))
                    .arg(format!("-max_total_time={secs}"))
                    .arg(format!("-max_len={MAX_INPUT}"))
                    .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]);
                if let Some(d) = &dict {
                    c.arg(format!("-dict={}", d.display()));
                }
                if s.cfg.jobs > 1 {
                    c.arg(format!("-fork={}", s.cfg.jobs));
                }
                cmds.push(c);
            }
            Engine::Afl => {
                let input = self.dir.join(format!("in.{}", self.attempt));
                let srcs: Vec<PathBuf> = if self.attempt == 0 {
                    files_in(&s.seeds)
                } else {
                    let mut v = Vec::new();
                    let out = self.afl_out(self.attempt - 1);
                    for d in std::fs::read_dir(&out)
                        .map_err(|e| e.to_string())?
                        .flatten()
                    {
                        v.extend(files_in(&d.path().join("queue")));
                    }
                    if v.is_empty() {
                        v = files_in(&s.seeds);
                    }
                    v
                };
                copy_unique(&srcs, &input, "")?;
                let out = self.afl_out(self.attempt);
                let lib = setup::afl_mutator_lib(&s.cfg.root);
                for j in 0..s.cfg.jobs {
                    cmds.push(afl_command(&AflRun {
                        bin: &self.bin,
                        input: &input,
                        out: &out,
                        secs: &secs,
                        job: j,
                        foreign: &s.foreign,
                        dict: dict.as_deref(),
                        mutator: s.cfg.mutator,
                        mutator_lib: &lib,
                    }));
                }
            }
            Engine::Honggfuzz => {
                let mut c = Command::new(setup::honggfuzz_bin(&s.cfg.root));
                c.args(["-n", &s.cfg.jobs.max(2).to_string()])
                    .args(["--run_time", &secs])
                    .arg("-i")
                    .arg(self.dir.join("corpus"))
                    .arg("-W")
                    .arg(self.dir.join("workspace"))
                    .arg("--crashdir")
                    .arg(self.dir.join(format!("crashes.{}", self.attempt)))
                    .arg("--statsfile")
                    .arg(self.dir.join(format!("stats.{}", self.attempt)))
                    .args(["--exit_upon_crash", "-v", "-t", "10"])
                    .args(["-F", &MAX_INPUT.to_string()]);
                if let Some(d) = &hfuzz_dict {
                    c.arg("--dict").arg(d);
                }
                if s.cfg.mutator == Mode::Field {
                    c.args(hfuzz_field_args(&setup::hfuzz_mutate_bin()?));
                }
                c.arg("--").arg(&self.bin);
                cmds.push(c);
            }
        }
        self.procs.clear();
        for (i, mut c) in cmds.into_iter().enumerate() {
            for (k, v) in &env {
                c.env(k, v);
            }
            let log = if i == 0 {
                self.log()
            } else {
                self.dir.join(format!("log.{}.{i}", self.attempt))
            };
            self.procs.push(Group::spawn(c, self.e.name(), &log)?);
        }
        Ok(())
    }

    fn running(&mut self) -> bool {
        let mut any = false;
        for p in &mut self.procs {
            if p.try_wait().is_none() {
                p.track();
                any = true;
            }
        }
        any
    }

    /// Stop the attempt (every process group) and bank its executions.
    fn stop(&mut self) {
        for p in &mut self.procs {
            p.stop(Duration::from_secs(3));
        }
        self.procs.clear();
        let s = self.read_stats();
        self.done_execs += s.execs.max(self.cur.execs);
        self.cur = Stats::default();
    }

    fn execs(&self) -> u64 {
        self.done_execs + self.cur.execs
    }
}

/// Session-wide state the runners read.
/// One AFL++ instance of a session: what [`afl_command`] needs.
struct AflRun<'a> {
    bin: &'a Path,
    input: &'a Path,
    out: &'a Path,
    secs: &'a str,
    /// 0 = the main instance (-M, syncs from the other engines' corpora), else a secondary (-S).
    job: usize,
    foreign: &'a [PathBuf],
    dict: Option<&'a Path>,
    mutator: Mode,
    mutator_lib: &'a Path,
}

/// AFL++ settings of every run (no UI, no CPU binding, quiet about the host).
const AFL_ENV: [(&str, &str); 8] = [
    ("AFL_SKIP_CPUFREQ", "1"),
    ("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1"),
    ("AFL_NO_UI", "1"),
    ("AFL_BENCH_UNTIL_CRASH", "1"),
    ("AFL_IGNORE_SEED_PROBLEMS", "1"),
    ("AFL_NO_AFFINITY", "1"),
    ("AFL_FAST_CAL", "1"),
    ("AFL_NO_WARN_INSTABILITY", "1"),
];

/// AFL++ settings of field mode (docs/engines.md): every execution goes to the library's
/// field-aware mutator. AFL_CUSTOM_MUTATOR_ONLY drops AFL++'s havoc, splice and deterministic
/// stages (the library keeps 3 in 16 plain byte mutations, so nothing becomes unreachable);
/// trimming and FrameShift would spend executions cutting and shifting a format whose every byte
/// is a field, for stages that no longer run.
pub const AFL_FIELD_ENV: [(&str, &str); 3] = [
    ("AFL_CUSTOM_MUTATOR_ONLY", "1"),
    ("AFL_DISABLE_TRIM", "1"),
    ("AFL_FRAMESHIFT_DISABLE", "1"),
];

/// AFL++ arguments of field mode: `-c -` turns off CmpLog, which `cargo afl fuzz` turns on
/// (it prepends `-c0`; AFL++ takes the last `-c`). CmpLog's colourisation and input-to-state
/// stages cost about half the executions, and format 1 has no magic values to solve.
pub const AFL_FIELD_ARGS: [&str; 2] = ["-c", "-"];

/// honggfuzz arguments of field mode: honggfuzz has no in-process custom-mutator hook, but
/// `--ffmutate_cmd PROG` lets it choose each input by its coverage feedback without mangling it
/// and then runs `PROG FILE` to mutate it (honggfuzz input.c input_postProcessFile, fuzz.c
/// fuzz_fetchInput): PROG is diofuzz-hfuzz-mutate, the library's mutator in one process per
/// execution.
pub fn hfuzz_field_args(mutate_bin: &Path) -> Vec<std::ffi::OsString> {
    vec!["--ffmutate_cmd".into(), mutate_bin.as_os_str().to_owned()]
}

/// The `cargo afl fuzz` command of one AFL++ instance.
fn afl_command(a: &AflRun) -> Command {
    let mut c = Command::new("cargo");
    c.args(["afl", "fuzz", "-i"])
        .arg(a.input)
        .arg("-o")
        .arg(a.out)
        .args(["-V", a.secs, "-G", &MAX_INPUT.to_string()]);
    if a.job == 0 {
        c.args(["-M", "main"]);
        for o in a.foreign {
            c.arg("-F").arg(o);
        }
    } else {
        c.args(["-S", &format!("s{}", a.job)]);
    }
    if let Some(d) = a.dict {
        c.arg("-x").arg(d);
    }
    let field = a.mutator == Mode::Field;
    if field {
        c.args(AFL_FIELD_ARGS);
    }
    c.arg("--").arg(a.bin);
    c.envs(AFL_ENV);
    if field {
        c.env("AFL_CUSTOM_MUTATOR_LIBRARY", a.mutator_lib);
        c.envs(AFL_FIELD_ENV);
    }
    c
}

struct Sess {
    cfg: SessionCfg,
    supp_file: PathBuf,
    seeds: PathBuf,
    /// Other engines' corpus folders (AFL++ syncs from them with -F).
    foreign: Vec<PathBuf>,
}

impl Sess {
    fn write_supp(&self, t: &Triage) -> Result<(), String> {
        std::fs::write(&self.supp_file, t.session_text())
            .map_err(|e| format!("cannot write {}: {e}", self.supp_file.display()))
    }
}

/// Run a session to its end (time up, every engine failed, or Ctrl-C).
pub fn run_session(cfg: SessionCfg, cfgv: Config) -> Result<(SessionResult, Triage), String> {
    let t0 = Instant::now();
    let sys0 = SystemTime::now();
    let _held = super::lock::try_dir(&cfg.work)?;
    let _ = std::fs::remove_dir_all(&cfg.work);
    mkdir(&cfg.work)?;
    mkdir(&cfg.corpus)?;
    let supp_base = match &cfg.suppress {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read suppression file {}: {e}", p.display()))?,
        None => String::new(),
    };
    let mut triage = Triage::new(
        cfgv,
        &supp_base,
        cfg.findings.clone(),
        &cfg.target,
        cfg.write_findings,
    );
    triage.group_by = cfg.stop_when_all.clone();

    // Seeds: the corpus without the files that crash already.
    let seeds = cfg.work.join("seeds");
    mkdir(&seeds)?;
    let corpus_files = files_in(&cfg.corpus);
    let corpus_before = corpus_files.len();
    let mut seed_sigs = BTreeSet::new();
    for f in &corpus_files {
        let Ok(data) = std::fs::read(f) else { continue };
        if data.len() > MAX_INPUT {
            continue;
        }
        if let Some((_, sig, _, _)) = super::findings::replay(&data, &triage.cfg) {
            if cfg.record_seed_crashes {
                triage.add("corpus", &data, 0.0)?;
                seed_sigs.insert(sig);
            }
            continue;
        }
        copy_unique(std::slice::from_ref(f), &seeds, "")?;
    }
    if files_in(&seeds).is_empty() {
        // Engines need one input to start from; pick one that does not crash.
        let cands: [&[u8]; 3] = [&[0u8; 64], &[0u8; 1], b"\x01\x00\x00\x00"];
        let pick = cands
            .iter()
            .find(|c| super::findings::replay(c, &triage.cfg).is_none())
            .unwrap_or(&cands[0]);
        std::fs::write(seeds.join("empty-seed"), pick).map_err(|e| e.to_string())?;
    }
    if cfg.progress && !seed_sigs.is_empty() {
        eprintln!(
            "diofuzz: {} corpus file(s) already crash ({} signature(s)): recorded, not given to the engines",
            corpus_files.len() - (files_in(&seeds).len()).min(corpus_files.len()),
            seed_sigs.len()
        );
    }

    let mut runners = Vec::new();
    for e in &cfg.engines {
        let dir = cfg.work.join(e.name());
        mkdir(&dir)?;
        let bin = cfg
            .bins
            .get(e)
            .cloned()
            .ok_or_else(|| format!("no {e} binary"))?;
        if *e != Engine::Afl {
            copy_unique(&files_in(&seeds), &dir.join("corpus"), "")?;
        }
        mkdir(&dir.join("crashes"))?;
        runners.push(Runner {
            e: *e,
            bin,
            dir,
            attempt: 0,
            procs: Vec::new(),
            attempt_start: Instant::now(),
            seen: HashSet::new(),
            done_execs: 0,
            cur: Stats::default(),
            crash_files: 0,
            sigs: BTreeSet::new(),
            first_crash: None,
            quick_exits: 0,
            failed: None,
            corpus_start: 0,
            collected: 0,
        });
    }
    let foreign: Vec<PathBuf> = cfg
        .engines
        .iter()
        .filter(|e| **e != Engine::Afl)
        .map(|e| cfg.work.join(e.name()).join("corpus"))
        .collect();
    let sess = Sess {
        supp_file: cfg.work.join("suppress.txt"),
        seeds,
        foreign,
        cfg,
    };
    sess.write_supp(&triage)?;

    let deadline = t0 + sess.cfg.time;
    for r in &mut runners {
        r.corpus_start = if r.e == Engine::Afl {
            files_in(&sess.seeds).len()
        } else {
            r.corpus_size()
        };
        if let Err(e) = r.start(&sess, sess.cfg.time) {
            r.failed = Some(e);
        }
    }
    // The bar is drawn only on a terminal; the finding lines below print either way.
    let pb = crate::progress::seconds(
        sess.cfg.time.as_secs(),
        sess.cfg.progress && crate::progress::wanted(false),
    );
    let mut last_progress = Instant::now();
    let mut first_hit: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    loop {
        let now = Instant::now();
        if proc::stopped() || now >= deadline {
            break;
        }
        let mut active = 0;
        for r in runners.iter_mut() {
            if r.failed.is_some() {
                continue;
            }
            active += 1;
            if !r.procs.is_empty() {
                let s = r.read_stats();
                if s.execs > 0 {
                    r.cur = s;
                }
            }
            let alive = r.running();
            if sess.cfg.collect {
                for (variant, signature, secs) in r.read_collected(sys0, t0) {
                    let fresh = record_hit(r, &mut first_hit, &variant, &signature, secs);
                    if fresh && sess.cfg.progress {
                        announce(&pb, r.e, &variant, &signature, secs);
                    }
                }
            }
            let crashes = r.new_crashes();
            if crashes.is_empty() && alive {
                continue;
            }
            // A crash (or the engine stopped): end this attempt, triage, restart.
            r.stop();
            let mut late = r.new_crashes();
            let mut all = crashes;
            all.append(&mut late);
            for (f, t) in all {
                let Some((outcome, secs)) = triage_crash(r, &mut triage, &f, t, sys0, t0)? else {
                    continue;
                };
                match outcome {
                    Outcome::New { variant, signature } | Outcome::Dup { variant, signature } => {
                        let fresh = record_hit(r, &mut first_hit, &variant, &signature, secs);
                        if fresh && sess.cfg.progress {
                            announce(&pb, r.e, &variant, &signature, secs);
                        }
                    }
                    Outcome::NoRepro => {
                        if r.first_crash.is_none() {
                            r.first_crash = Some(secs);
                        }
                        if sess.cfg.progress {
                            crate::progress::line(
                                &pb,
                                &format!(
                                    "diofuzz: [{secs:6.1} s] {:<9} crash file {} does not reproduce in-process (timeout/OOM?)",
                                    r.e.name(),
                                    f.display()
                                ),
                            );
                        }
                    }
                }
            }
            sess.write_supp(&triage)?;
            let ran = r.attempt_start.elapsed();
            if r.seen.is_empty() && ran < Duration::from_secs(3) {
                r.quick_exits += 1;
            }
            if r.quick_exits >= 3 {
                r.failed = Some(format!(
                    "{} exits at once without a crash; last lines of {}:\n{}",
                    r.e,
                    r.log().display(),
                    setup::tail(&r.log(), 12)
                ));
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_secs(1) {
                continue;
            }
            r.attempt += 1;
            if let Err(e) = r.start(&sess, left) {
                r.failed = Some(e);
            }
        }
        if active == 0 {
            break;
        }
        if !sess.cfg.stop_when_all.is_empty()
            && sess.cfg.stop_when_all.iter().all(|p| {
                let m = diofuzz::suppress::Suppressions::parse(p);
                first_hit.keys().any(|(_, sig)| m.matches(sig))
            })
        {
            break;
        }
        if !pb.is_hidden() && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let el = t0.elapsed().as_secs_f64();
            let parts: Vec<String> = runners
                .iter()
                .map(|r| {
                    if r.failed.is_some() {
                        format!("{}: failed", r.e)
                    } else {
                        format!(
                            "{} {}/s corpus {} crashes {}",
                            r.e,
                            stats::human(r.execs() as f64 / el.max(0.001)),
                            r.corpus_size(),
                            r.crash_files
                        )
                    }
                })
                .collect();
            pb.set_position(el as u64);
            pb.set_message(format!(
                "{} | findings {}",
                parts.join(" | "),
                triage.entries.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    pb.finish_and_clear();
    let interrupted = proc::stopped();
    // Stop everything, then pick up crash files written at the very end.
    for r in runners.iter_mut() {
        r.stop();
        for (variant, signature, secs) in r.read_collected(sys0, t0) {
            record_hit(r, &mut first_hit, &variant, &signature, secs);
        }
        let late = r.new_crashes();
        for (f, t) in late {
            if let Some((
                Outcome::New { variant, signature } | Outcome::Dup { variant, signature },
                secs,
            )) = triage_crash(r, &mut triage, &f, t, sys0, t0)?
            {
                record_hit(r, &mut first_hit, &variant, &signature, secs);
            }
        }
    }
    let seconds = t0.elapsed().as_secs_f64();

    // Merge new inputs back into the shared corpus.
    let corpus_after = if sess.cfg.merge_back {
        merge_back(&sess, &runners)?
    } else {
        corpus_before
    };

    let engines = runners
        .iter()
        .map(|r| EngineResult {
            engine: r.e.name().into(),
            status: match (&r.failed, interrupted) {
                (Some(e), _) => format!("failed: {}", e.lines().next().unwrap_or("")),
                (None, true) => "interrupted".into(),
                (None, false) => "ok".into(),
            },
            restarts: r.attempt,
            execs: r.execs(),
            exec_per_sec: r.execs() as f64 / seconds.max(0.001),
            crash_files: r.crash_files,
            signatures: r.sigs.iter().cloned().collect(),
            first_crash_seconds: r.first_crash,
            corpus_added: r.corpus_size().saturating_sub(r.corpus_start),
            seconds,
        })
        .collect();
    for r in &runners {
        if let Some(f) = &r.failed {
            eprintln!("diofuzz: {} failed: {f}", r.e);
        }
    }
    let res = SessionResult {
        target: sess.cfg.target.clone(),
        variant: sess
            .cfg
            .variant
            .clone()
            .unwrap_or_else(|| diofuzz::variant::newest().name.to_string()),
        seconds,
        interrupted,
        engines,
        first_hit,
        corpus_before,
        corpus_after,
        findings_new: triage.count_new(),
        findings_total: triage.entries.len(),
        unreproduced: triage.unreproduced.len(),
    };
    Ok((res, triage))
}

/// New inputs of every engine go back into the session corpus (by default the working corpus
/// fuzz/corpus/<target>): through libFuzzer's `-merge=1`
/// (keeps only inputs that add coverage) when a libFuzzer binary is at hand, else by content hash.
fn merge_back(s: &Sess, runners: &[Runner]) -> Result<usize, String> {
    let cand = s.cfg.work.join("merge-candidates");
    let mut srcs = Vec::new();
    for r in runners {
        for d in r.corpus_dirs() {
            srcs.extend(files_in(&d));
        }
    }
    // Inputs the corpus has already are not candidates.
    let have: HashSet<u64> = files_in(&s.cfg.corpus)
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .map(|d| fnv64(&d))
        .collect();
    srcs.retain(|f| {
        std::fs::read(f)
            .map(|d| !have.contains(&fnv64(&d)))
            .unwrap_or(false)
    });
    copy_unique(&srcs, &cand, "")?;
    let n_cand = count_files(&cand);
    if n_cand == 0 {
        return Ok(count_files(&s.cfg.corpus));
    }
    let lf = s.cfg.bins.get(&Engine::LibFuzzer).cloned().or_else(|| {
        let b = setup::binary(&s.cfg.root, Engine::LibFuzzer, &s.cfg.target);
        b.is_file().then_some(b)
    });
    // Sessions on other variants may merge into the same corpus: one merge at a time.
    let _merging = super::lock::wait(&s.cfg.work.with_file_name("corpus-merge.lock"))?;
    match lf {
        Some(bin) => {
            let mut c = Command::new(bin);
            c.arg("-merge=1")
                .arg(format!("-max_len={MAX_INPUT}"))
                .arg(format!(
                    "-artifact_prefix={}/",
                    s.cfg.work.join("merge-crashes").display()
                ))
                .arg(format!(
                    "-merge_control_file={}",
                    s.cfg.work.join("merge.control").display()
                ))
                .arg(&s.cfg.corpus)
                .arg(&cand)
                .env("DIOFUZZ_SUPPRESS", &s.supp_file);
            if let Some(v) = &s.cfg.variant {
                c.env("DIOFUZZ_VARIANT", v);
            }
            let log = s.cfg.work.join("merge.log");
            mkdir(&s.cfg.work.join("merge-crashes"))?;
            // The merge must finish even after Ctrl-C: run it in our own group.
            let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let err = out.try_clone().map_err(|e| e.to_string())?;
            let st = c
                .stdout(out)
                .stderr(err)
                .status()
                .map_err(|e| format!("cannot run the libFuzzer merge: {e}"))?;
            if !st.success() {
                eprintln!(
                    "diofuzz: libFuzzer merge failed ({st}); corpus left as it was; see {}",
                    log.display()
                );
            }
        }
        None => {
            copy_unique(&files_in(&cand), &s.cfg.corpus, "")?;
        }
    }
    Ok(count_files(&s.cfg.corpus))
}

/// Read one crash file of `r`, time it from the session start (never later than now), count it
/// and replay it through triage. None when the file is gone.
fn triage_crash(
    r: &mut Runner,
    triage: &mut Triage,
    f: &Path,
    t: SystemTime,
    sys0: SystemTime,
    t0: Instant,
) -> Result<Option<(Outcome, f64)>, String> {
    let Ok(data) = std::fs::read(f) else {
        return Ok(None);
    };
    let secs = t
        .duration_since(sys0)
        .unwrap_or_default()
        .as_secs_f64()
        .min(t0.elapsed().as_secs_f64());
    r.crash_files += 1;
    Ok(Some((triage.add(r.e.name(), &data, secs)?, secs)))
}

/// The records of a DIOFUZZ_COLLECT signatures.tsv after the first `skip` lines, each as
/// (variant, signature, seconds from `start`, clamped to 0..=`now`), and the number of whole lines
/// read (a target may be writing the last one).
fn parse_collected(
    text: &str,
    skip: usize,
    start: f64,
    now: f64,
) -> (Vec<(String, String, f64)>, usize) {
    let whole = text.rfind('\n').map(|i| &text[..=i]).unwrap_or("");
    let mut n = skip;
    let mut out = Vec::new();
    for line in whole.lines().skip(skip) {
        n += 1;
        let f: Vec<&str> = line.split('\t').collect();
        if let (Some(v), Some(sig), Some(t)) = (f.get(1), f.get(2), f.get(4)) {
            let secs = t.parse::<f64>().map(|t| t - start).unwrap_or(0.0);
            out.push((v.to_string(), sig.to_string(), secs.clamp(0.0, now)));
        }
    }
    (out, n)
}

/// Print a signature an engine hit for the first time (above the progress bar).
fn announce(pb: &indicatif::ProgressBar, e: Engine, variant: &str, signature: &str, secs: f64) {
    crate::progress::line(
        pb,
        &format!(
            "diofuzz: [{secs:6.1} s] {:<9} found {} {} on {}: {}",
            e.name(),
            diofuzz::known::label(signature, variant),
            signature.split(':').next().unwrap_or(""),
            variant,
            signature
        ),
    );
}

/// Record a reproduced signature for `r`: its first hit per engine, the runner's first crash,
/// its signature set. True when this engine hits the signature for the first time.
fn record_hit(
    r: &mut Runner,
    first_hit: &mut BTreeMap<(String, String), BTreeMap<String, f64>>,
    variant: &str,
    signature: &str,
    secs: f64,
) -> bool {
    let hits = first_hit
        .entry((variant.to_string(), signature.to_string()))
        .or_default();
    let fresh = !hits.contains_key(r.e.name());
    hits.entry(r.e.name().to_string()).or_insert(secs);
    r.first_crash.get_or_insert(secs);
    r.sigs.insert(signature.to_string());
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arguments and environment of the AFL++ command for one mutator mode.
    fn afl(mutator: Mode, job: usize) -> (Vec<String>, BTreeMap<String, String>) {
        let p = |x: &str| PathBuf::from(x);
        let (bin, input, out, lib, dict) = (p("bin"), p("in"), p("out"), p("lib.so"), p("d"));
        let c = afl_command(&AflRun {
            bin: &bin,
            input: &input,
            out: &out,
            secs: "60",
            job,
            foreign: &[],
            dict: Some(&dict),
            mutator,
            mutator_lib: &lib,
        });
        let args = c.get_args().map(|a| a.to_string_lossy().into()).collect();
        let env = c
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_string_lossy().into(), v?.to_string_lossy().into())))
            .collect();
        (args, env)
    }

    #[test]
    fn hfuzz_field_mode_mutates_through_the_library() {
        let a = hfuzz_field_args(Path::new("/x/diofuzz-hfuzz-mutate"));
        assert_eq!(a[0], "--ffmutate_cmd");
        assert_eq!(a[1], "/x/diofuzz-hfuzz-mutate");
    }

    #[test]
    fn afl_field_mode_runs_the_library_alone_without_cmplog() {
        for job in [0, 1] {
            let (args, env) = afl(Mode::Field, job);
            for (k, v) in AFL_FIELD_ENV {
                assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
            }
            assert_eq!(env["AFL_CUSTOM_MUTATOR_ONLY"], "1");
            assert_eq!(env["AFL_CUSTOM_MUTATOR_LIBRARY"], "lib.so");
            // `cargo afl fuzz` prepends -c0; AFL++ takes the last -c, so `-c -` must be among
            // afl-fuzz's options, before the `--` that starts the target's command line.
            let dd = args.iter().position(|a| a == "--").unwrap();
            let c = args.iter().position(|a| a == "-c").unwrap();
            assert!(c < dd && args[c + 1] == "-", "{args:?}");
            assert_eq!(args[dd + 1], "bin");
            assert_eq!(args[..3], ["afl", "fuzz", "-i"]);
        }
    }

    #[test]
    fn afl_bytes_mode_is_plain_afl() {
        let (args, env) = afl(Mode::Bytes, 0);
        for k in [
            "AFL_CUSTOM_MUTATOR_LIBRARY",
            "AFL_CUSTOM_MUTATOR_ONLY",
            "AFL_DISABLE_TRIM",
        ] {
            assert!(!env.contains_key(k), "{k} set in bytes mode");
        }
        assert!(
            !args.iter().any(|a| a == "-c"),
            "CmpLog stays as cargo afl sets it"
        );
        assert!(args.windows(2).any(|w| w == ["-x", "d"]), "the dictionary");
        assert!(args.windows(2).any(|w| w == ["-M", "main"]));
        assert_eq!(env["AFL_NO_UI"], "1");
        let (args, _) = afl(Mode::Bytes, 2);
        assert!(args.windows(2).any(|w| w == ["-S", "s2"]));
    }

    #[test]
    fn collected_records_are_timed_from_the_start() {
        let t =
            "a\tthread-v1\tO1:x\tdetail\t1000.500\nb\tthread-v1\tO3:y\td\t999.0\nc\tv\tO1:z\td\t10";
        let (v, n) = parse_collected(t, 0, 1000.0, 60.0);
        assert_eq!(n, 2, "the unfinished last line is left for later");
        assert_eq!(v[0], ("thread-v1".into(), "O1:x".into(), 0.5));
        assert_eq!(v[1].2, 0.0, "clamped at the start");
        let (v, n) = parse_collected(&format!("{t}\n"), 2, 1000.0, 60.0);
        assert_eq!((v.len(), n), (1, 3));
        assert_eq!(v[0].2, 0.0);
    }
}
