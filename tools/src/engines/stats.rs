// SPDX-License-Identifier: GPL-2.0-only
//! Reading the engines' own progress figures: libFuzzer's status lines, AFL++'s `fuzzer_stats`
//! file, honggfuzz's `--statsfile` and final `Summary` line.

/// Executions so far and the engine's own exec/s figure.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub execs: u64,
    pub exec_s: f64,
}

fn num_after(line: &str, key: &str) -> Option<f64> {
    let i = line.find(key)? + key.len();
    let rest = line[i..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// libFuzzer: the last `#N ... exec/s: X` line (plain and -fork mode), or the
/// `stat::number_of_executed_units` / `stat::average_exec_per_sec` lines of -print_final_stats.
pub fn libfuzzer(log: &str) -> Stats {
    let mut s = Stats::default();
    for l in log.lines() {
        if let Some(rest) = l.strip_prefix('#') {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if let Ok(n) = rest[..end].parse::<u64>() {
                if let Some(x) = num_after(l, "exec/s:") {
                    s.execs = s.execs.max(n);
                    s.exec_s = x;
                }
            }
        } else if let Some(n) = num_after(l, "stat::number_of_executed_units:") {
            s.execs = s.execs.max(n as u64);
        } else if let Some(x) = num_after(l, "stat::average_exec_per_sec:") {
            s.exec_s = x;
        }
    }
    s
}

/// AFL++ `fuzzer_stats` (key : value lines).
pub fn afl(fuzzer_stats: &str) -> Stats {
    let mut s = Stats::default();
    for l in fuzzer_stats.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        match k.trim() {
            "execs_done" => s.execs = v.trim().parse().unwrap_or(0),
            "execs_per_sec" => s.exec_s = v.trim().parse().unwrap_or(0.0),
            _ => {}
        }
    }
    s
}

/// honggfuzz: the final `Summary iterations:N time:T speed:S ...` line of its log, else the last
/// line of the `--statsfile` CSV (`unix_time, last_cov_update, total_exec, exec_per_sec, ...`).
pub fn honggfuzz(log: &str, statsfile: &str) -> Stats {
    if let Some(l) = log
        .lines()
        .rev()
        .find(|l| l.contains("Summary iterations:"))
    {
        return Stats {
            execs: num_after(l, "iterations:").unwrap_or(0.0) as u64,
            exec_s: num_after(l, "speed:").unwrap_or(0.0),
        };
    }
    let mut s = Stats::default();
    if let Some(l) = statsfile
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() >= 4 {
            s.execs = f[2].parse().unwrap_or(0);
            s.exec_s = f[3].parse().unwrap_or(0.0);
        }
    }
    s
}

/// "12.3k" style counts for the progress line.
pub fn human(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.1}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzer_lines() {
        let log = "INFO: Seed: 1\n#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #65536\tpulse  cov: 120 ft: 300 corp: 40/900b lim: 4 exec/s: 21845 rss: 40Mb\n\
                   #70000\tNEW    cov: 121 ft: 301 corp: 41/910b lim: 4 exec/s: 23333 rss: 40Mb L: 3/4 MS: 1 ChangeBit-\n";
        assert_eq!(
            libfuzzer(log),
            Stats {
                execs: 70000,
                exec_s: 23333.0
            }
        );
        let fork = "#1234: cov: 5 ft: 6 corp: 7 exec/s: 810 oom/timeout/crash: 0/0/1 time: 3s job: 2 dft_time: 0\n";
        assert_eq!(libfuzzer(fork).execs, 1234);
        let fin = "stat::number_of_executed_units: 99999\nstat::average_exec_per_sec:     33333\n";
        assert_eq!(
            libfuzzer(fin),
            Stats {
                execs: 99999,
                exec_s: 33333.0
            }
        );
        assert_eq!(libfuzzer("garbage\n#x exec/s: \n"), Stats::default());
    }

    #[test]
    fn afl_stats() {
        let s = "start_time        : 1\nexecs_done        : 389\nexecs_per_sec     : 584.96\nsaved_crashes : 2\n";
        assert_eq!(
            afl(s),
            Stats {
                execs: 389,
                exec_s: 584.96
            }
        );
    }

    #[test]
    fn honggfuzz_stats() {
        let log =
            "Sz:4 Tm:55us\nSummary iterations:38 time:1 speed:38 crashes_count:2 timeout_count:0\n";
        assert_eq!(
            honggfuzz(log, ""),
            Stats {
                execs: 38,
                exec_s: 38.0
            }
        );
        let csv = "# unix_time, last_cov_update, total_exec, exec_per_sec, crashes\n100, 99, 5000, 2500, 0\n";
        assert_eq!(honggfuzz("", csv).execs, 5000);
        assert_eq!(honggfuzz("", "").execs, 0);
    }

    #[test]
    fn human_counts() {
        assert_eq!(human(999.0), "999");
        assert_eq!(human(12345.0), "12.3k");
        assert_eq!(human(2_500_000.0), "2.5M");
    }
}
