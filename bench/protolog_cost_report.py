#!/usr/bin/env python3
"""Tabulates bench/protolog-cost.sh's JSON lines: postern's CPU per 1000
sessions (imap-login, pop3-login) and per GiB relayed (imap-bulk), with
logging off and on, the medians over rounds and their ratio.  The ratio
of each round (on against the off run just before it) is shown too."""

import json
import statistics
import sys


def unit(r):
    cpu = r["proxy"]["cpu_s"]
    if r["scenario"] == "imap-bulk":
        return cpu / (r["rx_bytes"] / 2**30), "CPU-s/GiB"
    return cpu / r["ok"] * 1000, "CPU-s/1000 sessions"


def main(path):
    runs = {}
    for line in open(path):
        r = json.loads(line)
        mode, sc, rnd = r["label"].split("|")
        runs.setdefault(sc, {}).setdefault(mode, {})[int(rnd)] = r
    print("| scenario | unit | off (median) | on (median) | on/off | "
          "per-round on/off | sessions or GiB per run (on) | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for sc in ("imap-login", "pop3-login", "imap-bulk"):
        if sc not in runs:
            continue
        off, on = runs[sc].get("off", {}), runs[sc].get("on", {})
        rounds = sorted(set(off) & set(on))
        u_off = [unit(off[i])[0] for i in rounds]
        u_on = [unit(on[i])[0] for i in rounds]
        name = unit(on[rounds[0]])[1]
        per = ["%.3f" % (b / a) for a, b in zip(u_off, u_on)]
        m_off, m_on = statistics.median(u_off), statistics.median(u_on)
        if sc == "imap-bulk":
            work = statistics.median(on[i]["rx_bytes"] / 2**30
                                     for i in rounds)
            work = "%.1f GiB" % work
        else:
            work = "%d" % statistics.median(on[i]["ok"] for i in rounds)
        errs = sum(r["errors"] for d in (off, on) for r in d.values())
        print("| %s | %s | %.3f | %.3f | **%.3f** | %s | %s | %d |" % (
            sc, name, m_off, m_on, m_on / m_off, " ".join(per), work, errs))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/plcost/results.jsonl")
