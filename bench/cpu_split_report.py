#!/usr/bin/env python3
"""cpu_split_report.py CPU-SPLIT.txt RESULTS.jsonl

The proxies' CPU per 1000 logins split into user and system (kernel) time,
for bench/scenarios.sh.  CPU-SPLIT.txt has a line per run, "LABEL u0 s0 u1
s1": the clock ticks of utime and stime of the proxy's processes (summed
over their threads by the kernel) before and after load.py; RESULTS.jsonl
is load.py's output, whose "ok" gives the sessions of the run with the same
label ("TARGET|SCENARIO|MODE|ROUND").  Prints a markdown table of medians
over the rounds, login scenarios only, with each figure's ratio to the
whole CPU of the reference target (nginx): the system part alone is the
share of nginx's CPU that no user-space work of the proxy can remove.
"""
import json
import os
import statistics
import sys
from collections import defaultdict


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
    ok = {}
    for line in open(sys.argv[2]):
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            ok[d.get("label", "")] = d.get("ok") or 0
    runs = defaultdict(list)
    for line in open(sys.argv[1]):
        f = line.split()
        if len(f) != 5 or not ok.get(f[0]):
            continue
        t, sc, mode, _r = f[0].split("|")
        if not sc.endswith("-login"):
            continue
        u0, s0, u1, s1 = (int(x) for x in f[1:])
        per = 1000.0 / ok[f[0]]
        runs[(sc, mode, t)].append(((u1 - u0) * tick_ms * per,
                                    (s1 - s0) * tick_ms * per))
    if not runs:
        return
    print()
    print("CPU per 1000 logins, user and system (ms, medians of the rounds; "
          "in brackets, as a share of nginx's whole CPU)")
    print()
    print("| scenario | mode | target | rounds | user | system | total |")
    print("|---|---|---|---|---|---|---|")
    keys = sorted({(sc, mode) for sc, mode, _ in runs})
    for sc, mode in keys:
        ref = runs.get((sc, mode, "nginx"))
        ref_total = (statistics.median(u + s for u, s in ref)
                     if ref else None)
        for t in ("nginx", "postern-log", "postern-nolog"):
            r = runs.get((sc, mode, t))
            if not r:
                continue
            u = statistics.median(x for x, _ in r)
            s = statistics.median(y for _, y in r)
            tot = statistics.median(x + y for x, y in r)

            def cell(v):
                if not ref_total:
                    return f"{v:.0f}"
                return f"{v:.0f} ({v / ref_total:.2f})"

            print(f"| {sc} | {mode} | {t} | {len(r)} | {cell(u)} | "
                  f"{cell(s)} | {cell(tot)} |")


if __name__ == "__main__":
    main()
