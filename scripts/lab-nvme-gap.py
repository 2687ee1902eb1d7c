#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Tally the nvme groups of lab runs (OUT/VERSION/stream.jsonl) for the scenarios whose
scattered iovec gaps at the namespace's 4 KiB virt boundary (src/generators/nvme_gap.rs
`gaps`): per stream and group, the scenarios compared, their verdicts, the gapping ones and the
kernel's return values for them. With --pair OLD NEW (two streams of the same seed): the gapping
scenarios the old kernel (boundary 4095) ended with -EAGAIN and the new one (boundary 0) wrote.

    scripts/lab-nvme-gap.py lab-out/6.12.117/stream.jsonl lab-out/7.3.4/stream.jsonl
    scripts/lab-nvme-gap.py --pair lab-out/6.12.117/stream.jsonl lab-out/7.3.4/stream.jsonl
"""
import collections
import json
import sys


def gaps(s, mask=4095):
    sc = s["request"].get("scatter")
    if not sc or sc["segs"] < 2:
        return False
    seg = s["request"]["len"] // sc["segs"]
    off = sc["offset"]
    # Every segment but the last is `seg` long: a gap at a segment start, or after one's end.
    return (off & mask) != 0 or ((off + seg) & mask) != 0


def load(path):
    group, out = None, []
    for line in open(path):
        r = json.loads(line)
        if "group" in r and len(r) == 1:
            group = r["group"]
        elif "scenario" in r:
            out.append((group, r))
    return out


def tally(path):
    stats = collections.defaultdict(collections.Counter)
    rets = collections.defaultdict(collections.Counter)
    for group, r in load(path):
        stats[group]["compared or racy"] += 1
        stats[group][r["verdict"]] += 1
        if gaps(r["scenario"]):
            stats[group]["gapping"] += 1
            stats[group]["gapping " + r["verdict"]] += 1
            rets[group][(r.get("kernel") or {}).get("ret", "?")] += 1
    for g in stats:
        print(f"{path} {g}: {dict(stats[g])}; gapping, kernel returned: {dict(rets[g])}")


def pair(old, new):
    a = {r["id"]: r for _, r in load(old)}
    b = {r["id"]: r for _, r in load(new)}
    ids = sorted(i for i in a if i in b and gaps(a[i]["scenario"]))
    flip = [i for i in ids if a[i]["kernel"]["ret"] == "-EAGAIN" and not b[i]["kernel"]["ret"].startswith("-")]
    print(f"{len(ids)} gapping scenarios in both; -EAGAIN on the old kernel and written on the new: {len(flip)} {flip}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--pair"]:
        pair(sys.argv[2], sys.argv[3])
    else:
        for p in sys.argv[1:]:
            tally(p)
