// SPDX-License-Identifier: GPL-2.0-only
//! Reading the guest's result stream (one JSON object a line on ttyS1) and the console, and the
//! matrix kernel × group: agreement, disagreements by field, kernel findings, backports that
//! explain results, and what a crash or hang interrupted.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One group's results on one kernel.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GroupResult {
    pub group: String,
    pub total: u64,
    pub agree: u64,
    pub disagree: u64,
    pub unmodelled: u64,
    pub racy: u64,
    pub skipped: u64,
    pub errors: u64,
    pub atomic: u64,
    /// Agreement against the plain variant, without the release's backports.
    pub agree_without_backports: u64,
    pub disagree_without_backports: u64,
    /// backport -> scenarios it explains
    pub explained_by: BTreeMap<String, u64>,
    /// field -> disagreements in it
    pub mismatched_fields: BTreeMap<String, u64>,
    /// Scenario ids of the disagreements (first 50).
    pub disagreements: Vec<String>,
    /// "O3 (...)" -> (count, first scenario id)
    pub kernel_findings: BTreeMap<String, (u64, String)>,
    /// live's exit status in the guest (None: it did not finish).
    pub rc: Option<i64>,
    /// The post-call probes per world kind (live/probes.rs): [P1 ran, P1 found, P2 ran, P2
    /// found], "ran" being "ok" or "finding".
    #[serde(default)]
    pub probes: BTreeMap<String, [u64; 4]>,
}

impl GroupResult {
    pub fn agree_pct(&self) -> Option<f64> {
        let n = self.agree + self.disagree;
        (n > 0).then(|| 100.0 * self.agree as f64 / n as f64)
    }
    pub fn agree_pct_without_backports(&self) -> Option<f64> {
        let n = self.agree_without_backports + self.disagree_without_backports;
        (n > 0).then(|| 100.0 * self.agree_without_backports as f64 / n as f64)
    }
    pub fn findings(&self) -> u64 {
        self.kernel_findings.values().map(|x| x.0).sum()
    }
}

/// What the stream says.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub boot: Option<String>,
    pub missing: Vec<String>,
    pub groups: Vec<GroupResult>,
    /// (group, scenario id) started and not finished: where a crash or hang hit.
    pub running: Option<(String, String)>,
    pub done: bool,
    /// Scenario JSON of each disagreement and kernel finding, by id (for the saved files).
    pub scenarios: BTreeMap<String, (String, Value)>,
}

/// The short form of a finding line: "O3 (atomic write accepted outside its contract)".
pub fn finding_kind(f: &str) -> String {
    match f.find("):") {
        Some(i) => f[..=i].to_string(),
        None => f.split(':').next().unwrap_or(f).to_string(),
    }
}

pub fn parse_stream(text: &str) -> Stream {
    let mut s = Stream::default();
    for line in text.lines() {
        let line = line.trim_matches(|c: char| c == '\r' || c.is_whitespace() || c == '\0');
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue; // a line cut by a crash, or noise
        };
        if let Some(b) = v.get("boot").and_then(Value::as_str) {
            s.boot = Some(b.to_string());
        } else if let Some(m) = v.get("missing").and_then(Value::as_str) {
            s.missing = m.split_whitespace().map(str::to_string).collect();
        } else if let Some(g) = v.get("group").and_then(Value::as_str) {
            s.groups.push(GroupResult {
                group: g.to_string(),
                ..Default::default()
            });
        } else if let Some(g) = v.get("group_end").and_then(Value::as_str) {
            if let Some(r) = s.groups.iter_mut().rev().find(|r| r.group == g) {
                r.rc = v.get("rc").and_then(Value::as_i64);
            }
            s.running = None;
        } else if v.get("done").is_some() {
            s.done = true;
        } else if let Some(id) = v.get("start").and_then(Value::as_str) {
            let g = s.groups.last().map(|g| g.group.clone()).unwrap_or_default();
            s.running = Some((g, id.to_string()));
        } else if v.get("verdict").is_some() {
            s.running = None;
            if s.groups.is_empty() {
                s.groups.push(GroupResult::default());
            }
            let last = s.groups.len() - 1;
            let g = &mut s.groups[last];
            add_outcome(g, &v, &mut s.scenarios);
        }
    }
    s
}

