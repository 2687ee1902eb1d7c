// SPDX-License-Identifier: GPL-2.0-only
//! Command-line options of the engine subcommands, parsed by hand (no parser dependency) and
//! validated before anything is built or run.

use std::fmt;
use std::path::PathBuf;

/// The fuzzing engines diofuzz drives. Every one runs the same target functions on one corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engine {
    LibFuzzer,
    Afl,
    Honggfuzz,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::LibFuzzer, Engine::Afl, Engine::Honggfuzz];

    pub fn name(self) -> &'static str {
        match self {
            Engine::LibFuzzer => "libfuzzer",
            Engine::Afl => "afl",
            Engine::Honggfuzz => "honggfuzz",
        }
    }

    /// `libfuzzer`, `afl`, `honggfuzz` (a few aliases), a comma list of those, or `all`.
    pub fn parse_list(s: &str) -> Result<Vec<Engine>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            let e: &[Engine] = match part.to_ascii_lowercase().as_str() {
                "all" => &Engine::ALL,
                "libfuzzer" | "lf" | "cargo-fuzz" => &[Engine::LibFuzzer],
                "afl" | "afl++" | "aflplusplus" => &[Engine::Afl],
                "honggfuzz" | "hfuzz" | "hf" => &[Engine::Honggfuzz],
                _ => {
                    return Err(format!(
                        "unknown engine '{part}'; use libfuzzer, afl, honggfuzz or all"
                    ))
                }
            };
            for x in e {
                if !out.contains(x) {
                    out.push(*x);
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fuzz targets (binaries of fuzz/, harness/afl, harness/hfuzz).
pub const TARGETS: [&str; 2] = ["dio_write", "noop"];

pub fn check_target(t: &str) -> Result<String, String> {
    if TARGETS.contains(&t) {
        Ok(t.to_string())
    } else {
        Err(format!(
            "unknown target '{t}'; known: {}",
            TARGETS.join(", ")
        ))
    }
}

/// How the suppression file is chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suppress {
    /// suppressions/newest.txt when the variant is the newest, else none.
    Default,
    None,
    File(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzOpts {
    pub engines: Vec<Engine>,
    pub target: String,
    /// As DIOFUZZ_VARIANT takes it (a name, a comma list, or "all"); None = the newest.
    pub variant: Option<String>,
    pub time: u64,
    pub jobs: usize,
    pub suppress: Suppress,
    /// Do not install missing engine tools (fail instead).
    pub no_install: bool,
    /// Do not merge new inputs back into corpus/<target>.
    pub no_merge: bool,
    /// Where findings go (default: findings/<target>).
    pub findings_dir: Option<PathBuf>,
    /// The shared corpus (default: corpus/<target>).
    pub corpus_dir: Option<PathBuf>,
}

impl Default for FuzzOpts {
    fn default() -> Self {
        FuzzOpts {
            engines: vec![Engine::LibFuzzer],
            target: "dio_write".into(),
            variant: None,
            time: 60,
            jobs: 1,
            suppress: Suppress::Default,
            no_install: false,
            no_merge: false,
            findings_dir: None,
            corpus_dir: None,
        }
    }
}

/// Parse a duration: plain seconds, or a number with s/m/h.
pub fn parse_secs(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        _ => (s, 1),
    };
    match num.parse::<u64>().ok().and_then(|n| n.checked_mul(mul)) {
        Some(n) if n > 0 && n <= 366 * 24 * 3600 => Ok(n),
        _ => Err(format!(
            "bad duration '{s}': want a positive number of seconds (or 10m, 1h), at most a year"
        )),
    }
}

pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!("bad --jobs '{s}': want a number from 1 to 256")),
    }
}

pub fn check_variant(v: &str) -> Result<String, String> {
    diofuzz::variant::resolve(v.trim())?;
    Ok(v.trim().to_string())
}

/// A tiny option walker: `--name value`, `--name=value`, flags, positionals.
pub struct Args<'a> {
    args: &'a [String],
    i: usize,
    pending: Option<String>,
}

pub enum Arg {
    Opt(String),
    Pos(String),
}

