// SPDX-License-Identifier: GPL-2.0-only
//! Helpers shared by the behaviour tests.
#![allow(dead_code)]

use diofuzz::model::{run, Execution};
use diofuzz::oracle::{check, Prop};
use diofuzz::scenario::Scenario;

/// Run a scenario on a named variant, with the full trace.
pub fn go(s: &Scenario, var: &str) -> Execution {
    run(
        s,
        diofuzz::variant::by_name(var).unwrap_or_else(|| panic!("no variant {var}")),
    )
}

/// The properties an execution violates, sorted, each once.
pub fn props(x: &Execution) -> Vec<Prop> {
    let mut p: Vec<Prop> = check(x).into_iter().map(|f| f.property).collect();
    p.sort();
    p.dedup();
    p
}