fn add_outcome(g: &mut GroupResult, v: &Value, keep: &mut BTreeMap<String, (String, Value)>) {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let verdict = v.get("verdict").and_then(Value::as_str).unwrap_or("");
    g.total += 1;
    if v.get("atomic").and_then(Value::as_bool) == Some(true) {
        g.atomic += 1;
    }
    match verdict {
        "agree" => g.agree += 1,
        "disagree" => g.disagree += 1,
        "unmodelled" => g.unmodelled += 1,
        "racy" => g.racy += 1,
        "skipped" => g.skipped += 1,
        _ => g.errors += 1,
    }
    let plain = v
        .get("without_backports")
        .and_then(Value::as_str)
        .unwrap_or(verdict);
    match plain {
        "agree" => g.agree_without_backports += 1,
        "disagree" => g.disagree_without_backports += 1,
        _ => {}
    }
    if let Some(p) = v.get("probes") {
        let world = p.get("world").and_then(Value::as_str).unwrap_or("?");
        let e = g.probes.entry(world.to_string()).or_default();
        for (i, k) in ["p1", "p2"].into_iter().enumerate() {
            let r = p.get(k).and_then(Value::as_str).unwrap_or("");
            e[2 * i] += (r == "ok" || r == "finding") as u64;
            e[2 * i + 1] += (r == "finding") as u64;
        }
    }
    if let Some(a) = v.get("explained_by").and_then(Value::as_array) {
        for c in a.iter().filter_map(Value::as_str) {
            *g.explained_by.entry(c.to_string()).or_default() += 1;
        }
    }
    let mut interesting = false;
    if verdict == "disagree" {
        interesting = true;
        if g.disagreements.len() < 50 {
            g.disagreements.push(id.clone());
        }
        for m in v
            .get("mismatches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(f) = m.get("field").and_then(Value::as_str) {
                *g.mismatched_fields.entry(f.to_string()).or_default() += 1;
            }
        }
    }
    for f in v
        .get("kernel_findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        interesting = true;
        let e = g
            .kernel_findings
            .entry(finding_kind(f))
            .or_insert((0, id.clone()));
        e.0 += 1;
    }
    if interesting {
        if let Some(sc) = v.get("scenario") {
            keep.insert(id, (g.group.clone(), sc.clone()));
        }
    }
}

/// A crash, oops, WARN on the console, or a hang.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Crash {
    /// "panic", "oops", "BUG", "WARNING", "hang (timeout)", "no result (guest stopped)"
    pub kind: String,
    pub group: Option<String>,
    pub scenario: Option<String>,
    /// The console lines around the first report.
    pub excerpt: Vec<String>,
}

