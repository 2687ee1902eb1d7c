// SPDX-License-Identifier: GPL-2.0-only
//! Command-line options of the engine subcommands (clap derive), validated before anything is
//! built or run: an unknown engine, target or variant, a bad duration or job count is a usage
//! error (exit 2) naming the bad value.

use clap::Args;
use diofuzz::mutate::Mode;
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
    pub fn parse_list(s: &str) -> Result<Engines, String> {
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
        Ok(Engines(out))
    }

    /// One engine that can minimise (libFuzzer or AFL++), for cmin and tmin.
    pub fn parse_minimiser(s: &str) -> Result<Engine, String> {
        match Engine::parse_list(s)?.0.as_slice() {
            [Engine::LibFuzzer] => Ok(Engine::LibFuzzer),
            [Engine::Afl] => Ok(Engine::Afl),
            _ => Err(format!(
                "'{s}': minimising uses one engine, libfuzzer or afl"
            )),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A list of engines as `--engine` takes it (a comma list or `all`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engines(pub Vec<Engine>);

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

impl Suppress {
    pub fn parse(v: &str) -> Result<Suppress, String> {
        Ok(match v {
            "none" | "" => Suppress::None,
            "default" => Suppress::Default,
            p => Suppress::File(PathBuf::from(p)),
        })
    }
}

/// `diofuzz fuzz`: run the engines side by side on the shared corpus.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct FuzzOpts {
    /// Engines: libfuzzer, afl, honggfuzz, a comma list of them, or all
    #[arg(long = "engine", short = 'e', visible_alias = "engines", value_name = "LIST",
          default_value = "libfuzzer", value_parser = Engine::parse_list)]
    pub engines: Engines,
    /// The fuzz target
    #[arg(long, short = 't', default_value = "dio_write", value_parser = check_target)]
    pub target: String,
    /// Kernel variant (a name, a comma list, or all) as DIOFUZZ_VARIANT takes it [default: the newest]
    #[arg(long, short = 'v', value_name = "V", value_parser = check_variant)]
    pub variant: Option<String>,
    /// Run time: seconds, or 10m, 1h
    #[arg(long, visible_alias = "max-time", value_name = "SECONDS", default_value = "60",
          value_parser = parse_secs)]
    pub time: u64,
    /// Parallel jobs per engine (1-256)
    #[arg(long, short = 'j', value_name = "N", default_value = "1", value_parser = parse_jobs)]
    pub jobs: usize,
    /// Suppression file, `none`, or `default` (suppressions/newest.txt on the newest variants)
    #[arg(long, value_name = "FILE|none", default_value = "default", value_parser = Suppress::parse)]
    pub suppress: Suppress,
    /// Same as --suppress none
    #[arg(long)]
    pub no_suppress: bool,
    /// Do not install missing engine tools (fail instead)
    #[arg(long)]
    pub no_install: bool,
    /// Do not merge new inputs back into the working corpus
    #[arg(long)]
    pub no_merge: bool,
    /// Where findings go [default: findings/<target>]
    #[arg(long = "findings", value_name = "DIR")]
    pub findings_dir: Option<PathBuf>,
    /// The corpus to fuzz [default: the working corpus fuzz/corpus/<target>]
    #[arg(long = "corpus", value_name = "DIR")]
    pub corpus_dir: Option<PathBuf>,
    /// Mutation: field (the model's field-aware mutator, libFuzzer and AFL++) or bytes (the
    /// engines' own) [default: $DIOFUZZ_MUTATOR, else field]
    #[arg(long, value_name = "field|bytes", value_parser = parse_mutator)]
    pub mutator: Option<Mode>,
    /// Record each new signature with its time and its input and keep fuzzing (DIOFUZZ_COLLECT),
    /// instead of stopping the engine at the first finding: for soaks and long campaigns
    #[arg(long)]
    pub record_and_continue: bool,
}

/// Parse a mutator name (field or bytes).
pub fn parse_mutator(v: &str) -> Result<Mode, String> {
    if v.trim().is_empty() {
        return Err("empty mutator: want field or bytes".into());
    }
    Mode::parse(Some(v)).map_err(|_| format!("bad mutator '{v}': want field or bytes"))
}

/// The mutator: the option, else DIOFUZZ_MUTATOR, else field.
pub fn mutator_or_env(m: Option<Mode>) -> Result<Mode, String> {
    match m {
        Some(m) => Ok(m),
        None => Mode::parse(std::env::var("DIOFUZZ_MUTATOR").ok().as_deref()),
    }
}

impl FuzzOpts {
    /// The suppression choice, --no-suppress winning.
    pub fn suppression(&self) -> Suppress {
        if self.no_suppress {
            Suppress::None
        } else {
            self.suppress.clone()
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

/// A variant name, a comma list, or `all`, checked against the known variants. Variant files
/// (a patch described as data) are made absolute, since the engines run in other folders.
pub fn check_variant(v: &str) -> Result<String, String> {
    diofuzz::variant::resolve(v.trim())?;
    let parts: Vec<String> = v
        .trim()
        .split(',')
        .map(|p| {
            let p = p.trim();
            match diofuzz::variant_file::looks_like_file(p) {
                true => std::fs::canonicalize(p)
                    .map(|a| a.display().to_string())
                    .unwrap_or_else(|_| p.to_string()),
                false => p.to_string(),
            }
        })
        .collect();
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        o: FuzzOpts,
    }

    fn parse_fuzz(a: &[&str]) -> Result<FuzzOpts, clap::Error> {
        T::try_parse_from(std::iter::once("fuzz").chain(a.iter().copied())).map(|t| t.o)
    }

    #[test]
    fn engines_parse() {
        assert_eq!(Engine::parse_list("all").unwrap().0, Engine::ALL.to_vec());
        assert_eq!(
            Engine::parse_list("afl,libfuzzer,afl").unwrap().0,
            vec![Engine::Afl, Engine::LibFuzzer]
        );
        assert!(Engine::parse_list("jazzer").is_err());
        assert_eq!(Engine::parse_minimiser("afl++").unwrap(), Engine::Afl);
        assert!(Engine::parse_minimiser("all").is_err());
    }

    #[test]
    fn record_and_continue_is_off_unless_asked() {
        assert!(!parse_fuzz(&[]).unwrap().record_and_continue);
        assert!(
            parse_fuzz(&["--record-and-continue"])
                .unwrap()
                .record_and_continue
        );
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
        let o = parse_fuzz(&[
            "--engine",
            "all",
            "--target=dio_write",
            "--variant",
            "thread-v1",
            "--time",
            "45",
            "-j",
            "2",
        ])
        .unwrap();
        assert_eq!(o.engines.0.len(), 3);
        assert_eq!(o.variant.as_deref(), Some("thread-v1"));
        assert_eq!((o.time, o.jobs), (45, 2));
        assert_eq!(o.suppression(), Suppress::Default);
        let o = parse_fuzz(&["--no-suppress", "--variant=v7.0"]).unwrap();
        assert_eq!(o.suppression(), Suppress::None);
        assert_eq!(o.engines.0, vec![Engine::LibFuzzer]);
        assert_eq!(o.variant.as_deref(), Some("v7.0"));
        let o = parse_fuzz(&["--suppress", "none"]).unwrap();
        assert_eq!(o.suppression(), Suppress::None);
        assert_eq!((o.time, o.jobs, o.target.as_str()), (60, 1, "dio_write"));
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
            let e = parse_fuzz(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} should fail"));
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        let e = parse_fuzz(&["--engine", "jazzer"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown engine 'jazzer'"), "{e}");
    }
}
