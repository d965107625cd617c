#!/usr/bin/env python3
"""Generate a synthetic set of Exchange-format POP3/IMAP4 protocol logs.

Usage: genlogs.py DIR SIZE_MB [--clients N] [--users N] [--seed S]

Writes hourly files DIR/Pop3/POP3yyyyMMddHH-1.LOG and
DIR/Imap4/IMAP4yyyyMMddHH-1.LOG (the layout and names postern and Exchange
use), about SIZE_MB megabytes in all, with the six header lines, CRLF line
ends and 13 fields.  The row mix follows what real front ends log: IMAP
sessions with CAPABILITY, STARTTLS or implicit TLS, ID, LOGIN or
AUTHENTICATE, SELECT, UID FETCH runs, IDLE; POP3 sessions with CAPA, STLS,
USER/PASS, STAT, UIDL, RETR and sometimes DELE; some failed logins with
Exchange's quoted R= and ErrMsg values; several sessions interleaved.
Deterministic for a given seed.
"""
import argparse
import os
import random
import sys
from multiprocessing import Pool

HEADER = (
    "dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"
    "command,parameters,context,puid\r\n"
    "#Software: Microsoft Exchange Server\r\n"
    "#Version: 15.0.0.0\r\n"
    "#Log-type: {} Log\r\n"
    "#Date: {}T{:02d}:00:00.000Z\r\n"
    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,"
    "rpsize,command,parameters,context,puid\r\n"
)

SOFTWARE = [
    '("name" "Thunderbird" "version" "115.3.1")',
    '("name" "Microsoft Outlook" "version" "16.0")',
    '("name" "iPhone Mail" "version" "20G75")',
    '("name" "K-9 Mail" "version" "6.600")',
    '("name" "scanner-backup" "version" "2.1")',
]


