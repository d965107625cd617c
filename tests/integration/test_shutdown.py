"""Stopping with sessions in the middle of an answer: postern's goodbye is
written only between answers, never inside a relayed literal or a RETR
body; where it cannot be, the connection ends without a word."""

import imaplib
import os
import shutil
import signal
import socket
import time

import pytest

import helpers

GRACE = 1.0  # shutdown_timeout, in seconds


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-shutdown.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def conf(logdir, logging):
    c = {"postern": {"shutdown_timeout": "%ds" % GRACE if GRACE >= 1
                     else "%dms" % (GRACE * 1000)}}
    for proto, sub in (("pop3", "Pop3"), ("imap", "Imap4")):
        c[proto] = {"protocol_log_enabled": "yes" if logging else "no",
                    "log_file_location": os.path.join(logdir, sub)}
    return c


class SlowClient:
    """A client with a small receive buffer that reads only when told, so
    that most of a large answer waits in postern when it is stopped."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.settimeout(helpers.IO_TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def readline(self):
        while b"\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def read_until(self, end):
        while end not in self.buf:
            self.fill()
        i = self.buf.index(end) + len(end)
        data, self.buf = self.buf[:i], self.buf[i:]
        return data

    def tagged(self, tag):
        """Lines up to the tagged answer, which is returned."""
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                return line

    def read_some(self, n):
        while len(self.buf) < n:
            self.fill()

    def rest(self):
        """Everything up to the server's close, read as fast as it comes
        (a small window would make the kernel's share trickle in)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        while True:
            try:
                self.fill()
            except (EOFError, ConnectionResetError):
                return self.buf

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


def imap_login(port, user, password):
    c = SlowClient(port)
    assert c.readline().startswith(b"* OK")
    c.send(b"a LOGIN %s %s\r\n" % (user.encode(), password.encode()))
    assert c.tagged(b"a").startswith(b"a OK")
    c.send(b"b SELECT INBOX\r\n")
    assert c.tagged(b"b").startswith(b"b OK")
    return c


def stop_and_collect(p, clients):
    """SIGTERM; after the grace time, everything each client still gets."""
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    time.sleep(GRACE + 0.3)
    out = [c.rest() for c in clients]
    assert p.proc.wait(20) == 0
    p.returncode = 0
    assert time.monotonic() - t0 < GRACE + 5
    return out


@pytest.mark.parametrize("logging", [True, False],
                         ids=["framed", "unframed"])
def test_stop_never_writes_into_a_fetch_literal(start_postern, dovecot,
                                                 logdir, logging):
    p = start_postern(conf(logdir, logging))
    user = "carol"
    # The message as postern relays it when nothing interferes.
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=60)
    m.login(user, dovecot.users[user])
    m.select("INBOX", readonly=True)
    typ, data = m.fetch(b"3", "(BODY.PEEK[])")
    assert typ == "OK"
    ref = data[0][1]
    assert len(ref) > 1000000
    m.logout()

    slow = imap_login(p.ports["imap"], user, dovecot.users[user])
    slow.send(b"c FETCH 3 BODY.PEEK[]\r\n")
    head = slow.readline()
    assert head == b"* 3 FETCH (BODY[] {%d}\r\n" % len(ref), head
    slow.read_some(100000)
    # A session between answers, for the goodbye that may be said.
    idle = imap_login(p.ports["imap"], "dave", dovecot.users["dave"])

    got, idle_got = stop_and_collect(p, [slow, idle])
    lit = got[:len(ref)]
    assert len(lit) < len(ref), "the whole literal arrived: no test"
    # Cut, and nothing but the message's own bytes up to the cut.
    assert lit == ref[:len(lit)], \
        "foreign bytes in the literal at %d: %r" % (
            next(i for i in range(len(lit)) if lit[i] != ref[i]),
            lit[-200:])
    # IMAP answers are read whether they are logged or not (the
    # compression guard), so the goodbye is said between them either way.
    assert idle_got == b"* BYE [UNAVAILABLE] Server shutting down.\r\n"
    slow.close()
    idle.close()


def pop3_login(port, user, password):
    c = SlowClient(port)
    assert c.readline().startswith(b"+OK")
    c.send(b"USER %s\r\n" % user.encode())
    assert c.readline().startswith(b"+OK")
    c.send(b"PASS %s\r\n" % password.encode())
    assert c.readline().startswith(b"+OK")
    return c


@pytest.mark.parametrize("logging", [True, False],
                         ids=["framed", "unframed"])
def test_stop_never_writes_into_a_retr_body(start_postern, dovecot, logdir,
                                            logging):
    p = start_postern(conf(logdir, logging))
    user = "erin"
    ref_client = pop3_login(p.ports["pop3"], user, dovecot.users[user])
    ref_client.send(b"RETR 3\r\n")
    status = ref_client.readline()
    assert status.startswith(b"+OK")
    ref = ref_client.read_until(b"\r\n.\r\n")
    ref_client.send(b"QUIT\r\n")
    ref_client.close()
    assert len(ref) > 1000000

    slow = pop3_login(p.ports["pop3"], user, dovecot.users[user])
    slow.send(b"RETR 3\r\n")
    assert slow.readline() == status
    slow.read_some(100000)
    idle = pop3_login(p.ports["pop3"], "frank", dovecot.users["frank"])

    got, idle_got = stop_and_collect(p, [slow, idle])
    assert len(got) < len(ref), "the whole answer arrived: no test"
    assert got == ref[:len(got)], \
        "foreign bytes in the RETR body at %d: %r" % (
            next(i for i in range(len(got)) if got[i] != ref[i]),
            got[-200:])
    if logging:
        assert idle_got == b"-ERR [SYS/TEMP] Server shutting down.\r\n"
    else:
        # Without the log's framing nothing reads POP3 answers: postern
        # cannot know where they end, and says nothing.
        assert idle_got == b""
    slow.close()
    idle.close()
