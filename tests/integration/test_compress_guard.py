"""A logged-in client can neither start COMPRESS behind postern nor hide a
command from the protocol log, however it dresses its bytes up: a "{n}"
inside an atom, a synchronising literal the server never accepted, an
IDLE with more behind it (a non-synchronising literal ends the session:
test_literal_plus.py).  Sent raw to a real Dovecot, which starts compression for any
of these when nothing stands between; checked on what the client gets
and on the rows of the protocol log (one row per command, none folded
into another)."""

import re
import secrets

import pytest

from helpers import LineClient
from test_protolog import log_conf, logdir, session_rows  # noqa: F401

USER = "grace"


class Client(LineClient):
    """A raw client that fails at once if compression ever begins."""

    def __init__(self, port):
        super().__init__(port, timeout=10)

    def readline(self):
        line = super().readline()
        assert b"Begin compression" not in line, line
        return line

    def answers(self, *tags):
        """Reads up to the tagged answers of tags, in any order; returns
        {tag: line} and the other lines."""
        got, other = {}, []
        while len(got) < len(tags):
            line = self.readline()
            tag = line.split(b" ", 1)[0]
            if tag in tags:
                got[tag] = line
            else:
                other.append(line)
        return got, other

    def login(self, dovecot):
        self.readline()
        self.send(b"a LOGIN %s %s\r\n" % (USER.encode(),
                                         dovecot.users[USER].encode()))
        got, _ = self.answers(b"a")
        assert got[b"a"].startswith(b"a OK"), got
        return got[b"a"]

    def logout(self):
        self.send(b"z LOGOUT\r\n")
        self.read_until_close()
        self.close()


def refused(line):
    return line.split(b" ")[1] in (b"BAD", b"NO")


def session(p, dovecot, script):
    """Runs script(c) in a logged-in session; returns the client's
    address."""
    c = Client(p.ports["imap"])
    cip = "%s:%d" % c.sock.getsockname()[:2]
    ok = c.login(dovecot)
    caps = re.search(rb"\[CAPABILITY ([^]]*)\]", ok).group(1).split()
    # Neither compression nor literals that cannot wait are offered.
    assert not any(x.upper().startswith(b"COMPRESS") for x in caps), caps
    assert b"LITERAL+" not in caps and b"LITERAL-" not in caps, caps
    script(c)
    # The session goes on, uncompressed.
    c.send(b"s1 SELECT INBOX\r\ns2 FETCH 1 (FLAGS)\r\n")
    got, _ = c.answers(b"s1", b"s2")
    assert got[b"s1"].startswith(b"s1 OK") and \
        got[b"s2"].startswith(b"s2 OK"), got
    c.logout()
    return cip


def commands(rows):
    """(command, parameters) of the rows after the login's."""
    i = [r["command"] for r in rows].index("login")
    return [(r["command"], r["parameters"]) for r in rows[i + 1:]
            if r["command"] != "CloseSession"]


def atom_brace(c):
    # "x{20}" is in an atom: no literal, and the next 20 bytes are the
    # COMPRESS command, to Dovecot as to postern.
    c.send(b"b NOOP x{20}\r\nc COMPRESS DEFLATE\r\n")
    got, _ = c.answers(b"b", b"c")
    assert got[b"b"].startswith(b"b OK")
    assert refused(got[b"c"]), got


ATOM_ROWS = [("noop", "x{20}"), ("compress", "DEFLATE")]


def refused_literals(box):
    def script(c):
        # Dovecot ends a NOOP before its arguments: no "+", and what
        # follows the header is commands.
        c.send(b"b NOOP {20}\r\nc COMPRESS DEFLATE\r\n")
        got, _ = c.answers(b"b", b"c")
        assert got[b"b"].startswith(b"b OK") and refused(got[b"c"]), got
        create = b"g CREATE %s\r\n" % box
        delete = b"h DELETE %s\r\n" % box
        # A literal as long as the CREATE and part of the DELETE.
        c.send(b"f NOOP {%d}\r\n" % (len(create) + 4) + create + delete)
        got, _ = c.answers(b"f", b"g", b"h")
        assert all(v.split(b" ")[1] == b"OK" for v in got.values()), got
        # An unknown command, refused with BAD.
        c.send(b"k FOO {20}\r\nl cOmPrEsS DEFLATE\r\n")
        got, _ = c.answers(b"k", b"l")
        assert refused(got[b"k"]) and refused(got[b"l"]), got
        # The CREATE and the DELETE both ran.
        c.send(b'm LIST "" %s\r\n' % box)
        got, other = c.answers(b"m")
        assert got[b"m"].startswith(b"m OK") and other == [], other
    return script


