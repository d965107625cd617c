#!/usr/bin/env python3
"""End-to-end test of postern-inventory: runs the built program on the real
Exchange samples and on a small log set written here, and reads its CSV,
JSON and HTML back with Python's own parsers.

Usage: inventory_check.py PROGRAM SAMPLES_DIR
"""
import csv
import gzip
import io
import json
import os
import re
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


def row(ts, sid, seq, sip, cip, user, cmd, params="", ctx=""):
    def q(v):
        return '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v
    return "%s,%016X,%d,%s,%s,%s,1,10,20,%s,%s,%s,\r\n" % (
        ts, sid, seq, sip, cip, q(user), cmd, q(params), q(ctx))


def session(day, hour, sid, port, cip, user, proto, tls=None, ok=True, dele=False, soft=None):
    """Rows of one session; tls: None (none), 'starttls' or 'implicit'."""
    t = "%sT%02d:00:%02d.%03dZ"
    sip = "192.0.2.1:%d" % port
    rows, seq = [], 0

    def add(cmd, params="", ctx="", u=""):
        nonlocal seq
        rows.append(row(t % (day, hour, seq // 1000, seq % 1000), sid, seq, sip, cip, u,
                        cmd, params, ctx))
        seq += 1
    add("OpenSession", ctx="Tls=implicit:TLSv1.3" if tls == "implicit" else "")
    if tls == "starttls":
        add("stls" if proto == "pop3" else "starttls", ctx="R=ok")
    if soft and proto == "imap":
        add("id", '("name" "%s" "version" "1.0")' % soft, "R=ok")
    if proto == "pop3":
        add("user", " " + user, "R=ok", user)
        add("pass", " *****", "R=ok" if ok else 'R="-ERR [AUTH] failed.";ErrMsg=AuthFailed', user)
        if ok:
            add("retr", " 1", "R=ok", user)
            if dele:
                add("dele", " 1", "R=ok", user)
    else:
        add("login", user + " *****",
            'R=ok;Msg="Proxy:mbx:993:SSL;ProxySuccess"' if ok else 'R="a1 NO failed.";ErrMsg=AuthFailed',
            user)
        if ok:
            add("select", "INBOX", "R=ok", user)
    add("CloseSession", u=user)
    return rows


def write_set(top):
    """Two servers: srv1 (POP3 day 1, IMAP4 day 2 gzip'd), srv2 (IMAP4 day 2)."""
    os.makedirs(os.path.join(top, "srv1", "Pop3"))
    os.makedirs(os.path.join(top, "srv1", "Imap4"))
    os.makedirs(os.path.join(top, "srv2", "Imap4"))
    pop = HEADER.format("POP3", "2026-03-01")
    pop += "".join(session("2026-03-01", 10, 1, 110, "198.51.100.1:4000", "printer", "pop3", dele=True))
    pop += "".join(session("2026-03-01", 11, 2, 995, "198.51.100.2:4001", "Alice", "pop3",
                           tls="implicit"))
    pop += "".join(session("2026-03-01", 12, 3, 110, "198.51.100.3:4002", "bob", "pop3",
                           tls="starttls"))
    pop += "broken,row\r\n"
    with open(os.path.join(top, "srv1", "Pop3", "POP320260301-1.LOG"), "w", newline="") as f:
        f.write(pop)
    imap = HEADER.format("IMAP4", "2026-03-02")
    imap += "".join(session("2026-03-02", 9, 1, 143, "198.51.100.4:5000", "carol", "imap",
                            soft="OldMailer"))
    imap += "".join(session("2026-03-02", 10, 2, 143, "[2001:db8::7]:5001", "=cmd|x", "imap",
                            tls="starttls", soft="Thunderbird"))
    imap += "".join(session("2026-03-02", 11, 3, 143, "198.51.100.5:5002", "eve", "imap", ok=False))
    with gzip.open(os.path.join(top, "srv1", "Imap4", "IMAP42026030209-1.LOG.gz"), "wt",
                   newline="") as f:
        f.write(imap)
    imap2 = HEADER.format("IMAP4", "2026-03-02")
    imap2 += "".join(session("2026-03-02", 12, 7, 993, "198.51.100.2:6000", "alice", "imap"))
    with open(os.path.join(top, "srv2", "Imap4", "imap42026030212-1.log"), "w", newline="") as f:
        f.write(imap2)
    # Not a log by its name: must be left alone.
    with open(os.path.join(top, "srv2", "Imap4", "notes.txt"), "w") as f:
        f.write("x,y\n")


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
    names = sorted(n for n in os.listdir(samples) if n.endswith(".log"))
    check(len(names) >= 7, "samples missing in %s" % samples)

    # Real Exchange rows: read whole, one truncated row reported, exit 0.
    p = run("--format", "json", *[os.path.join(samples, n) for n in names])
    doc = json.loads(p.stdout)
    check(doc["summary"]["rows_malformed"] == 1, "samples: malformed %r" % doc["summary"])
    check(doc["summary"]["rows_repeated"] == 13, "samples: repeated %r" % doc["summary"])
    check(doc["malformed_rows"][0]["line"] == 4 and
          doc["malformed_rows"][0]["file"].endswith("msqa-112837__IMAP4-frontend-Exchange2013.log"),
          "samples: malformed row %r" % doc["malformed_rows"])
    check(re.search(r"msqa-112837__IMAP4-frontend-Exchange2013\.log:4: wrong number of fields",
                    p.stderr), "samples: no file:line on stderr: %r" % p.stderr)
    clients = {r["client"]: r for r in doc["records"]}
    # 143 and 110 in four files; the two rows of the comment file are on 993, 995.
    check(clients["192.168.9.212"]["cleartext_failed"] == 4 and
          not clients["192.168.9.212"]["would_break"], "samples: brute force client")
    check(clients["127.0.0.1"]["sessions"] == 3, "samples: health probe sessions")
    # Exchange's health probe logs in as HealthMailbox<id>: left out, in
    # any case; the probe's sessions that never named a user stay.
    p = run("--format", "json", "--by", "client,user", "--exclude-user", "healthmailbox*",
            "--exclude-user", "nobody-at-all", *[os.path.join(samples, n) for n in names])
    doc = json.loads(p.stdout)
    check(doc["filter"]["exclude_users"] == ["healthmailbox*", "nobody-at-all"],
          "exclude filter %r" % doc["filter"])
    check(doc["summary"]["sessions_excluded"] == 1 and doc["summary"]["sessions"] == 10,
          "exclude summary %r" % doc["summary"])
    check(not any(r["user"].lower().startswith("healthmailbox") for r in doc["records"]),
          "excluded user still listed %r" % doc["records"])
    check(any(r["client"] == "127.0.0.1" and r["user"] == "" for r in doc["records"]),
          "probe sessions without a user %r" % doc["records"])
    p = run("--exclude-user", "HealthMailbox*", *[os.path.join(samples, n) for n in names])
    check("Excluded users: 1 sessions left out" in p.stdout, "exclude in table %r" % p.stdout)
    run("--exclude-user", "", *[os.path.join(samples, n) for n in names], rc=2)
    # The sample directory holds no file named like a log.
    p = run(samples, rc=1)
    check("no protocol log files found" in p.stderr, "no logs message")

    with tempfile.TemporaryDirectory() as top:
        write_set(top)
        srv1, srv2 = os.path.join(top, "srv1"), os.path.join(top, "srv2")

        # CSV, parsed back.
        p = run("--format", "csv", srv1, "--server-name", "exchange-b", srv2)
        rows = list(csv.DictReader(io.StringIO(p.stdout, newline="")))
        by = {r["client"]: r for r in rows}
        check(set(by) == {"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4",
                          "2001:db8::7", "198.51.100.5"}, "csv clients %r" % list(by))
        check([r["would_break"] for r in rows[:2]] == ["yes", "yes"] and
              all(r["would_break"] == "no" for r in rows[2:]), "csv would-break first")
        check(by["198.51.100.1"]["cleartext_logins"] == "1" and
              by["198.51.100.1"]["pop3_dele_sessions"] == "1", "csv printer %r" % by["198.51.100.1"])
        check(by["198.51.100.4"]["would_break"] == "yes", "csv imap cleartext")
        check(by["198.51.100.3"]["starttls_logins"] == "1" and
              by["198.51.100.3"]["pop3_leave_sessions"] == "1", "csv stls %r" % by["198.51.100.3"])
        a = by["198.51.100.2"]
        check(a["protocols"] == "pop3+imap4" and a["ports"] == "993;995" and
              a["implicit_tls_logins"] == "2" and a["users"] == "1" and
              a["servers"] == "srv1;exchange-b", "csv alice %r" % a)
        check(by["198.51.100.5"]["logins_failed"] == "1" and
              by["198.51.100.5"]["cleartext_failed"] == "1", "csv eve")
        check(by["2001:db8::7"]["users_sample"] == "'=cmd|x", "csv formula %r" % by["2001:db8::7"])
        check(re.search(r"POP320260301-1\.LOG:\d+: wrong number of fields", p.stderr),
              "csv: bad row on stderr %r" % p.stderr)

        # JSON, parsed back, by user.
        p = run("--format", "json", "--by", "user", top)
        doc = json.loads(p.stdout)
        for k in ("schema", "program", "version", "generated", "by", "filter", "summary",
                  "records", "days", "files", "malformed_rows"):
            check(k in doc, "json key %s" % k)
        s = doc["summary"]
        check(s["files"] == 3 and s["rows_malformed"] == 1 and s["sessions"] == 7 and
              s["clients"] == 6 and s["clients_would_break"] == 2 and s["users"] == 6,
              "json summary %r" % s)
        check(s["protocols"]["pop3"]["sessions"] == 3 and s["protocols"]["imap4"]["sessions"] == 4,
              "json per protocol %r" % s["protocols"])
        users = {r["user"]: r for r in doc["records"]}
        check(users["alice"]["sessions"] == 2 if "alice" in users else users["Alice"]["sessions"] == 2,
              "json: Alice and alice are one user %r" % list(users))
        check(doc["days"] == [{"date": "2026-03-01", "pop3": 3, "imap4": 0},
                              {"date": "2026-03-02", "pop3": 0, "imap4": 4}], "json days %r" % doc["days"])
        rec_keys = {"would_break", "user", "protocols", "ports", "sessions", "logins_ok",
                    "logins_failed", "cleartext_logins", "cleartext_failed",
                    "implicit_tls_logins", "starttls_logins", "pop3_dele_sessions",
                    "pop3_leave_sessions", "first_seen", "last_seen", "clients",
                    "clients_sample", "servers", "mechanisms", "cleartext_password_logins",
                    "would_break_under"}
        check(set(doc["records"][0]) == rec_keys, "json record keys %r" % set(doc["records"][0]))

        # By software, IMAP only.
        doc = json.loads(run("--format", "json", "--by", "software", "--protocol", "imap",
                             top).stdout)
        soft = {r["software"]: r for r in doc["records"]}
        check(soft.get("OldMailer 1.0", {}).get("would_break") is True and
              soft.get("Thunderbird 1.0", {}).get("would_break") is False and
              soft.get("(none)", {}).get("sessions") == 2, "by software %r" % soft)

        # --since skips the POP3 file by its name, --until the IMAP4 ones.
        doc = json.loads(run("--format", "json", "--since", "2026-03-02", top).stdout)
        check(doc["summary"]["files_skipped"] == 1 and doc["summary"]["files"] == 2 and
              doc["summary"]["protocols"]["pop3"]["sessions"] == 0, "since %r" % doc["summary"])
        doc = json.loads(run("--format", "json", "--until", "2026-03-01", top).stdout)
        check(doc["summary"]["files_skipped"] == 2 and
              doc["summary"]["protocols"]["imap4"]["sessions"] == 0, "until %r" % doc["summary"])

        # A window that ends before it starts is refused, not an empty
        # report; one day given as both ends is that day.
        p = run("--since", "2026-03-02", "--until", "2026-03-01", top, rc=2)
        check("--since 2026-03-02" in p.stderr and "--until 2026-03-01" in p.stderr and
              p.stdout == "", "since after until: %r" % p.stderr)
        run("--since", "1d", "--until", "30d", top, rc=2)
        run("--since", "2026-03-01T12:00", "--until", "2026-03-01T12:00", top, rc=2)
        doc = json.loads(run("--format", "json", "--since", "2026-03-01", "--until",
                             "2026-03-01", top).stdout)
        check(doc["summary"]["protocols"]["pop3"]["sessions"] == 3 and
              doc["summary"]["protocols"]["imap4"]["sessions"] == 0, "one day %r" % doc["summary"])

        # HTML: one self-contained file with the chart.
        out = os.path.join(top, "inv.html")
        run("--format", "html", "--output", out, top)
        html = open(out, encoding="utf-8").read()
        check(not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.I),
              "html fetches something")
        check("http://" not in html and "https://" not in html, "html has a URL")
        check("<svg" in html and "<rect" in html, "html chart")
        check(html.index('id="would-break"') < html.index('id="inventory"'), "html order")
        check(html.count("<script") == 1, "html scripts")

        # Table: the would-break mark.
        p = run(top)
        check(re.search(r"^!  198\.51\.100\.1 ", p.stdout, re.M), "table mark %r" % p.stdout)

        # Usage and errors.
        run("--format", "xml", top, rc=2)
        run("--by", "host", top, rc=2)
        run("--since", "yesterday", top, rc=2)
        run("--protocol", "smtp", top, rc=2)
        run(top, "--server-name", "x", rc=2)
        run(rc=2)
        run(os.path.join(top, "nonexistent"), rc=1)
        check(run("--version").stdout.startswith("postern-inventory"), "version")
        check("--by" in run("--help").stdout, "help")
        if os.geteuid() != 0:
            bad = os.path.join(srv2, "Imap4", "imap42026030212-1.log")
            os.chmod(bad, 0)
            p = run("--format", "json", top, rc=1)
            check(json.loads(p.stdout)["summary"]["files_failed"] == 1, "unreadable file")
            os.chmod(bad, 0o644)

    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("inventory_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
