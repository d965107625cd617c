"""The one line each session leaves in the daemon log at its end, as
Dovecot's "Disconnected": why it ended, then key=value fields (user,
client, protocol, TLS version, backend, login mechanism, duration, bytes
relayed each way), "-" where a field does not apply."""

import base64
import re

import pytest

import helpers
from helpers import LineClient, client_context

SUMMARY = re.compile(r"(POP3|IMAP4) [0-9A-F]{16} (\S+): (closing|closed): "
                     r"([^;]*); (.*)$", re.M)
FIELD = re.compile(r'(\w+)=("[^"]*"|\S*)')
KEYS = ["user", "client", "proto", "tls", "backend", "mech", "duration",
        "in", "out"]


def summary(p, client_addr):
    """Waits for client_addr's summary line; returns (reason, fields)."""
    def find():
        found = [m for m in SUMMARY.finditer(p.log())
                 if m.group(2) == client_addr]
        return found or None
    found = helpers.wait_for(find, 10, "the summary of %s" % client_addr)
    assert len(found) == 1, found
    m = found[0]
    pairs = FIELD.findall(m.group(5))
    # Every field, always, in one order: a parser may rely on it.
    assert [k for k, _ in pairs] == KEYS, m.group(0)
    fields = dict(pairs)
    assert fields["proto"] == m.group(1)
    assert fields["client"] == client_addr
    assert re.fullmatch(r"\d+\.\d{3}s", fields["duration"]), fields
    return m.group(4), fields


def addr(c):
    return "%s:%d" % c.sock.getsockname()[:2]


def tagged(c, tag):
    """Reads up to the tagged answer; returns everything read."""
    data = b""
    while True:
        line = c.readline()
        data += line
        if line.startswith(tag + b" "):
            assert line.startswith(tag + b" OK"), line
            return data


def test_pop3_session(start_postern, dovecot):
    p = start_postern()
    c = LineClient(p.ports["pop3"])
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"USER alice").startswith(b"+OK")
    assert c.cmd(b"PASS " + dovecot.users["alice"].encode()).startswith(
        b"+OK")
    c.send(b"RETR 1\r\nQUIT\r\n")
    got = c.read_until_close()
    me = addr(c)
    c.close()
    assert dovecot.message(1).split(b"\n")[0] in got
    reason, f = summary(p, me)
    assert reason == "client logged out"
    assert f["user"] == "alice"
    assert f["proto"] == "POP3"
    assert f["tls"] == "-"
    assert f["backend"] == "127.0.0.1:%d" % dovecot.ports["pop3"]
    assert f["mech"] == "USER"
    # What was relayed after the login: the two commands, and RETR's
    # answer, the whole message and more.
    assert int(f["in"]) >= len(b"RETR 1\r\nQUIT\r\n")
    assert int(f["in"]) < 1000
    assert int(f["out"]) >= len(dovecot.message(1))
    assert int(f["out"]) <= len(got)


def test_imap_session_over_tls(start_postern, dovecot, cert):
    p = start_postern()
    c = LineClient(p.ports["imaps"], client_context(cert[0]))
    version = c.sock.version()
    assert c.readline().startswith(b"* OK")
    c.send(b'a1 LOGIN alice "' + dovecot.users["alice"].encode() + b'"\r\n')
    tagged(c, b"a1")
    sent = b"a2 SELECT INBOX\r\na3 FETCH 1 BODY.PEEK[]\r\na4 LOGOUT\r\n"
    c.send(sent)
    got = c.read_until_close()
    me = addr(c)
    c.close()
    reason, f = summary(p, me)
    assert reason == "client logged out"
    assert f["user"] == "alice"
    assert f["proto"] == "IMAP4"
    assert f["tls"] == version
    assert f["backend"] == "127.0.0.1:%d" % dovecot.ports["imap"]
    assert f["mech"] == "LOGIN"
    assert int(f["in"]) == len(sent)
    assert int(f["out"]) >= len(dovecot.message(1))
    assert int(f["out"]) <= len(got)


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_sasl_mechanism_is_named(start_postern, dovecot, proto):
    p = start_postern()
    ir = base64.b64encode(b"\0alice\0" + dovecot.users["alice"].encode())
    c = LineClient(p.ports[proto])
    c.readline()
    if proto == "imap":
        c.send(b"a1 AUTHENTICATE PLAIN " + ir + b"\r\n")
        tagged(c, b"a1")
        c.send(b"a2 LOGOUT\r\n")
        want = "AUTHENTICATE:PLAIN"
    else:
        assert c.cmd(b"AUTH PLAIN " + ir).startswith(b"+OK")
        c.send(b"QUIT\r\n")
        want = "AUTH:PLAIN"
    c.read_until_close()
    me = addr(c)
    c.close()
    reason, f = summary(p, me)
    assert reason == "client logged out"
    assert f["mech"] == want
    assert f["user"] == "alice"


def test_timeout_before_login(start_postern):
    p = start_postern({"pop3": {"pre_authenticated_connection_timeout":
                                "1s"}})
    c = LineClient(p.ports["pop3"])
    assert c.readline().startswith(b"+OK")
    c.read_until_close()
    me = addr(c)
    c.close()
    reason, f = summary(p, me)
    assert reason == "pre-auth timeout"
    assert f["user"] == "-"
    assert f["mech"] == "-"
    assert f["backend"] == "-"
    assert f["tls"] == "-"
    assert f["in"] == "0"


def test_refused_login_names_user_quoted(start_postern):
    """A refused login names who tried and how; a user name with a space
    is quoted, so that the fields after it still parse."""
    p = start_postern()
    c = LineClient(p.ports["imap"])
    c.readline()
    c.send(b'a1 LOGIN "mallory x=1" wrong\r\n')
    line = c.readline()
    while not line.startswith(b"a1 "):
        line = c.readline()
    assert line.startswith(b"a1 NO"), line
    c.send(b"a2 LOGOUT\r\n")
    c.read_until_close()
    me = addr(c)
    c.close()
    reason, f = summary(p, me)
    assert reason == "client logged out before login"
    assert f["user"] == '"mallory x=1"'
    assert f["mech"] == "LOGIN"
    assert f["out"] == "0"
