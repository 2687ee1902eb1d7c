// SPDX-License-Identifier: GPL-2.0-only
//! The execution trace, recorded cheaply (static strings and integers) and printed like an ftrace
//! function_graph log: kernel function names, arguments, flags, errnos by name.

use crate::errno;
use crate::scenario::Site;
use std::fmt::Write;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Enter(&'static str, [(&'static str, i64); 4], u8),
    Ret(&'static str, i64),
    Note(&'static str),
    Decide(&'static str),
    Warn(&'static str),
    Fault(Site, i64),
    Bio {
        pos: u64,
        len: u64,
        atomic: bool,
        zero: bool,
        status: i64,
    },
    Buffered {
        pos: u64,
        len: u64,
        ret: i64,
    },
    Val(&'static str, i64),
}

#[derive(Clone, Debug)]
pub struct Trace {
    pub events: Vec<Ev>,
    /// Off for fuzzing and `check`: nothing is recorded (the decision path is kept elsewhere).
    pub enabled: bool,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            events: Vec::with_capacity(64),
            enabled: true,
        }
    }
}

impl Trace {
    pub fn off() -> Self {
        Trace {
            events: Vec::new(),
            enabled: false,
        }
    }
    pub fn push(&mut self, e: Ev) {
        if self.enabled {
            self.events.push(e);
        }
    }
    pub fn enter(&mut self, f: &'static str, args: &[(&'static str, i64)]) {
        if !self.enabled {
            return;
        }
        let mut a = [("", 0i64); 4];
        let n = args.len().min(4);
        a[..n].copy_from_slice(&args[..n]);
        self.events.push(Ev::Enter(f, a, n as u8));
    }
    pub fn ret(&mut self, f: &'static str, r: i64) {
        if !self.enabled {
            return;
        }
        self.events.push(Ev::Ret(f, r));
    }
    /// Was function `f` entered?
    pub fn entered(&self, f: &str) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Ev::Enter(g, ..) if *g == f))
    }
    /// Return values of function `f`, in order.
    pub fn returns(&self, f: &str) -> Vec<i64> {
        self.events
            .iter()
            .filter_map(|e| {
                if let Ev::Ret(g, r) = e {
                    (*g == f).then_some(*r)
                } else {
                    None
                }
            })
            .collect()
    }
    pub fn decided(&self, d: &str) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Ev::Decide(x) | Ev::Warn(x) if *x == d))
    }

    /// function_graph-style text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut depth = 0usize;
        for e in &self.events {
            let ind = "  ".repeat(depth + 1);
            match e {
                Ev::Enter(f, a, n) => {
                    let args: Vec<String> = a[..*n as usize]
                        .iter()
                        .map(|(k, v)| fmt_arg(k, *v))
                        .collect();
                    let _ = writeln!(out, "{ind}{f}({}) {{", args.join(", "));
                    depth += 1;
                }
                Ev::Ret(_, r) => {
                    depth = depth.saturating_sub(1);
                    let ind = "  ".repeat(depth + 1);
                    let _ = writeln!(out, "{ind}}} = {}", errno::fmt_ret(*r));
                }
                Ev::Note(s) => {
                    let _ = writeln!(out, "{ind}/* {s} */");
                }
                Ev::Decide(s) => {
                    let _ = writeln!(out, "{ind}/* => {s} */");
                }
                Ev::Warn(s) => {
                    let _ = writeln!(out, "{ind}WARNING: {s}");
                }
                Ev::Fault(site, e) => {
                    let _ = writeln!(
                        out,
                        "{ind}/* injected: {} -> {} */",
                        site.function(),
                        errno::fmt_ret(*e)
                    );
                }
                Ev::Bio {
                    pos,
                    len,
                    atomic,
                    zero,
                    status,
                } => {
                    let _ = writeln!(
                        out,
                        "{ind}submit_bio(WRITE{}{}, pos={pos}, len={len}) status={}",
                        if *atomic { "|REQ_ATOMIC" } else { "" },
                        if *zero { ", zero" } else { "" },
                        errno::fmt_ret(*status)
                    );
                }
                Ev::Buffered { pos, len, ret } => {
                    let _ = writeln!(
                        out,
                        "{ind}page-cache copy(pos={pos}, len={len}) = {}",
                        errno::fmt_ret(*ret)
                    );
                }
                Ev::Val(k, v) => {
                    let _ = writeln!(out, "{ind}{}", fmt_arg(k, *v));
                }
            }
        }
        out
    }
}

fn fmt_arg(k: &str, v: i64) -> String {
    match k {
        "ki_flags" => format!("ki_flags={}", iocb_flags(v as u32)),
        "rwf" => format!("rwf={}", rwf_flags(v as u32)),
        "iomap_flags" => format!(
            "flags={}",
            crate::kernel::fs::iomap::iomap_flag_names(v as u32)
        ),
        "dio_flags" => format!(
            "dio_flags={}",
            crate::kernel::fs::iomap::dio_flag_names(v as u32)
        ),
        "end_io_flags" => format!(
            "flags={}",
            crate::kernel::fs::iomap::end_io_flag_names(v as u32)
        ),
        "ret" | "r" | "err" | "error" => format!("{k}={}", errno::fmt_ret(v)),
        _ => format!("{k}={v}"),
    }
}

pub fn iocb_flags(f: u32) -> String {
    use crate::model::*;
    let names = [
        (IOCB_DIRECT, "DIRECT"),
        (IOCB_ATOMIC, "ATOMIC"),
        (IOCB_NOWAIT, "NOWAIT"),
        (IOCB_APPEND, "APPEND"),
        (IOCB_DSYNC, "DSYNC"),
        (IOCB_SYNC, "SYNC"),
        (IOCB_HIPRI, "HIPRI"),
        (IOCB_DONTCACHE, "DONTCACHE"),
        (IOCB_WRITE, "WRITE"),
    ];
    join_flags(f, &names, "IOCB_")
}

pub fn rwf_flags(f: u32) -> String {
    use crate::scenario::*;
    let names = [
        (RWF_HIPRI, "HIPRI"),
        (RWF_DSYNC, "DSYNC"),
        (RWF_SYNC, "SYNC"),
        (RWF_NOWAIT, "NOWAIT"),
        (RWF_APPEND, "APPEND"),
        (RWF_NOAPPEND, "NOAPPEND"),
        (RWF_ATOMIC, "ATOMIC"),
        (RWF_DONTCACHE, "DONTCACHE"),
    ];
    join_flags(f, &names, "RWF_")
}

pub fn join_flags(f: u32, names: &[(u32, &str)], prefix: &str) -> String {
    let v: Vec<String> = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| format!("{prefix}{n}"))
        .collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}
