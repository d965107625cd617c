"""Login names written as Exchange writes them: a DOMAIN\\user name keeps
its backslash, and a name with ',' or '"' is a quoted CSV field, so that
the protocol log, a CSV reader and postern-inventory all show the name
the directory has."""

import csv
import glob
import io
import json
import os
import socket
import subprocess

import pytest

from helpers import fresh_source

from test_crowdsec import run_parallel
from test_protolog import ctx_value, log_conf, logdir, read_logs  # noqa: F401

NAMES = ["CORP\\dave,jr", 'CORP\\o"brien', "CORP\\nancy", "CORP\\o'brien",
         "dave@corp.example"]


def inventory_bin(postern_bin):
    path = os.path.join(os.path.dirname(postern_bin), "postern-inventory")
    if not os.access(path, os.X_OK):
        pytest.skip("no postern-inventory next to " + postern_bin)
    return path


def imap_quoted(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_user_column_keeps_the_name(start_postern, dovecot, logdir,
                                    postern_bin):
    inv = inventory_bin(postern_bin)
    # Ten failures at once: on a loaded machine Dovecot's answers (each
    # delayed by auth_failure_delay) can take longer than the 10 s the
    # other tests allow; a lost answer still fails on the client's 30 s.
    p = start_postern(log_conf(logdir, backend_timeout="25s"))
    # All at once, each from an address of its own: Dovecot slows down
    # each further failure it sees from an address (auth_penalty) and would
    # soon pass postern's backend timeout.
    def imap(name):
        s = socket.create_connection(("127.0.0.1", p.ports["imap"]),
                                     timeout=30,
                                     source_address=(fresh_source(), 0))
        f = s.makefile("rb")
        f.readline()
        s.sendall(("a1 LOGIN %s \"wrong\"\r\n" % imap_quoted(name)).encode())
        assert f.readline().startswith(b"a1 NO")
        s.sendall(b"a2 LOGOUT\r\n")
        f.close()
        s.close()

    def pop(name):
        s = socket.create_connection(("127.0.0.1", p.ports["pop3"]),
                                     timeout=30,
                                     source_address=(fresh_source(), 0))
        f = s.makefile("rb")
        f.readline()
        s.sendall(("USER %s\r\n" % name).encode())
        assert f.readline().startswith(b"+OK")
        s.sendall(b"PASS wrong\r\n")
        assert f.readline().startswith(b"-ERR")
        s.sendall(b"QUIT\r\n")
        f.close()
        s.close()
    run_parallel([lambda n=n, fn=fn: fn(n) for n in NAMES
                  for fn in (imap, pop)])
    assert p.stop() == 0
    rows = read_logs(logdir)
    for name in NAMES:
        for cmd in ("login", "pass"):
            mine = [r for r in rows if r["command"] == cmd and
                    r["user"] == name]
            assert len(mine) == 1, (name, cmd, [r["user"] for r in rows])
            assert ctx_value(mine[0]["context"], "Msg").endswith(
                "AuthFailed:LogonDenied,User: " + name)
    # The columns up to cIp stay where scripts that split on commas look.
    for path in glob.glob(os.path.join(logdir, "*", "*.LOG")):
        with open(path, encoding="utf-8", newline="") as fh:
            for line in fh.read().split("\r\n"):
                if line and not line.startswith(("#", "dateTime,")):
                    assert line.split(",")[4].startswith("127.201."), line
                    rec = next(csv.reader(io.StringIO(line)))
                    assert len(rec) == 13, line
    out = subprocess.run([inv, "--format", "json", "--by", "user", logdir],
                         stdout=subprocess.PIPE, check=True).stdout
    users = {r.get("user") for r in json.loads(out)["records"]}
    # The inventory compares names without regard to case.
    assert {u.lower() for u in NAMES} <= {u.lower() for u in users if u}, \
        users