impl<'a> Args<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Args {
            args,
            i: 0,
            pending: None,
        }
    }

    pub fn next_arg(&mut self) -> Option<Arg> {
        let a = self.args.get(self.i)?;
        self.i += 1;
        if let Some(rest) = a.strip_prefix("--") {
            if let Some((k, v)) = rest.split_once('=') {
                self.pending = Some(v.to_string());
                return Some(Arg::Opt(k.to_string()));
            }
            self.pending = None;
            return Some(Arg::Opt(rest.to_string()));
        }
        if a.len() == 2 && a.starts_with('-') && a != "-" {
            self.pending = None;
            return Some(Arg::Opt(a[1..].to_string()));
        }
        Some(Arg::Pos(a.clone()))
    }

    pub fn value(&mut self, name: &str) -> Result<String, String> {
        if let Some(v) = self.pending.take() {
            return Ok(v);
        }
        match self.args.get(self.i) {
            Some(v) => {
                self.i += 1;
                Ok(v.clone())
            }
            None => Err(format!("--{name} needs a value")),
        }
    }

    /// A flag given as `--flag=value` is an error (flags take none).
    pub fn flag(&mut self, name: &str) -> Result<(), String> {
        match self.pending.take() {
            Some(_) => Err(format!("--{name} takes no value")),
            None => Ok(()),
        }
    }
}

pub fn parse_fuzz(args: &[String]) -> Result<FuzzOpts, String> {
    let mut o = FuzzOpts::default();
    let mut a = Args::new(args);
    while let Some(arg) = a.next_arg() {
        match arg {
            Arg::Opt(k) => match k.as_str() {
                "engine" | "e" => o.engines = Engine::parse_list(&a.value("engine")?)?,
                "target" | "t" => o.target = check_target(&a.value("target")?)?,
                "variant" | "v" => o.variant = Some(check_variant(&a.value("variant")?)?),
                "time" | "max-time" => o.time = parse_secs(&a.value("time")?)?,
                "jobs" | "j" => o.jobs = parse_jobs(&a.value("jobs")?)?,
                "suppress" => {
                    let v = a.value("suppress")?;
                    o.suppress = match v.as_str() {
                        "none" | "" => Suppress::None,
                        "default" => Suppress::Default,
                        p => Suppress::File(PathBuf::from(p)),
                    }
                }
                "no-suppress" => {
                    a.flag(&k)?;
                    o.suppress = Suppress::None
                }
                "no-install" => {
                    a.flag(&k)?;
                    o.no_install = true
                }
                "no-merge" => {
                    a.flag(&k)?;
                    o.no_merge = true
                }
                "findings" => o.findings_dir = Some(a.value("findings")?.into()),
                "corpus" => o.corpus_dir = Some(a.value("corpus")?.into()),
                _ => return Err(format!("unknown option --{k} for 'diofuzz fuzz'")),
            },
            Arg::Pos(p) => return Err(format!("unexpected argument '{p}' for 'diofuzz fuzz'")),
        }
    }
    if o.engines.is_empty() {
        return Err("no engine given".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn engines_parse() {
        assert_eq!(Engine::parse_list("all").unwrap(), Engine::ALL.to_vec());
        assert_eq!(
            Engine::parse_list("afl,libfuzzer,afl").unwrap(),
            vec![Engine::Afl, Engine::LibFuzzer]
        );
        assert!(Engine::parse_list("jazzer").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_secs("30").unwrap(), 30);
        assert_eq!(parse_secs("2m").unwrap(), 120);
        assert_eq!(parse_secs("1h").unwrap(), 3600);
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-3").is_err());
        assert!(parse_secs("x").is_err());
        assert!(parse_secs("").is_err());
        assert!(parse_secs("m").is_err());
        assert!(parse_secs("99999999999999999h").is_err());
    }

    #[test]
    fn fuzz_options() {
        let o = parse_fuzz(&v(&[
            "--engine",
            "all",
            "--target=dio_write",
            "--variant",
            "thread-v1",
            "--time",
            "45",
            "-j",
            "2",
        ]))
        .unwrap();
        assert_eq!(o.engines.len(), 3);
        assert_eq!(o.variant.as_deref(), Some("thread-v1"));
        assert_eq!((o.time, o.jobs), (45, 2));
        assert_eq!(o.suppress, Suppress::Default);
        let o = parse_fuzz(&v(&["--no-suppress"])).unwrap();
        assert_eq!(o.suppress, Suppress::None);
        assert_eq!(o.engines, vec![Engine::LibFuzzer]);
    }

    #[test]
    fn fuzz_option_errors() {
        for bad in [
            &["--engine"][..],
            &["--engine", "x"],
            &["--target", "nope"],
            &["--variant", "v9.9"],
            &["--jobs", "0"],
            &["--time", "soon"],
            &["--frobnicate"],
            &["stray"],
            &["--no-merge=1"],
        ] {
            assert!(parse_fuzz(&v(bad)).is_err(), "{bad:?} should fail");
        }
    }
}
