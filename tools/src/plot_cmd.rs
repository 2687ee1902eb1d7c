// SPDX-License-Identifier: GPL-2.0-only
//! `diofuzz plot ...`: charts (SVG and PNG, tools/src/plot.rs) from the JSON other commands
//! write, so a picture can be redrawn from a committed result without rerunning it.
//!
//! - `plot coverage COV.json...`: decisions reached per kernel file, one bar per report
//!   (`diofuzz coverage --json`), e.g. the committed corpus against a fuzzed working corpus;
//! - `plot agreement LIVE.json...`: model/kernel agreement per kernel (`diofuzz live --json`,
//!   one file per kernel), one bar per filesystem and atomic/non-atomic group.

use crate::plot::{bar_chart, Bars};
use clap::Subcommand;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum PlotCmd {
    /// Decisions reached per kernel file from `diofuzz coverage --json` outputs (one series each)
    Coverage {
        /// Reports written by `diofuzz coverage --json`
        #[arg(required = true, value_name = "COVERAGE.json")]
        reports: Vec<PathBuf>,
        /// Series names, in the order of the reports [default: the corpus each report names]
        #[arg(long = "label", value_name = "NAME")]
        labels: Vec<String>,
        /// Output stem: writes STEM.svg and STEM.png
        #[arg(long, short = 'o', value_name = "STEM")]
        out: PathBuf,
    },
    /// Model/kernel agreement per kernel from `diofuzz live --json` outputs
    Agreement {
        /// Reports written by `diofuzz live --json` (one per kernel)
        #[arg(required = true, value_name = "LIVE.json")]
        reports: Vec<PathBuf>,
        /// Output stem: writes STEM.svg and STEM.png
        #[arg(long, short = 'o', value_name = "STEM")]
        out: PathBuf,
    },
}

fn read_json(p: &Path) -> Result<Value, String> {
    let t = std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    serde_json::from_str(&t).map_err(|e| format!("{}: not JSON: {e}", p.display()))
}

fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

/// Coverage chart data: categories (kernel files) and one series per report.
pub fn coverage_bars(reports: &[(String, Value)]) -> Result<Bars, String> {
    let mut files: BTreeMap<String, Vec<Option<(f64, f64)>>> = BTreeMap::new();
    for (i, (name, r)) in reports.iter().enumerate() {
        let fs = r.get("files").and_then(Value::as_array).ok_or_else(|| {
            format!("{name}: no \"files\": not a `diofuzz coverage --json` report")
        })?;
        for f in fs {
            let file = f.get("file").and_then(Value::as_str).unwrap_or("?");
            let total = num(f, "decisions");
            if total == 0.0 {
                continue;
            }
            let e = files
                .entry(file.to_string())
                .or_insert_with(|| vec![None; reports.len()]);
            e[i] = Some((num(f, "decisions_reached"), total));
        }
    }
    if files.is_empty() {
        return Err("no kernel file with decisions in the reports".into());
    }
    Ok(Bars {
        title: "Modelled decisions reached per kernel file".into(),
        x_label: "decisions reached (%)".into(),
        categories: files
            .iter()
            .map(|(f, v)| {
                let total = v.iter().flatten().map(|x| x.1).fold(0.0, f64::max);
                format!("{f} ({total:.0})")
            })
            .collect(),
        series: reports
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                (
                    name.clone(),
                    files
                        .values()
                        .map(|v| v[i].map_or(0.0, |(a, b)| 100.0 * a / b))
                        .collect(),
                )
            })
            .collect(),
        x_max: Some(100.0),
        value_decimals: Some(0),
    })
}

