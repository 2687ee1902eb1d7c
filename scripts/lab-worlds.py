#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Tally a lab run's stream (OUT/VERSION/stream.jsonl) per group and per world of issue 13:
pages held during the call, the XFS reflink flag changed after open, and the limits worlds
(RLIMIT_FSIZE 0, stable writes, no O_LARGEFILE, scaled s_maxbytes / s_bitmap_maxbytes,
zero-length requests). A scenario counts in every row it belongs to.

    scripts/lab-worlds.py lab-out/7.3.4+deb13-amd64/stream.jsonl
"""
import collections
import json
import sys

HUGE = 17592186040320  # scenario::HUGE_MAXBYTES (the model's "real" limit)


def worlds(s):
    w = s["world"]
    q = s["request"]
    out = []
    pages = w.get("pages", [])
    if "writeback" in pages:
        out.append("page under writeback")
    if "mapped_dirty" in pages:
        out.append("mmapped dirty page")
    for r in s.get("races", []):
        if isinstance(r, dict) and r.get("InodeFlagChangedAfterOpen") == 12:
            out.append("reflink flag " + ("set" if w["inode"]["reflink"] else "cleared") + " after open")
    if w.get("rlimit_fsize") == 0:
        out.append("RLIMIT_FSIZE 0")
    elif w.get("rlimit_fsize") is not None:
        out.append("RLIMIT_FSIZE")
    if w["device"].get("stable_writes"):
        out.append("stable writes")
    if q["open"].get("no_largefile"):
        out.append("no O_LARGEFILE")
    if w.get("s_maxbytes", HUGE) != HUGE:
        out.append("scaled s_maxbytes")
    if w.get("s_bitmap_maxbytes", HUGE) != HUGE and w.get("s_bitmap_maxbytes") != w.get("s_maxbytes"):
        out.append("scaled s_bitmap_maxbytes")
    if q.get("len") == 0:
        out.append("zero-length request")
    return out


def main(paths):
    tally = collections.defaultdict(collections.Counter)
    ids = collections.defaultdict(list)
    for p in paths:
        group = "?"
        for line in open(p, errors="replace"):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "group" in o:
                group = o["group"]
            if "verdict" not in o or "scenario" not in o:
                continue
            v = o["verdict"]
            tally[(group, "all")][v] += 1
            for k in worlds(o["scenario"]):
                tally[(group, k)][v] += 1
                if v not in ("agree",):
                    ids[(group, k)].append(f"{o['id']}:{v}")
    verdicts = sorted({v for c in tally.values() for v in c})
    print("| group | world | " + " | ".join(verdicts) + " |")
    print("|---|---|" + "---|" * len(verdicts))
    for (g, k), c in sorted(tally.items()):
        print(f"| {g} | {k} | " + " | ".join(str(c.get(v, 0)) for v in verdicts) + " |")
    for (g, k), l in sorted(ids.items()):
        print(f"{g} / {k}: {' '.join(l)}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1:])
