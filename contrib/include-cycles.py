#!/usr/bin/env python3
"""List the daemon's modules that include each other's headers.

A module is a header of include/daemon/ and the files of src/daemon/ that
implement it: X.c for X.h; a file with no header of its own belongs to the
module whose X_internal.h it includes (only a module's own files include
that), else to the longest prefix of its name that is a header (stats_http.c
to stats, imap_parse.c to imap).  X_internal.h counts as X.  Module A
depends on B when a file of A includes B.h directly.

Prints every pair that depends both ways and exits 1 when a pair is not in
ALLOWED below, when modules form a circle of any length once the CALLBACK
direction of the allowed pairs is left out, or when a module of ALONE
depends on any other: modules call each other in one direction
(HACKING.md) but for the pairs that are callbacks by nature.

Usage (from anywhere): python3 contrib/include-cycles.py
"""

import os
import re
import sys

# Each pair that may depend both ways, and why.
ALLOWED = {
    # The session starts the backend connection; the backend reports its
    # result and failures on the session it was started for.
    ("backend", "session"): "the backend reports to its session",
    # The session hands its sockets to the relay after the login; the
    # relay ends the session (session_close) when either side goes.
    ("relay", "session"): "the relay reports to its session",
    # A worker owns its sessions: it starts each from its accept callback
    # and tells them to leave at shutdown (session_goodbye, session_close);
    # a session registers with the worker whose loop it runs on and leaves
    # it (server_session_add/gone: a stopping worker's loop ends with its
    # last session) and takes that worker's configuration reference
    # (server_conf).  The worker's data itself is worker.h.
    ("server", "session"): "a worker and the sessions it owns",
    # A relayed SASL exchange is a step of the session's login: the
    # session hands it the client's lines and the backend's challenges,
    # and it hands the user it reads back to the login's policy
    # (session_login_passthru, session_login_late).
    ("passthru", "session"): "the SASL relay reports to its login",
    # sesslog.c is the session's own half that writes its protocol-log
    # rows (as login.c is its login): one module in two files, apart only
    # for size, reading the session it logs.
    ("session", "sesslog"): "one module in two files",
}

# Of each allowed pair, the direction that reports back (the callback):
# without these edges the modules must form no circle of any length, so
# that a pair allowed for its callbacks cannot carry a longer circle
# (A -> session -> B -> A) through it.
CALLBACK = {
    ("backend", "session"),
    ("relay", "session"),
    ("session", "server"),
    ("passthru", "session"),
    ("sesslog", "session"),
}

# Modules that may depend on no other: the daemon log is used by all.
ALONE = {"log"}

# Files that are a module of their own whatever their name: the list of
# every module's key table stands above the modules it lists, as main.c.
OWN = {"conf_modules"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:daemon/)?([A-Za-z0-9_]+)\.h"')


def module_of(name, headers, includes):
    """The module a file of src/daemon/ named name.c belongs to."""
    if name in headers or name in OWN:
        return name
    for h in includes:
        if h.endswith("_internal") and h[: -len("_internal")] in headers:
            return h[: -len("_internal")]
    parts = name.split("_")
    for n in range(len(parts) - 1, 0, -1):
        prefix = "_".join(parts[:n])
        if prefix in headers:
            return prefix
    return name


def circles(deps):
    """The groups of two or more modules that reach each other without a
    CALLBACK edge (Tarjan's strongly connected components), each sorted."""
    graph = {a: sorted(b for b in bs if (a, b) not in CALLBACK)
             for a, bs in deps.items()}
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(n):
        index[n] = low[n] = counter[0]
        counter[0] += 1
        stack.append(n)
        on.add(n)
        for m in graph.get(n, ()):
            if m not in index:
                visit(m)
                low[n] = min(low[n], low[m])
            elif m in on:
                low[n] = min(low[n], index[m])
        if low[n] == index[n]:
            comp = []
            while True:
                m = stack.pop()
                on.discard(m)
                comp.append(m)
                if m == n:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in sorted(graph):
        if n not in index:
            visit(n)
    return sorted(out)


def main():
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    src = os.path.join(top, "src", "daemon")
    inc = os.path.join(top, "include", "daemon")
    headers = {f[:-2] for f in os.listdir(inc) if f.endswith(".h")}
    headers = {h for h in headers if not h.endswith("_internal")}

    deps = {}
    files = {}  # (module, module it includes): the files that do
    for f in sorted(os.listdir(src)):
        if not f.endswith(".c"):
            continue
        with open(os.path.join(src, f), encoding="utf-8") as fh:
            includes = [m.group(1) for m in map(INCLUDE.match, fh) if m]
        mod = module_of(f[:-2], headers, includes)
        for h in includes:
            if h.endswith("_internal"):
                h = h[: -len("_internal")]
            if h in headers and h != mod:
                deps.setdefault(mod, set()).add(h)
                files.setdefault((mod, h), set()).add(f)

    bad = 0
    for a, b in sorted(CALLBACK):
        if (min(a, b), max(a, b)) not in ALLOWED:
            print(f"{a} -> {b}: a callback of no allowed pair")
            bad += 1
    for comp in circles(deps):
        print("a circle of %d modules: %s" % (len(comp), " ".join(comp)))
        for a in comp:
            for b in sorted(deps.get(a, ())):
                if b in comp and (a, b) not in CALLBACK:
                    print("  %s -> %s (%s)" % (a, b, ", ".join(
                        sorted(files[(a, b)]))))
        bad += 1
    for a in sorted(ALONE):
        for b in sorted(deps.get(a, ())):
            print(f"{a} -> {b}: {a} must stand alone")
            bad += 1
    for a in sorted(deps):
        for b in sorted(deps[a]):
            if a < b and a in deps.get(b, ()):
                why = ALLOWED.get((a, b))
                if why is None:
                    print(f"{a} <-> {b}: not allowed")
                    bad += 1
                else:
                    print(f"{a} <-> {b}: allowed, {why}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