def refused_rows(box):
    box = box.decode()
    return [("noop", "{20}"), ("compress", "DEFLATE"),
            ("noop", "{%d}" % (len("g CREATE %s\r\n" % box) + 4)),
            ("create", box), ("delete", box),
            ("foo", "{20}"), ("compress", "DEFLATE"),
            ("list", '"" %s' % box)]


def idle(c):
    # Sent at once: the server's "+" makes the second line the IDLE's
    # end, which Dovecot answers with BAD; then a plain COMPRESS.
    c.send(b"b IDLE\r\nc COMPRESS DEFLATE\r\n")
    assert c.readline().startswith(b"+ ")
    got, _ = c.answers(b"b")
    assert got[b"b"].startswith(b"b BAD"), got
    c.send(b"d COMPRESS DEFLATE\r\n")
    got, _ = c.answers(b"d")
    assert refused(got[b"d"]), got


IDLE_ROWS = [("idle", ""), ("done", "c COMPRESS DEFLATE"),
             ("compress", "DEFLATE")]


# A message whose lines look like the attacks: literal data, left alone.
MSG = (b"From: a@example.org\r\nSubject: guard\r\n\r\n"
       b"c COMPRESS DEFLATE\r\nb NOOP {20}\r\n")


def accepted_literal(box):
    msg = MSG

    def script(c):
        c.send(b"b CREATE %s\r\n" % box)
        got, _ = c.answers(b"b")
        assert got[b"b"].startswith(b"b OK"), got
        # A well-behaved client waits for "+"; the literal is data.
        c.send(b"c APPEND %s {%d}\r\n" % (box, len(msg)))
        assert c.readline().startswith(b"+ ")
        c.send(msg + b"\r\n")
        got, _ = c.answers(b"c")
        assert got[b"c"].startswith(b"c OK"), got
        c.send(b"d EXAMINE %s\r\ne FETCH 1 BODY.PEEK[]\r\n" % box)
        got, other = c.answers(b"d")
        assert got[b"d"].startswith(b"d OK"), got
        head = c.readline()
        n = int(re.search(rb"\{(\d+)\}\r\n$", head).group(1))
        assert c.read_exact(n) == msg
        got, _ = c.answers(b"e")
        assert got[b"e"].startswith(b"e OK"), got
        # Dovecot ends a session whose selected mailbox is deleted.
        c.send(b"f UNSELECT\r\ng DELETE %s\r\n" % box)
        got, _ = c.answers(b"f", b"g")
        assert got[b"g"].startswith(b"g OK"), got
    return script


def accepted_rows(box):
    box = box.decode()
    return [("create", box), ("append", "%s {%d}" % (box, len(MSG))),
            ("examine", box), ("fetch", "1 BODY.PEEK[]"),
            ("unselect", ""), ("delete", box)]


CASES = {
    "atom": (lambda box: atom_brace, lambda box: ATOM_ROWS),
    "refused": (refused_literals, refused_rows),
    "idle": (lambda box: idle, lambda box: IDLE_ROWS),
    "accepted": (accepted_literal, accepted_rows),
}


@pytest.mark.parametrize("pump", ["direct", "bufferevent"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_compress_never_starts_and_every_command_has_its_row(
        start_postern, dovecot, logdir, monkeypatch, case,  # noqa: F811
        pump):
    if pump == "bufferevent":
        # Without epoll's edges the relay falls back to its bufferevent
        # pump, which holds the client's bytes its own way.
        monkeypatch.setenv("EVENT_NOEPOLL", "1")
    p = start_postern(log_conf(logdir))
    box = b"guard" + secrets.token_hex(4).encode()
    script, rows = CASES[case]
    cip = session(p, dovecot, script(box))
    got = commands(session_rows(logdir, cip))
    assert got == rows(box) + [("select", "INBOX"), ("fetch", "1 (FLAGS)"),
                               ("logout", "")], got


@pytest.mark.parametrize("case", sorted(CASES))
def test_compress_never_starts_without_the_log(start_postern, dovecot,
                                               case):
    # The guard reads the stream when nothing is logged, too.
    p = start_postern()
    box = b"guard" + secrets.token_hex(4).encode()
    session(p, dovecot, CASES[case][0](box))