/// Look for kernel trouble on the console; `timed_out` / `stopped_early` say how the run ended.
pub fn crash_from(console: &str, st: &Stream, timed_out: bool) -> Option<Crash> {
    let lines: Vec<&str> = console.lines().collect();
    let keys = [
        ("Kernel panic", "panic"),
        ("Oops", "oops"),
        ("BUG:", "BUG"),
        ("general protection fault", "oops"),
        ("WARNING:", "WARNING"),
        ("INFO: task", "hung task"),
        ("EXT4-fs error", "EXT4-fs error"),
        ("critical target error", "device target error"),
    ];
    // After a normal end, WARNs and error lines on the console were already attributed to their
    // scenarios through the kernel log (live --kmsg); only a panic, oops or BUG is news then.
    let fatal = ["panic", "oops", "BUG"];
    let hit = lines.iter().enumerate().find_map(|(i, l)| {
        keys.iter()
            .find(|(k, kind)| l.contains(k) && (!st.done || fatal.contains(kind)))
            .map(|(_, kind)| (i, *kind))
    });
    let (kind, at) = match (hit, timed_out, st.done) {
        (Some((i, k)), _, _) => (k.to_string(), Some(i)),
        (None, true, _) => ("hang (timeout)".to_string(), None),
        (None, false, false) => ("no result (guest stopped before the end)".to_string(), None),
        (None, false, true) => return None,
    };
    let excerpt = match at {
        Some(i) => lines[i.saturating_sub(2)..(i + 30).min(lines.len())]
            .iter()
            .map(|s| s.trim_end().to_string())
            .collect(),
        None => lines
            .iter()
            .rev()
            .take(20)
            .rev()
            .map(|s| s.trim_end().to_string())
            .collect(),
    };
    Some(Crash {
        kind,
        group: st.running.as_ref().map(|r| r.0.clone()),
        scenario: st.running.as_ref().map(|r| r.1.clone()),
        excerpt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = r#"{"boot":"7.3.4+deb13-amd64"}
{"missing":"","disk":"/dev/sda"}
{"group":"ext4-disk"}
{"start":"gen-1-ext4-0"}
{"id":"gen-1-ext4-0","atomic":true,"verdict":"agree","mismatches":[],"kernel_findings":[],"probes":{"world":"disk","p1":"ok","p1_way":"remount","p2":"not run: nothing past EOF","ns":1},"scenario":{}}
{"start":"gen-1-ext4-1"}
{"id":"gen-1-ext4-1","atomic":false,"verdict":"disagree","without_backports":"disagree","mismatches":[{"field":"ret"}],"kernel_findings":["O3 (atomic write accepted outside its contract): accepted"],"scenario":{"fs":"ext4"}}
{"start":"gen-1-ext4-2"}
{"id":"gen-1-ext4-2","atomic":false,"verdict":"agree","without_backports":"disagree","explained_by":["963845748fe6"],"mismatches":[],"kernel_findings":[],"probes":{"world":"disk","p1":"finding","p1_way":"remount","p2":"ok","ns":1},"scenario":{}}
{"group_end":"ext4-disk","rc":0}
{"group":"xfs-loop"}
{"start":"gen-1-xfs-0"}
{"id":"gen-1-x"#;

    #[test]
    fn stream_parsing_survives_a_cut() {
        let s = parse_stream(STREAM);
        assert_eq!(s.boot.as_deref(), Some("7.3.4+deb13-amd64"));
        assert!(s.missing.is_empty());
        assert_eq!(s.groups.len(), 2);
        let g = &s.groups[0];
        assert_eq!((g.total, g.agree, g.disagree, g.atomic), (3, 2, 1, 1));
        assert_eq!(g.rc, Some(0));
        assert_eq!(
            (g.agree_without_backports, g.disagree_without_backports),
            (1, 2)
        );
        assert_eq!(g.explained_by.get("963845748fe6"), Some(&1));
        assert_eq!(g.mismatched_fields.get("ret"), Some(&1));
        assert_eq!(
            g.kernel_findings
                .get("O3 (atomic write accepted outside its contract)"),
            Some(&(1, "gen-1-ext4-1".to_string()))
        );
        assert!(s.scenarios.contains_key("gen-1-ext4-1"));
        // The probes per world kind: [P1 ran, found, P2 ran, found].
        assert_eq!(g.probes.get("disk"), Some(&[2, 1, 1, 0]));
        // The cut line is ignored; the scenario that was running is known.
        assert_eq!(
            s.running,
            Some(("xfs-loop".to_string(), "gen-1-xfs-0".to_string()))
        );
        assert!(!s.done);
        assert_eq!(s.groups[1].rc, None);
        let c = crash_from(
            "boot\n[ 1.0] Kernel panic - not syncing: Fatal exception\n",
            &s,
            false,
        )
        .unwrap();
        assert_eq!(c.kind, "panic");
        assert_eq!(c.scenario.as_deref(), Some("gen-1-xfs-0"));
        assert_eq!(crash_from("", &s, true).unwrap().kind, "hang (timeout)");
        let mut done = s.clone();
        done.done = true;
        assert!(crash_from("all fine\n", &done, false).is_none());
        // A WARN on the console of a run that ended normally was reported with its scenario.
        assert!(crash_from("[ 3.0] WARNING: fs/x.c:1 at f\n", &done, false).is_none());
        assert_eq!(
            crash_from("[ 3.0] BUG: kernel NULL pointer\n", &done, false)
                .unwrap()
                .kind,
            "BUG"
        );
    }
}