def clients_and_users(n_clients, n_users, rnd):
    clients = []
    for i in range(n_clients):
        if i % 10 == 9:
            clients.append("[2001:db8:%x::%x]" % (i >> 16, i & 0xFFFF))
        else:
            clients.append("10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255))
    users = ["user%05d@example.org" % i for i in range(n_users)]
    # Each client mostly logs in as one user.
    owner = [rnd.randrange(n_users) for _ in range(n_clients)]
    # Some clients stay on cleartext without TLS (the ones that would break).
    cleartext = [rnd.random() < 0.08 for _ in range(n_clients)]
    return clients, users, owner, cleartext


def imap_session(rnd, cip, user, clear, sw):
    rows = []
    port = 143 if clear or rnd.random() < 0.3 else 993
    rows.append(("OpenSession", "", "", 0, 60))
    rows.append(("capability", "", "R=ok", 15, 180))
    if port == 143 and not clear:
        rows.append(("starttls", "", "R=ok", 12, 30))
    if sw is not None:
        rows.append(("id", sw, "R=ok", 60, 90))
    fail = rnd.random() < 0.05
    if fail:
        rows.append(("login", user + " *****",
                     'R="a1 NO [AUTHENTICATIONFAILED] Authentication failed.";'
                     'Msg=Proxy:mbx01.example.org:1993:SSL;ErrMsg=AuthFailed:LogonDenied',
                     40, 60))
        rows.append(("logout", "", "R=ok", 10, 60))
        return rows, port
    if rnd.random() < 0.5:
        rows.append(("login", user + " *****",
                     'R=ok;Msg="Proxy:mbx01.example.org:1993:SSL;ProxySuccess"', 40, 30))
    else:
        rows.append(("authenticate", "PLAIN",
                     'R=ok;Msg="Proxy:mbx01.example.org:1993:SSL;ProxySuccess"', 80, 30))
    rows.append(("select", "INBOX", "R=ok", 20, 400))
    for _ in range(rnd.randrange(2, 12)):
        n = rnd.randrange(1, 5000)
        rows.append(("uid+fetch", "%d:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject Date)])" % n,
                     "R=ok", 90, rnd.randrange(100, 60000)))
    if rnd.random() < 0.3:
        rows.append(("idle", "", "R=ok", 6, 40))
        rows.append(("done", "", "R=ok", 6, 20))
    rows.append(("logout", "", "R=ok", 10, 60))
    return rows, port


def pop3_session(rnd, cip, user, clear, sw):
    rows = []
    port = 110 if clear or rnd.random() < 0.3 else 995
    rows.append(("OpenSession", "", "", 0, 40))
    rows.append(("capa", "", "R=ok", 6, 90))
    if port == 110 and not clear:
        rows.append(("stls", "", "R=ok", 6, 30))
    rows.append(("user", " " + user, "R=ok", 30, 20))
    if rnd.random() < 0.05:
        rows.append(("pass", " *****",
                     'R="-ERR [AUTH] Authentication failed.";ErrMsg=AuthFailed:LogonDenied',
                     15, 40))
        rows.append(("quit", "", "R=ok", 6, 20))
        return rows, port
    rows.append(("pass", " *****", 'R=ok;Msg="Proxy:mbx01.example.org:995:SSL;ProxySuccess"', 15, 20))
    rows.append(("stat", "", "R=ok", 6, 20))
    rows.append(("uidl", "", "R=ok", 6, 2000))
    n = rnd.randrange(0, 8)
    for i in range(1, n + 1):
        rows.append(("retr", " %d" % i, "R=ok", 8, rnd.randrange(2000, 200000)))
    if rnd.random() < 0.4:
        for i in range(1, n + 1):
            rows.append(("dele", " %d" % i, "R=ok", 8, 20))
    rows.append(("quit", "", "R=ok", 6, 20))
    return rows, port


def write_file(args):
    path, proto, day, hour, target, seed, n_clients, n_users = args
    rnd = random.Random(seed)
    crnd = random.Random(12345)
    clients, users, owner, cleartext = clients_and_users(n_clients, n_users, crnd)
    log_type = "POP3" if proto == "pop3" else "IMAP4"
    make = pop3_session if proto == "pop3" else imap_session
    sip_host = "192.0.2.1"
    size = 0
    sid = (int(day[-2:]) * 24 + hour + 1) << 32
    out = [HEADER.format(log_type, day, hour)]
    size += len(out[0])
    t_ms = 0
    chunks = []
    while size < target:
        # A handful of sessions running at once, their rows interleaved.
        group = []
        for _ in range(4):
            ci = rnd.randrange(n_clients)
            if rnd.random() < 0.03:  # the odd shared or scanning client
                ui = rnd.randrange(n_users)
            else:
                ui = owner[ci]
            sw = SOFTWARE[ci % len(SOFTWARE)] if ci % 3 else None
            rows, port = make(rnd, clients[ci], users[ui], cleartext[ci], sw)
            sid += 1
            group.append((sid, clients[ci], rnd.randrange(1024, 65535), users[ui], rows, port))
        pos = [0] * len(group)
        active = list(range(len(group)))
        while active:
            k = active[rnd.randrange(len(active))]
            s_id, cip, cport, user, rows, port = group[k]
            i = pos[k]
            cmd, params, ctx, rq, rp = rows[i]
            t_ms += rnd.randrange(0, 3)
            if t_ms >= 3600000:
                t_ms = 3599999
            m, s_ms = divmod(t_ms, 60000)
            logged_user = user if i >= 2 or cmd in ("user", "login", "pass") else ""
            if params and ("," in params or '"' in params):
                params = '"' + params.replace('"', '""') + '"'
            if ctx and ("," in ctx or '"' in ctx):
                ctx = '"' + ctx.replace('"', '""') + '"'
            line = "%sT%02d:%02d:%02d.%03dZ,%016X,%d,%s:%d,%s:%d,%s,%d,%d,%d,%s,%s,%s,\r\n" % (
                day, hour, m, s_ms // 1000, s_ms % 1000, s_id, i, sip_host, port,
                cip, cport, logged_user, rnd.randrange(1, 50), rq, rp, cmd, params, ctx)
            chunks.append(line)
            size += len(line)
            pos[k] += 1
            if pos[k] == len(rows):
                end = "%sT%02d:%02d:%02d.%03dZ,%016X,%d,%s:%d,%s:%d,%s,0,0,0,CloseSession,,,\r\n" % (
                    day, hour, m, s_ms // 1000, s_ms % 1000, s_id, i + 1, sip_host, port,
                    cip, cport, user)
                chunks.append(end)
                size += len(end)
                active.remove(k)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(out[0])
        f.write("".join(chunks))
    return size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("size_mb", type=int)
    ap.add_argument("--clients", type=int, default=50000)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file-mb", type=int, default=24)
    a = ap.parse_args()
    total = a.size_mb * 1024 * 1024
    nfiles = max(2, total // (a.file_mb * 1024 * 1024))
    per_file = total // nfiles
    jobs = []
    for i in range(nfiles):
        proto = "imap" if i % 10 < 7 else "pop3"
        day_i, hour = divmod(i // 2, 24)
        day = "2026-03-%02d" % (1 + day_i % 28)
        stamp = day.replace("-", "") + "%02d" % hour
        sub = "Imap4" if proto == "imap" else "Pop3"
        name = ("IMAP4" if proto == "imap" else "POP3") + stamp + "-%d.LOG" % (1 + i % 2)
        jobs.append((os.path.join(a.dir, sub, name), proto, day, hour, per_file,
                     a.seed * 100003 + i, a.clients, a.users))
    with Pool(os.cpu_count() or 1) as pool:
        written = sum(pool.imap_unordered(write_file, jobs))
    print("genlogs: %d files, %.0f MB in %s" % (nfiles, written / 1048576, a.dir))


if __name__ == "__main__":
    sys.exit(main())