/// Agreement chart data: one category per kernel, one series per live group.
pub fn agreement_bars(reports: &[Value]) -> Result<Bars, String> {
    let mut kernels = Vec::new();
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (i, r) in reports.iter().enumerate() {
        let kernel = r
            .get("kernel")
            .and_then(Value::as_str)
            .ok_or("a report has no \"kernel\": not a `diofuzz live --json` output".to_string())?;
        let variant = r.get("variant").and_then(Value::as_str).unwrap_or("?");
        let g = r
            .pointer("/summary/groups")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{kernel}: no summary.groups"))?;
        let (mut agree_all, mut compared_all) = (0.0, 0.0);
        for (name, x) in g {
            let (a, d) = (num(x, "agree"), num(x, "disagree"));
            if name == "all" || a + d == 0.0 {
                continue;
            }
            agree_all += a;
            compared_all += a + d;
            groups
                .entry(name.clone())
                .or_insert_with(|| vec![0.0; reports.len()])[i] = 100.0 * a / (a + d);
        }
        kernels.push(format!(
            "{kernel} ({variant}; {agree_all:.0}/{compared_all:.0})"
        ));
    }
    if groups.is_empty() {
        return Err("no compared scenario (agree or disagree) in the reports".into());
    }
    Ok(Bars {
        title: "Model and kernel agree (live: compared scenarios)".into(),
        x_label: "agreement (%)".into(),
        categories: kernels,
        series: groups.into_iter().collect(),
        x_max: Some(100.0),
        value_decimals: Some(1),
    })
}

pub fn cli(cmd: &PlotCmd) -> Result<i32, String> {
    let (bars, out) = match cmd {
        PlotCmd::Coverage {
            reports,
            labels,
            out,
        } => {
            if !labels.is_empty() && labels.len() != reports.len() {
                return Err(format!(
                    "{} --label for {} reports: give one per report or none",
                    labels.len(),
                    reports.len()
                ));
            }
            let mut rs = Vec::new();
            for (i, p) in reports.iter().enumerate() {
                let v = read_json(p)?;
                let name = labels.get(i).cloned().unwrap_or_else(|| {
                    v.get("corpus")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_else(|| p.display().to_string())
                });
                rs.push((name, v));
            }
            (coverage_bars(&rs)?, out)
        }
        PlotCmd::Agreement { reports, out } => {
            let rs = reports
                .iter()
                .map(|p| read_json(p))
                .collect::<Result<Vec<_>, _>>()?;
            (agreement_bars(&rs)?, out)
        }
    };
    for p in bar_chart(out, &bars)? {
        eprintln!("diofuzz plot: wrote {}", p.display());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agreement_per_kernel_and_group() {
        let r = json!({"kernel": "6.18.1", "variant": "v6.18", "summary": {"groups": {
            "all": {"agree": 9, "disagree": 1},
            "xfs atomic": {"agree": 3, "disagree": 1},
            "ext4 non-atomic": {"agree": 6, "disagree": 0},
            "ext4 atomic": {"agree": 0, "disagree": 0, "skipped": 4}}}});
        let b = agreement_bars(&[r]).unwrap();
        assert_eq!(b.categories, ["6.18.1 (v6.18; 9/10)"]);
        let s: BTreeMap<_, _> = b.series.into_iter().collect();
        assert_eq!(s["xfs atomic"], [75.0]);
        assert_eq!(s["ext4 non-atomic"], [100.0]);
        assert!(
            !s.contains_key("ext4 atomic"),
            "no compared scenario: no bar"
        );
        assert!(agreement_bars(&[json!({"files": []})]).is_err());
    }

    #[test]
    fn coverage_series_per_report() {
        let a = json!({"files": [{"file": "fs/dax.c", "decisions": 2, "decisions_reached": 1},
                                 {"file": "(system call entry)", "decisions": 0, "decisions_reached": 0}]});
        let b = json!({"files": [{"file": "fs/dax.c", "decisions": 2, "decisions_reached": 2}]});
        let bars = coverage_bars(&[("seeds".into(), a), ("fuzzed".into(), b)]).unwrap();
        assert_eq!(bars.categories, ["fs/dax.c (2)"]);
        assert_eq!(bars.series[0], ("seeds".to_string(), vec![50.0]));
        assert_eq!(bars.series[1], ("fuzzed".to_string(), vec![100.0]));
        assert!(coverage_bars(&[("x".into(), json!({}))]).is_err());
    }
}
