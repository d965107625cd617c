#!/usr/bin/env python3
"""End-to-end test of postern-inventory's login mechanisms: the built
program reads Exchange-shaped and postern-shaped logs with NTLM, GSSAPI,
XOAUTH2, OAUTHBEARER, PLAIN, LOGIN and USER/PASS sessions, with and
without TLS, and its CSV, JSON, table and HTML are checked for the
mechanism column and the would-break verdicts under each login type.

No published Exchange log shows NTLM, GSSAPI or OAuth logins, so the rows
are synthesized from the shapes of the real samples in
tests/data/exchange-logs (named at each row builder below); only the
mechanism, the outcome and the addresses differ.

Usage: inventory_mech_check.py PROGRAM SAMPLES_DIR
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

# Exchange 2016/2019's header block (tests/inventory_check.py writes the same).
HEADER = (
    "dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"
    "command,parameters,context,puid\r\n"
    "#Software: {}\r\n#Version: 15.0.0.0\r\n#Log-type: {} Log\r\n"
    "#Date: 2026-04-01T00:00:00.000Z\r\n"
    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,"
    "rpsize,command,parameters,context,puid\r\n")

# Secrets a careless writer put into rows; none may reach any output.
TOKEN_B64 = "dXNlcj1ib2JAZXhhbXBsZS5vcmcBYXV0aD1CZWFyZXIgeWEyOS5zZWNyZXQBAQ=="
NTLM_T3 = ("TlRMTVNTUAADAAAAGAAYAEgAAAAYABgAYAAAAAwADAB4AAAACAAIAIQAAAAQABAAj"
           "AAAAAAAAACcAAAABYKIogYBsR0AAAAP")
NTLM_T2 = "TlRMTVNTUAACAAAADAAMADAAAAAFgomiESIzRFVmd4gAAAAAAAAAAA=="
BEARER = "ya29.TopSecretBearer"
SECRETS = [TOKEN_B64, NTLM_T3, NTLM_T2, BEARER, "dXNlcj1", "TlRMTVNTUA",
           "Bearer", "ya29", "auth="]


def q(v):
    return '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v


class Log:
    """Rows of one file, sessions numbered from sid."""

    def __init__(self, software, logtype):
        self.text = HEADER.format(software, logtype)

    def session(self, sid, minute, sport, cip, rows, tls_key=None):
        """rows: (user, command, parameters, context); OpenSession and
        CloseSession are added in the shape of
        msqa-1156767__IMAP4-frontend-Exchange2013CU23.log (13 fields)."""
        seq = 0
        user = ""

        def add(u, cmd, params, ctx):
            nonlocal seq
            if tls_key:
                ctx = ctx + (";" if ctx else "") + "Tls=" + tls_key
            self.text += "2026-04-01T09:%02d:%02d.%03dZ,%016X,%d,10.0.0.1:%d,%s,%s,1,10,20,%s,%s,%s,\r\n" % (
                minute, seq // 1000, seq % 1000, sid, seq, sport, cip, q(u), cmd, q(params), q(ctx))
            seq += 1
        add("", "OpenSession", "", "")
        for u, cmd, params, ctx in rows:
            user = u or user
            add(u, cmd, params, ctx)
        add(user, "CloseSession", "", "")


def imap_auth(user, mech, ok=True, steps=0):
    """IMAP AUTHENTICATE as crowdsecurity-hub__exchange-imap-logs.log writes
    it (the mechanism alone as parameters; a failure as R="<tag> NO ..."
    with Msg and ErrMsg), the exchange's steps first: a challenge row
    R="+ <challenge>" and rows without an outcome."""
    rows = []
    for i in range(steps):
        rows.append(("", "authenticate", mech, 'R="+ %s"' % NTLM_T2 if i == 0 else ""))
    if ok:
        rows.append((user, "authenticate", mech, "R=ok"))
    else:
        rows.append((user, "authenticate", mech,
                     'R="2 NO AUTHENTICATE failed.";Msg="AuthFailed:LogonDenied,User: %s";'
                     'ErrMsg=AuthFailed:LogonDenied' % user))
    return rows


def pop_auth(user, mech, ok=True):
    """POP3 AUTH as crowdsecurity-hub__exchange-pop-logs.log writes it
    (parameters " PLAIN" with the leading space), with the Msg=Proxy of a
    login postern proxied."""
    if ok:
        return [(user, "auth", " " + mech, 'R=ok;Msg="Proxy:10.0.0.5:110:Plaintext;ProxySuccess"')]
    return [(user, "auth", " " + mech,
             'R="-ERR Authentication failure: unknown user name or bad password.";'
             'Msg="AuthFailed:LogonDenied,User: %s";ErrMsg=AuthFailed:LogonDenied' % user)]


# Client -> (mechanisms, breaks under SecureLogin, under PlainTextAuthentication).
WANT = {
    "198.51.100.11": ("NTLM", True, False),       # IMAP 143, NTLM in 4 rows
    "198.51.100.12": ("GSSAPI", True, False),     # IMAP 143
    "198.51.100.13": ("XOAUTH2", True, True),     # IMAP 143
    "198.51.100.14": ("OAUTHBEARER", False, False),  # IMAP STARTTLS
    "198.51.100.15": ("NTLM", False, False),      # IMAP 993
    "198.51.100.16": ("LOGIN", True, True),       # IMAP LOGIN 143
    "198.51.100.17": ("PLAIN+NTLM", True, True),  # NTLM refused, PLAIN ok
    "198.51.100.21": ("NTLM", True, False),       # POP3 110, Tls=none
    "198.51.100.22": ("OAUTHBEARER", True, True),  # POP3 110, Tls=none
    "198.51.100.23": ("USER", True, True),        # POP3 USER/PASS 110
    "198.51.100.24": ("GSSAPI", False, False),    # POP3 995, Tls=implicit
    "198.51.100.25": ("PLAIN", False, False),     # POP3 STLS then PLAIN
    "198.51.100.31": ("XOAUTH2", True, True),     # token in params and user
    "198.51.100.32": ("NTLM", True, False),       # Type 3 in the command column
}


def write_logs(top):
    d = os.path.join(top, "ex1")
    os.makedirs(d)
    # Exchange's own IMAP4 log: no Tls key, TLS from the port and STARTTLS.
    im = Log("Microsoft Exchange Server", "IMAP4")
    im.session(0x11, 0, 143, "198.51.100.11:40001", imap_auth("ntlmuser", "NTLM", steps=3))
    im.session(0x12, 1, 143, "198.51.100.12:40002", imap_auth("krbuser", "GSSAPI"))
    im.session(0x13, 2, 143, "198.51.100.13:40003", imap_auth("oauser", "XOAUTH2"))
    im.session(0x14, 3, 143, "198.51.100.14:40004",
               [("", "starttls", "", "R=ok")] + imap_auth("bearer", "OAUTHBEARER"))
    im.session(0x15, 4, 993, "198.51.100.15:40005", imap_auth("ntlmtls", "NTLM", steps=2))
    # IMAP LOGIN as msqa-1156767 writes it: "<user> *****".
    im.session(0x16, 5, 143, "198.51.100.16:40006", [("loginuser", "login", "loginuser *****", "R=ok")])
    im.session(0x17, 6, 143, "198.51.100.17:40007",
               imap_auth("mixuser", "NTLM", ok=False, steps=1) + imap_auth("mixuser", "PLAIN"))
    # Rows written wrongly: an XOAUTH2 initial response in the parameters
    # and in the user column; an NTLM Type 3 shifted into the command,
    # parameters and user columns; a decoded token as a user name.
    im.session(0x31, 7, 143, "198.51.100.31:40031",
               [(TOKEN_B64, "authenticate", "XOAUTH2 " + TOKEN_B64, "R=ok")])
    im.session(0x32, 8, 143, "198.51.100.32:40032",
               [("", "authenticate", "NTLM", 'R="+ %s"' % NTLM_T2),
                (NTLM_T3, NTLM_T3, NTLM_T3, ""),
                ("", "authenticate", "NTLM", "R=ok")])
    im.session(0x33, 9, 143, "198.51.100.33:40033",
               [("user=bob\x01auth=Bearer %s\x01\x01" % BEARER, "InvalidCommand",
                 "dXNlcj1ib2IBYXV0aD1CZWFyZXIg *****", "R=bad")])
    with open(os.path.join(d, "IMAP42026040109-1.LOG"), "w", newline="") as f:
        f.write(im.text)
    # postern's POP3 log: the same rows with its Tls key.
    po = Log("postern 0.1.0", "POP3")
    po.session(0x21, 10, 110, "198.51.100.21:41001", pop_auth("ntlmpop", "NTLM"), tls_key="none")
    po.session(0x22, 11, 110, "198.51.100.22:41002", pop_auth("oapop", "OAUTHBEARER"), tls_key="none")
    po.session(0x23, 12, 110, "198.51.100.23:41003",
               [("userpop", "user", " userpop", "R=ok"),
                ("userpop", "pass", " *****", 'R=ok;Msg="Proxy:10.0.0.5:110:Plaintext;ProxySuccess"')],
               tls_key="none")
    po.session(0x24, 13, 995, "198.51.100.24:41004", pop_auth("krbpop", "GSSAPI"),
               tls_key="implicit:TLSv1.3")
    # STLS: the row of STLS itself says Tls=none, the login row STARTTLS.
    u, cmd, params, ctx = pop_auth("plainpop", "PLAIN")[0]
    po.session(0x25, 14, 110, "198.51.100.25:41005",
               [("", "stls", "", "R=ok;Tls=none"), (u, cmd, params, ctx + ";Tls=STARTTLS:TLSv1.3")])
    with open(os.path.join(d, "POP32026040110-1.LOG"), "w", newline="") as f:
        f.write(po.text)
    return d


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


def no_secret(text, what):
    for s in SECRETS:
        check(s not in text, "%s shows %r" % (what, s))


def main():
    global PROG
    PROG, samples = sys.argv[1], sys.argv[2]

    # The real samples: PLAIN from the brute-force client, LOGIN from
    # the health probe.
    names = sorted(os.path.join(samples, n) for n in os.listdir(samples) if n.endswith(".log"))
    doc = json.loads(run("--format", "json", *names).stdout)
    recs = {r["client"]: r for r in doc["records"]}
    check(recs["192.168.9.212"]["mechanisms"] == ["PLAIN"], "samples PLAIN %r" % recs["192.168.9.212"])
    check(recs["127.0.0.1"]["mechanisms"] == ["LOGIN"], "samples LOGIN %r" % recs["127.0.0.1"])
    check(doc["login_type"] == "SecureLogin", "default login type %r" % doc["login_type"])

    with tempfile.TemporaryDirectory() as top:
        logs = write_logs(top)

        for lt, col in (("SecureLogin", 1), ("PlainTextAuthentication", 2), ("PlainTextLogin", None)):
            p = run("--format", "csv", "--login-type", lt, logs)
            no_secret(p.stdout + p.stderr, "csv " + lt)
            rows = list(csv.DictReader(io.StringIO(p.stdout, newline="")))
            by = {r["client"]: r for r in rows}
            for c, w in WANT.items():
                r = by.get(c)
                if r is None:
                    fail("%s: no row for %s" % (lt, c))
                    continue
                check(r["mechanisms"] == w[0], "%s %s mechanisms %r" % (lt, c, r["mechanisms"]))
                want = w[col] if col else False
                check(r["would_break"] == ("yes" if want else "no"),
                      "%s %s would_break %r" % (lt, c, r["would_break"]))
                check(r["would_break_securelogin"] == ("yes" if w[1] else "no") and
                      r["would_break_plaintextauthentication"] == ("yes" if w[2] else "no"),
                      "%s %s verdict columns %r" % (lt, c, r))
            # Would-break first.
            flags = [r["would_break"] for r in rows]
            check(flags == sorted(flags, key=lambda f: f != "yes"), "%s order %r" % (lt, flags))
            # The NTLM exchange in four rows is one login.
            check(by["198.51.100.11"]["logins_ok"] == "1" and by["198.51.100.11"]["logins_failed"] == "0",
                  "ntlm rows %r" % by["198.51.100.11"])

            doc = json.loads(run("--format", "json", "--login-type", lt, logs).stdout)
            check(doc["login_type"] == lt, "json login_type %r" % doc["login_type"])
            for r in doc["records"]:
                w = WANT.get(r["client"])
                if w is None:
                    continue
                check("+".join(r["mechanisms"]) == w[0], "json %s %r" % (r["client"], r["mechanisms"]))
                check(r["would_break_under"] == {"SecureLogin": w[1], "PlainTextAuthentication": w[2],
                                                 "PlainTextLogin": False},
                      "json %s verdicts %r" % (r["client"], r["would_break_under"]))
                check(r["would_break"] == (w[col] if col else False), "json %s would_break" % r["client"])
            nbreak = sum(1 for w in WANT.values() if (w[col] if col else False))
            check(doc["summary"]["clients_would_break"] == nbreak,
                  "%s clients_would_break %r, wanted %d" % (lt, doc["summary"], nbreak))

            p = run("--login-type", lt, logs)
            check("Would break under %s: %d of " % (lt, nbreak) in p.stdout, "table summary %s" % lt)
            no_secret(p.stdout + p.stderr, "table " + lt)

        # By mechanism, in every format; never a secret.
        doc = json.loads(run("--format", "json", "--by", "mechanism",
                             "--login-type", "plaintextauthentication", logs).stdout)
        mech = {r["mechanism"]: r for r in doc["records"]}
        check(set(mech) == {"NTLM", "GSSAPI", "XOAUTH2", "OAUTHBEARER", "LOGIN", "PLAIN", "USER", "(none)"},
              "by mechanism %r" % sorted(mech))
        check(mech["NTLM"]["sessions"] == 4 and mech["NTLM"]["clients"] == 4 and
              mech["NTLM"]["would_break"] is False, "by mechanism NTLM %r" % mech["NTLM"])
        check(mech["XOAUTH2"]["would_break"] is True and mech["OAUTHBEARER"]["would_break"] is True,
              "bearer tokens are passwords %r" % mech)
        check(mech["GSSAPI"]["would_break"] is False, "GSSAPI %r" % mech["GSSAPI"])
        for by in ("client", "user", "client,user", "software", "backend", "backend,user", "mechanism"):
            for fmt in ("table", "csv", "json", "html"):
                p = run("--by", by, "--format", fmt, logs)
                no_secret(p.stdout + p.stderr, "--by %s --format %s" % (by, fmt))
        users = {r["user"] for r in json.loads(run("--format", "json", "--by", "user", logs).stdout)["records"]}
        check("(withheld)" in users, "withheld user %r" % users)

        run("--login-type", "Secure", logs, rc=2)
        run("--login-type", "", logs, rc=2)
        check("--login-type" in run("--help").stdout, "help names --login-type")

    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("inventory_mech_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
