"""IMAP ID values as real clients send them, through postern to Dovecot:
the protocol log keeps each decoded value exactly (a quote inside a
context value is doubled, as in CSV), and postern-inventory --by software
reports the whole name and version."""

import json
import os
import socket
import subprocess

import pytest

from test_protolog import ctx_value, log_conf, logdir, read_logs  # noqa: F401

# (source address, ID parameter list as sent, name, version as decoded).
# The lists are those of real clients as published in traces and tests;
# the first is Outlook's with a version holding escaped quotes.
CLIENTS = [
    ("127.0.0.81", rb'("name" "Microsoft Outlook" "version" "16.0 \"x\"")',
     "Microsoft Outlook", '16.0 "x"'),
    ("127.0.0.82", rb'("name" "Microsoft Outlook" "version" "16.0" '
                   rb'"vendor" "Microsoft" "os" "Windows 10")',
     "Microsoft Outlook", "16.0"),
    ("127.0.0.83", rb'("name" "Thunderbird" "version" "128.3.1" '
                   rb'"os" "Windows")',
     "Thunderbird", "128.3.1"),
    ("127.0.0.84", rb'("name" "Mac OS X Mail" "version" '
                   rb'"16.0 (3696.80.82.1.1)" "os" "Mac OS X" '
                   rb'"os-version" "12.3 (21E230)" "vendor" "Apple Inc.")',
     "Mac OS X Mail", "16.0 (3696.80.82.1.1)"),
    ("127.0.0.85", rb'("version" "21B101" "os" "iOS" "name" "iPhone Mail" '
                   rb'"os-version" "17.1.2 (21B101)")',
     "iPhone Mail", "21B101"),
    # K-9 Mail (Android), as its ImapStore sends it.
    ("127.0.0.87", rb'("name" "K-9" "version" "5.600" '
                   rb'"vendor" "K-9 Dog Walkers" '
                   rb'"contact" "k-9-dev@googlegroups.com" '
                   rb'"os" "Android" "os-version" "28")',
     "K-9", "5.600"),
    # Evolution's list as Scalix servers expect it (KMail imitates it).
    ("127.0.0.88", rb'("name" "Evolution" "version" "2.10.0")',
     "Evolution", "2.10.0"),
    ("127.0.0.86", rb'("name" "a;b,c\\d" "version" "1 \"2\";3")',
     "a;b,c\\d", '1 "2";3'),
]


def inventory_bin(postern_bin):
    path = os.path.join(os.path.dirname(postern_bin), "postern-inventory")
    if not os.access(path, os.X_OK):
        pytest.skip("no postern-inventory next to " + postern_bin)
    return path


def tagged(f, tag):
    while True:
        line = f.readline()
        assert line, "connection closed"
        if line.startswith(tag + b" "):
            return line


def id_login_logout(port, src, idlist, pw):
    """One IMAP session from src: ID with idlist, LOGIN as grace, LOGOUT."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20,
                                 source_address=(src, 0))
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a1 ID " + idlist + b"\r\n")
    assert tagged(f, b"a1").startswith(b"a1 OK")
    s.sendall(b'a2 LOGIN grace "%s"\r\n' % pw.encode())
    assert tagged(f, b"a2").startswith(b"a2 OK")
    s.sendall(b"a3 LOGOUT\r\n")
    tagged(f, b"a3")
    f.close()
    s.close()


def test_id_values_kept_exactly(start_postern, dovecot, logdir, postern_bin):
    inv = inventory_bin(postern_bin)
    p = start_postern(log_conf(logdir))
    pw = dovecot.users["grace"]
    for src, idlist, _, _ in CLIENTS:
        id_login_logout(p.ports["imap"], src, idlist, pw)
    assert p.stop() == 0
    rows = read_logs(logdir)
    for src, idlist, name, version in CLIENTS:
        mine = [r for r in rows if r["cIp"].startswith(src + ":")]
        # The parameters show the list as the client sent it.
        idrow = [r for r in mine if r["command"] == "id"][0]
        assert idrow["parameters"] == idlist.decode(), idrow
        for cmd in ("id", "login"):
            row = [r for r in mine if r["command"] == cmd][0]
            assert ctx_value(row["context"], "ClientName") == name, row
            assert ctx_value(row["context"], "ClientVersion") == version, row
    out = subprocess.run([inv, "--format", "json", "--by", "software",
                          logdir], stdout=subprocess.PIPE, check=True).stdout
    soft = sorted(r.get("software") for r in json.loads(out)["records"])
    assert soft == sorted(set("%s %s" % (n, v) for _, _, n, v in CLIENTS))


def test_id_of_one_session_never_reaches_the_next(start_postern, dovecot,
                                                   logdir):
    """A session's pre-login state is a block the worker keeps for the
    next session: the second session here takes the block the first left
    (one worker, one after the other) and sends an ID without a name, so a
    name left in the block would show up in its rows."""
    conf = log_conf(logdir)
    conf["postern"] = {"workers": "1"}
    p = start_postern(conf)
    pw = dovecot.users["grace"]
    lists = [("127.0.0.91", rb'("name" "first-client" "version" "1.0")'),
             ("127.0.0.92", rb'("version" "2.0")'),
             ("127.0.0.93", b"NIL")]
    for src, idlist in lists:
        id_login_logout(p.ports["imap"], src, idlist, pw)
    assert p.stop() == 0
    rows = read_logs(logdir)

    def ids(src):
        row = [r for r in rows if r["cIp"].startswith(src + ":")
               and r["command"] == "login"][0]
        return (ctx_value(row["context"], "ClientName"),
                ctx_value(row["context"], "ClientVersion"))

    assert ids("127.0.0.91") == ("first-client", "1.0")
    assert ids("127.0.0.92") == (None, "2.0")
    assert ids("127.0.0.93") == (None, None)
