#!/usr/bin/env python3
"""End-to-end test of postern-inventory --by backend: the built program on
logs of a migration written as postern writes them (the login row's Backend
and Route keys), on logs from before routing (only Msg=Proxy) and on a real
Exchange front-end sample; its table, CSV and JSON read back.

Usage: inventory_backend_check.py PROGRAM SAMPLES_DIR
"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

PROG = None
FAILS = []

HEADER = (
    "dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"
    "command,parameters,context,puid\r\n"
    "#Software: postern 0.1.0\r\n#Version: 15.0.0.0\r\n#Log-type: {} Log\r\n"
    "#Date: {}T00:00:00.000Z\r\n"
    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,"
    "rpsize,command,parameters,context,puid\r\n")


def csv_field(v):
    return '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v


def ctx(*pairs):
    """A context field as postern builds it: a value with a space, a quote,
    ',' or ';' is quoted."""
    def val(v):
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ' ",;') else v
    return ";".join("%s=%s" % (k, val(v)) for k, v in pairs)


def session(day, hour, sid, port, cip, user, proto, backend=None, route="default",
            proxy=None, tls="none", ok=True, refused=None):
    """Rows of one session.  backend: the Backend key (None: none written);
    proxy: Msg=Proxy's host:port (None: no Msg); refused: postern's own
    ErrMsg for a login it refused before any backend (no Msg, no Backend);
    user None: a session that never logs in."""
    sip = "192.0.2.1:%d" % port
    tlskey = ("Tls", {"none": "none", "implicit": "implicit:TLSv1.3",
                      "starttls": "STARTTLS:TLSv1.3"}[tls])
    rows, seq = [], 0

    def add(cmd, params, c, u=""):
        nonlocal seq
        rows.append("%sT%02d:00:%02d.%03dZ,%016X,%d,%s,%s,%s,1,10,20,%s,%s,%s,\r\n" % (
            day, hour, seq // 1000, seq % 1000, sid, seq, sip, cip, csv_field(u),
            cmd, csv_field(params), csv_field(c)))
        seq += 1
    add("OpenSession", "", ctx(("Tls", "implicit:TLSv1.3" if tls == "implicit" else "none")))
    if tls == "starttls":
        add("stls" if proto == "pop3" else "starttls", "", ctx(("R", "ok"), ("Tls", "none")))
    if user is not None:
        keys = [("R", "ok" if ok and not refused else
                 ("-ERR [AUTH] Authentication failed." if proto == "pop3"
                  else "a1 NO [AUTHENTICATIONFAILED] Authentication failed."))]
        if proxy is not None and not refused:
            keys.append(("Msg", "Proxy:%s:%s;%s" % (
                proxy, "Plaintext", "ProxySuccess" if ok else
                "AuthFailed:LogonDenied,User: " + user)))
        keys.append(tlskey)
        if backend is not None and not refused:
            keys += [("Backend", backend), ("Route", route)]
        if refused:
            keys.append(("ErrMsg", refused))
        elif not ok:
            keys += [("Reason", "ProxyNotAuthenticated"), ("ErrMsg", "AuthFailed:LogonDenied")]
        if proto == "pop3":
            add("user", " " + user, ctx(("R", "ok"), tlskey), user)
            add("pass", " *****", ctx(*keys), user)
        else:
            add("login", user + " *****", ctx(*keys), user)
    else:
        add("capability" if proto == "imap" else "capa", "", ctx(("R", "ok"), tlskey))
    add("CloseSession", "", ctx(tlskey), user or "")
    return rows


def write_set(top):
    """front1: routed POP3 and IMAP4 logs; front0: IMAP4 before routing."""
    for d in ("front1/Pop3", "front1/Imap4", "front0/Imap4"):
        os.makedirs(os.path.join(top, d))
    day = "2026-05-04"
    imap = HEADER.format("IMAP4", day)
    imap += "".join(session(day, 8, 1, 143, "198.51.100.10:4000", "amy", "imap",
                            "new", "map:2:user", "10.0.0.6:143"))
    imap += "".join(session(day, 9, 2, 993, "198.51.100.11:4001", "dan", "imap",
                            "old", "default", "10.0.0.5:993", tls="implicit"))
    imap += "".join(session(day, 10, 3, 143, "198.51.100.12:4002", "dan", "imap",
                            "old", "default", "10.0.0.5:143", tls="starttls", ok=False))
    imap += "".join(session(day, 11, 4, 143, "198.51.100.13:4003", "eve", "imap",
                            refused="LoginTypeDenied"))
    imap += "".join(session(day, 12, 5, 143, "198.51.100.14:4004", None, "imap"))
    with open(os.path.join(top, "front1", "Imap4", "IMAP42026050408-1.LOG"), "w",
              newline="") as f:
        f.write(imap)
    pop = HEADER.format("POP3", day)
    pop += "".join(session(day, 8, 1, 110, "198.51.100.11:5000", "dan", "pop3",
                           "old", "default", "10.0.0.5:110"))
    pop += "".join(session(day, 9, 2, 995, "198.51.100.15:5001", "ben@example.net", "pop3",
                           "new", "map:3:domain", "10.0.0.6:995", tls="implicit"))
    with open(os.path.join(top, "front1", "Pop3", "POP320260504-1.LOG"), "w",
              newline="") as f:
        f.write(pop)
    day = "2026-04-01"
    old = HEADER.format("IMAP4", day)
    old += "".join(session(day, 8, 1, 143, "198.51.100.20:6000", "carol", "imap",
                           proxy="mail.example.org:143"))
    with open(os.path.join(top, "front0", "Imap4", "IMAP420260401-1.LOG"), "w",
              newline="") as f:
        f.write(old)


def run(*args, rc=0):
    p = subprocess.run([PROG, *args], capture_output=True, text=True)
    if p.returncode != rc:
        fail("exit %d, wanted %d: %s\n%s" % (p.returncode, rc, " ".join(args), p.stderr))
    return p


def fail(msg):
    FAILS.append(msg)
    print("FAIL:", msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def main():
    global PROG
    PROG, samples = sys.argv[1], sys.argv[2]

    with tempfile.TemporaryDirectory() as top:
        write_set(top)
        front1, front0 = os.path.join(top, "front1"), os.path.join(top, "front0")

        # The table: one line per backend, users and clients on it, and the
        # sessions that reached no backend in the summary.
        p = run("--by", "backend", front1, front0)
        lines = p.stdout.splitlines()
        head = [l for l in lines if l.startswith("!  BACKEND ")]
        check(len(head) == 1 and "USERS" in head[0] and "CLIENTS" in head[0],
              "table heading %r" % p.stdout)
        body = lines[lines.index(head[0]) + 1:] if head else []
        keys = [l[3:].split()[0] for l in body]
        check(keys == ["old", "new", "mail.example.org:143"], "table lines %r" % body)
        check(any(l.startswith("!  old ") and " 1 dan " in l and
                  " 2 198.51.100.11,198.51.100.12 " in l for l in body),
              "table old %r" % body)
        check(any(l.startswith("!  new ") and " 2 amy,ben@example.net " in l for l in body),
              "table new %r" % body)
        check("Without a backend: 2 sessions" in p.stdout, "table no backend %r" % p.stdout)

        # CSV, parsed back.
        p = run("--by", "backend", "--format", "csv", front1, front0)
        rows = list(csv.DictReader(io.StringIO(p.stdout, newline="")))
        by = {r["backend"]: r for r in rows}
        check(list(by) == ["old", "new", "mail.example.org:143"], "csv backends %r" % list(by))
        old = by.get("old", {})
        check(old.get("sessions") == "3" and old.get("protocols") == "pop3+imap4" and
              old.get("logins_ok") == "2" and old.get("logins_failed") == "1" and
              old.get("cleartext_logins") == "1" and old.get("implicit_tls_logins") == "1" and
              old.get("starttls_logins") == "0" and old.get("users") == "1" and
              old.get("users_sample") == "dan" and old.get("clients") == "2" and
              old.get("clients_sample") == "198.51.100.11;198.51.100.12" and
              old.get("would_break") == "yes" and old.get("servers") == "front1",
              "csv old %r" % old)
        new = by.get("new", {})
        check(new.get("sessions") == "2" and new.get("users") == "2" and
              new.get("users_sample") == "amy;ben@example.net" and
              new.get("clients") == "2" and new.get("cleartext_logins") == "1" and
              new.get("implicit_tls_logins") == "1" and
              new.get("first_seen") == "2026-05-04T08:00:00Z" and
              new.get("last_seen") == "2026-05-04T09:00:00Z", "csv new %r" % new)
        before = by.get("mail.example.org:143", {})
        check(before.get("users_sample") == "carol" and before.get("servers") == "front0",
              "csv before routing %r" % before)

        # Pairs of backend and user, with the clients of each.
        p = run("--by", "backend,user", "--format", "csv", front1, front0)
        rows = list(csv.DictReader(io.StringIO(p.stdout, newline="")))
        pairs = {(r["backend"], r["user"]): r for r in rows}
        check(set(pairs) == {("old", "dan"), ("new", "amy"), ("new", "ben@example.net"),
                             ("mail.example.org:143", "carol")}, "csv pairs %r" % list(pairs))
        check(pairs.get(("old", "dan"), {}).get("clients") == "2", "csv pair dan %r" % pairs)

        # JSON: the same, and the count of sessions without a backend.
        doc = json.loads(run("--by", "backend", "--format", "json", front1).stdout)
        check(doc["by"] == "backend" and doc["summary"]["sessions_without_backend"] == 2 and
              doc["summary"]["sessions"] == 7, "json summary %r" % doc["summary"])
        rec = {r["backend"]: r for r in doc["records"]}
        check(rec.get("new", {}).get("clients_sample") == ["198.51.100.10", "198.51.100.15"],
              "json new %r" % rec.get("new"))

        # A real Exchange 2013 front end: the back end it proxied to.
        doc = json.loads(run("--by", "backend", "--format", "json", os.path.join(
            samples, "msqa-1156767__IMAP4-frontend-Exchange2013CU23.log")).stdout)
        check([r["backend"] for r in doc["records"]] == ["<CAS FQDN>:1993"],
              "exchange front end %r" % doc["records"])

        p = run("--by", "backend,client", front1, rc=2)
        check("backend,user" in p.stderr, "usage message %r" % p.stderr)
        check("backend" in run("--help").stdout, "help")

    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("inventory_backend_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
