"""Why a relayed session ended, as the daemon log and the protocol log's
CloseSession row say it: the client's LOGOUT or QUIT, relayed to the
backend whose close follows, is the client's logout; a client that closes
its side without one disconnected; a backend that ends the session on its
own (here Dovecot, after too many bad commands) closed it."""

import re
import shutil
import socket

import pytest

import helpers
from helpers import LineClient
from test_protolog import ctx_value, log_conf, session_rows


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-protolog.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def imap_login(p, pw):
    c = LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    c.send(b'a1 LOGIN alice "' + pw.encode() + b'"\r\n')
    while True:
        line = c.readline()
        if line.startswith(b"a1 "):
            assert line.startswith(b"a1 OK"), line
            return c


def pop3_login(p, pw):
    c = LineClient(p.ports["pop3"])
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"USER alice").startswith(b"+OK")
    assert c.cmd(b"PASS " + pw.encode()).startswith(b"+OK")
    return c


def ended(p, logdir, c):
    """Reads to the end; returns the daemon log's reason and the
    CloseSession row's Msg and ErrMsg for client c."""
    c.read_until_close()
    cip = "%s:%d" % c.sock.getsockname()[:2]
    c.close()
    rows = session_rows(logdir, cip)
    close = rows[-1]
    assert close["command"] == "CloseSession", rows
    # The reason ends at the summary line's "; " before its fields.
    rx = re.compile(r"[0-9A-F]{16} %s: closing: ([^;]*);" % re.escape(cip))
    m = helpers.wait_for(lambda: rx.search(p.log()), 10,
                         "the end of %s in the daemon log" % cip)
    return (m.group(1), ctx_value(close["context"], "Msg"),
            ctx_value(close["context"], "ErrMsg"))


@pytest.mark.parametrize("detail", ["commands", "proxy"])
@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_client_logout_is_logged_as_such(start_postern, dovecot, logdir,
                                         proto, detail):
    p = start_postern(log_conf(logdir, log_detail=detail))
    pw = dovecot.users["alice"]
    if proto == "imap":
        c = imap_login(p, pw)
        c.send(b"a2 NOOP\r\na3 logout\r\n")
    else:
        c = pop3_login(p, pw)
        c.send(b"STAT\r\nquit\r\n")
    assert ended(p, logdir, c) == ("client logged out", "ClientLogout",
                                   None)


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_backend_close_is_logged_as_such(start_postern, dovecot, logdir,
                                         proto):
    p = start_postern(log_conf(logdir))
    pw = dovecot.users["alice"]
    # Dovecot ends a session that sends too many bad commands itself; a
    # LOGOUT or QUIT earlier in the session must not count.
    if proto == "imap":
        c = imap_login(p, pw)
        c.send(b"a2 LOGOUTX\r\n" + b"".join(
            b"b%d BADCOMMAND\r\n" % i for i in range(30)))
    else:
        c = pop3_login(p, pw)
        c.send(b"QUITX\r\n" + b"BADCOMMAND\r\n" * 30)
    assert ended(p, logdir, c) == ("backend closed the connection",
                                   "BackendClosed", None)


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_client_hangup_is_logged_as_such(start_postern, dovecot, logdir,
                                         proto):
    p = start_postern(log_conf(logdir))
    pw = dovecot.users["alice"]
    c = imap_login(p, pw) if proto == "imap" else pop3_login(p, pw)
    # The backend hears of the end through the relay and closes in turn.
    c.sock.shutdown(socket.SHUT_WR)
    assert ended(p, logdir, c) == ("client closed the connection",
                                   "ClientDisconnected", None)
