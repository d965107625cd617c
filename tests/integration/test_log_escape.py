"""What a client sends reaches the daemon log and the protocol log escaped:
no forged line, no terminal escape sequence, only valid UTF-8."""

import os
import re
import shutil

import pytest

import helpers
from helpers import LineClient
from test_protolog import log_conf, read_logs, session_rows


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-protolog.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def read_tagged(c, tag):
    while True:
        line = c.readline()
        if line.startswith(tag + b" "):
            return line


def send_literal(c, prefix, data, rest):
    """Sends prefix {n}, waits for the continuation, then data and rest."""
    c.send(prefix + b"{%d}\r\n" % len(data))
    assert c.readline().startswith(b"+")
    c.send(data + rest)


def raw_log(p):
    with open(p.logpath, "rb") as f:
        return f.read()


def test_id_literal_cannot_forge_a_daemon_log_line(start_postern, dovecot):
    p = start_postern({"postern": {"log_level": "debug"}})
    c = LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    # A literal may hold CR and LF: the name spans three lines, the
    # second made to look like one of postern's own.
    send_literal(c, b'A1 ID ("name" ',
                 b"Evil\r\n<3>forged line\r\nmore",
                 b' "version" "\x1b[2J\x1b]0;owned\x07 1.0")\r\n')
    assert read_tagged(c, b"A1").startswith(b"A1 OK")
    # A user name with an escape sequence and bytes that are not UTF-8.
    send_literal(c, b"A2 LOGIN ", b"\x1b[31meve\xff\xc0\xaf",
                 b' "secret"\r\n')
    assert read_tagged(c, b"A2").startswith(b"A2 NO")
    c.send(b"A3 LOGOUT\r\n")
    read_tagged(c, b"A3")
    c.close()
    p.wait_log(r"client says it is")
    p.wait_log(r"closing: ")
    p.stop()
    raw = raw_log(p)
    lines = raw.split(b"\n")
    assert not any(l.startswith(b"<3>forged") or l.startswith(b"more")
                   for l in lines), raw
    assert b"\x1b" not in raw and b"\x07" not in raw and b"\r" not in raw
    raw.decode("utf-8")  # strict: fails on any byte that is not UTF-8
    # The whole ID value stays on one line (the IMAP module may already
    # have replaced its control bytes; the log escapes whatever is left).
    said = [l for l in lines if b"client says it is" in l]
    assert len(said) == 1, raw
    assert re.search(rb"client says it is Evil.{1,8}<3>forged line.{1,8}more "
                     rb".{1,4}\[2J.{1,4}\]0;owned.{1,4} 1\.0$", said[0]), said[0]
    # The user name reaches the log raw from the session: the log's own
    # escape is what shows here (ESC became '?' in the session already).
    assert re.search(rb"user \?\[31meve\\xff\\xc0\\xaf: login refused",
                     raw), raw
    # Every line is one of postern's: a level, then its text.
    for l in lines[:-1]:
        assert re.match(rb"^<[0-7]>", l), l


def test_bytes_that_are_not_utf8_reach_the_protocol_log_escaped(
        start_postern, dovecot, logdir):
    p = start_postern(log_conf(logdir))
    c = LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    # Lone continuation byte, overlong, surrogate, cut sequence, 0xFF,
    # after a name in valid UTF-8 that must be kept as it is.
    bad = b"a\x80\xc0\xaf\xed\xa0\x80\xff\xe2\x82"
    send_literal(c, b"A1 LOGIN ", b"b\xc3\xa9" + bad, b' "secret"\r\n')
    assert read_tagged(c, b"A1").startswith(b"A1 NO")
    send_literal(c, b'A2 ID ("name" ', b"Mutt\xf5\x80 \xc3\xa9",
                 b' "version" "2")\r\n')
    read_tagged(c, b"A2")
    pw = dovecot.users["frank"].encode()
    c.send(b'A3 LOGIN frank "' + pw + b'"\r\n')
    assert read_tagged(c, b"A3").startswith(b"A3 OK")
    # After login, the relay's framer logs commands with their arguments.
    c.send(b'A4 SELECT "Entw\xc3\xbcrfe\xfe\xf0\x9f\x93\xa7\x1b[1m"\r\n')
    read_tagged(c, b"A4")
    c.send(b"A5 XCMD\xff " + bad + b"\r\n")
    read_tagged(c, b"A5")
    c.send(b"A6 LOGOUT\r\n")
    read_tagged(c, b"A6")
    cip = "%s:%d" % c.sock.getsockname()[:2]
    c.close()
    # read_logs() decodes every file strictly as UTF-8.
    rows = session_rows(logdir, cip)
    for path in {r["_file"] for r in read_logs(logdir)}:
        with open(path, encoding="utf-8") as f:
            assert "\x1b" not in f.read()
    esc = "a\\x80\\xc0\\xaf\\xed\\xa0\\x80\\xff\\xe2\\x82"
    by = {r["command"]: r for r in rows}
    login = [r for r in rows if r["command"] == "login"]
    assert login[0]["parameters"] == "b\u00e9" + esc + " *****", login
    assert login[0]["user"] == "b\u00e9" + esc, login
    # "Mutt\\xf5\\x80 \u00e9", or '?' for what the IMAP module replaced.
    assert re.search(r'ClientName="Mutt(\\xf5\\x80|\?\?) \u00e9"',
                     by["id"]["context"]), by["id"]
    assert by["select"]["parameters"] == \
        '"Entw\u00fcrfe\\xfe\U0001f4e7\\x1b[1m"', by["select"]
    x = [r for r in rows if r["parameters"].endswith(esc)]
    assert len(x) == 1 and "xcmd\\xff" in x[0]["command"].lower(), rows
