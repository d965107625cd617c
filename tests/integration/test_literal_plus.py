"""A non-synchronising literal (RFC 7888 "{n+}") after login ends the
session: its data must never reach the backend, where Dovecot would run it
as commands (an APPEND's message lines, or the bytes after a NOOP that
Dovecot ends before its arguments).  Sent raw to a real Dovecot through
both relay pumps, with and without the protocol log; checked through a
second, ordinary session."""

import re
import secrets

import pytest

from helpers import LineClient
from test_protolog import ctx_value, log_conf, logdir, session_rows  # noqa: F401

USER = "grace"
BYE = b"* BYE [ALERT] LITERAL+ is not available after login.\r\n"


def login(c, dovecot, tag=b"a"):
    c.readline()
    c.send(b"%s LOGIN %s %s\r\n" % (tag, USER.encode(),
                                   dovecot.users[USER].encode()))
    while True:
        line = c.readline()
        if line.startswith(tag + b" "):
            assert line.startswith(tag + b" OK"), line
            return


def append_attack(evil):
    msg = (b"From: a@example.org\r\nSubject: lines\r\n\r\n"
           b"x DELETE INBOX\r\nc CREATE %s\r\n" % evil)
    return b"b APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n", \
        ("append", "INBOX {%d+" % len(msg))


def noop_attack(evil):
    return b"b NOOP {20+}\r\nc COMPRESS DEFLATE\r\nd CREATE %s\r\n" % evil, \
        ("noop", "{20+")


ATTACKS = {"append": append_attack, "noop": noop_attack}


def mailboxes(p, dovecot):
    """The mailbox names, through a new ordinary session."""
    c = LineClient(p.ports["imap"], timeout=10)
    login(c, dovecot)
    c.send(b'l LIST "" *\r\n')
    names = []
    while True:
        line = c.readline()
        if line.startswith(b"l "):
            assert line.startswith(b"l OK"), line
            break
        m = re.match(rb'\* LIST \([^)]*\) (?:"[^"]*"|NIL) "?([^"\r]*)"?\r\n',
                     line)
        if m:
            names.append(m.group(1))
    c.send(b"z LOGOUT\r\n")
    c.read_until_close()
    c.close()
    return names


@pytest.mark.parametrize("pump", ["direct", "bufferevent"])
@pytest.mark.parametrize("logged", [True, False])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_non_synchronising_literal_ends_the_session(
        start_postern, dovecot, logdir, monkeypatch, pump,  # noqa: F811
        logged, attack):
    if pump == "bufferevent":
        monkeypatch.setenv("EVENT_NOEPOLL", "1")
    p = start_postern(log_conf(logdir) if logged else None)
    before = mailboxes(p, dovecot)
    assert b"INBOX" in before, before
    evil = b"Evil" + secrets.token_hex(4).encode()
    data, row = ATTACKS[attack](evil)

    c = LineClient(p.ports["imap"], timeout=10)
    cip = "%s:%d" % c.sock.getsockname()[:2]
    login(c, dovecot)
    c.send(data)
    rest = c.read_until_close()
    c.close()
    # Nothing was answered and compression never began; the backend's
    # stream stood between answers (after the login's, nothing came):
    # the goodbye is said.
    assert rest == BYE, rest

    after = mailboxes(p, dovecot)
    assert b"INBOX" in after, after
    assert evil not in after, after
    assert sorted(after) == sorted(before), (before, after)
    p.wait_log(r"non-synchronising literal \(LITERAL\+\) after login")
    assert len(re.findall(r"non-synchronising literal \(LITERAL\+\)",
                          p.log())) == 1, p.log()
    if logged:
        rows = session_rows(logdir, cip)
        cmds = [(r["command"], r["parameters"]) for r in rows]
        i = [r[0] for r in cmds].index("login")
        assert cmds[i + 1:] == [row, ("CloseSession", cmds[-1][1])], cmds
        assert ctx_value(rows[-1]["context"], "ErrMsg") == \
            "LiteralPlusRefused", rows[-1]


@pytest.mark.parametrize("pump", ["direct", "bufferevent"])
def test_no_goodbye_inside_an_answer(start_postern, dovecot, monkeypatch,
                                     pump):
    # Inside a FETCH's literal a BYE would become part of the message:
    # the session ends without a word, and the client sees it cut.
    if pump == "bufferevent":
        monkeypatch.setenv("EVENT_NOEPOLL", "1")
    p = start_postern()
    box = b"big" + secrets.token_hex(4).encode()
    body = b"Subject: big\r\n\r\n" + (b"a" * 998 + b"\r\n") * 16384
    c = LineClient(p.ports["imap"], timeout=30)
    login(c, dovecot)
    c.send(b"b CREATE %s\r\n" % box)
    assert c.readline().startswith(b"b OK")
    c.send(b"c APPEND %s {%d}\r\n" % (box, len(body)))
    assert c.readline().startswith(b"+ ")
    c.send(body + b"\r\n")
    while not (line := c.readline()).startswith(b"c "):
        pass
    assert line.startswith(b"c OK"), line
    c.send(b"d SELECT %s\r\n" % box)
    while not (line := c.readline()).startswith(b"d "):
        pass
    c.send(b"e FETCH 1 BODY[]\r\n")
    head = c.readline()
    assert re.search(rb"\{%d\}\r\n$" % len(body), head), head
    # The body is far from read: the backend's stream is inside it.
    c.send(b"f NOOP {5+}\r\nhello\r\n")
    rest = c.read_until_close(timeout=30)
    c.close()
    assert len(rest) < len(body), len(rest)
    assert BYE not in rest
    p.wait_log(r"non-synchronising literal \(LITERAL\+\) after login")
    # The daemon serves the next client; the mailbox is cleaned up.
    c = LineClient(p.ports["imap"], timeout=10)
    login(c, dovecot)
    c.send(b"g DELETE %s\r\n" % box)
    while not (line := c.readline()).startswith(b"g "):
        pass
    assert line.startswith(b"g OK"), line
    c.send(b"z LOGOUT\r\n")
    c.read_until_close()
    c.close()
