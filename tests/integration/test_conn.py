"""The plain sockets' reads and writes (conn.h): one edge-triggered event
per socket from accept or connect to close.  Edges are not repeated, so
bytes that came while reading was paused (the greeting not yet sent, the
backend login running, the hand-over to the relay) must still be read,
and answers the kernel cannot take yet must still leave, in order."""

import socket
import time

from helpers import LineClient


def lines_until(c, tag):
    """Lines up to and with the one starting with tag + b" "."""
    out = []
    while True:
        line = c.readline()
        out.append(line)
        if line.startswith(tag + b" "):
            return out


def test_imap_commands_pipelined_before_the_greeting_are_served(
        start_postern, dovecot):
    p = start_postern({})
    pw = dovecot.users["alice"].encode()
    c = LineClient(p.ports["imap"])
    # One packet, sent before postern's greeting can have arrived: the
    # commands before the login, the login, and commands after it that
    # the relay must find in the buffers it takes over.
    c.send(b"a CAPABILITY\r\nb NOOP\r\nc LOGIN alice " + pw +
           b"\r\nd SELECT INBOX\r\ne LOGOUT\r\n")
    assert c.readline().startswith(b"* OK")
    assert lines_until(c, b"a")[-1].startswith(b"a OK")
    assert lines_until(c, b"b")[-1].startswith(b"b OK")
    assert lines_until(c, b"c")[-1].startswith(b"c OK")
    assert lines_until(c, b"d")[-1].startswith(b"d OK")
    out = lines_until(c, b"e")
    assert any(x.startswith(b"* BYE") for x in out), out
    assert out[-1].startswith(b"e OK"), out


def test_imap_login_sent_byte_by_byte_is_served(start_postern, dovecot):
    p = start_postern({})
    pw = dovecot.users["alice"].encode()
    c = LineClient(p.ports["imap"])
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert c.readline().startswith(b"* OK")
    for b in b"a LOGIN alice " + pw + b"\r\nb SELECT INBOX\r\n":
        c.send(bytes([b]))
        time.sleep(0.002)
    assert lines_until(c, b"a")[-1].startswith(b"a OK")
    assert lines_until(c, b"b")[-1].startswith(b"b OK")
    c.send(b"c LOGOUT\r\n")
    assert lines_until(c, b"c")[-1].startswith(b"c OK")


def test_pop3_commands_pipelined_before_the_greeting_are_served(
        start_postern, dovecot):
    p = start_postern({})
    pw = dovecot.users["alice"].encode()
    c = LineClient(p.ports["pop3"])
    c.send(b"CAPA\r\nUSER alice\r\nPASS " + pw + b"\r\nSTAT\r\nQUIT\r\n")
    assert c.readline().startswith(b"+OK")
    assert c.readline().startswith(b"+OK")  # CAPA
    while c.readline() != b".\r\n":
        pass
    assert c.readline().startswith(b"+OK")  # USER
    assert c.readline().startswith(b"+OK")  # PASS
    assert c.readline().startswith(b"+OK")  # STAT
    assert c.readline().startswith(b"+OK")  # QUIT


def test_answers_a_client_does_not_read_yet_all_arrive_in_order(
        start_postern, dovecot):
    """A client that writes many commands before reading any answer: the
    answers fill its socket, postern queues the rest and goes on reading
    commands, and everything arrives in order once the client reads."""
    p = start_postern({})
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", p.ports["imap"]))
    # 40,000 answers are about 5.5 MB: more than loopback's send buffer
    # takes (at most 4 MiB), so postern holds some of them itself.
    n = 40000
    s.sendall(b"".join(b"t%d CAPABILITY\r\n" % i for i in range(n)) +
              b"z LOGOUT\r\n")
    c = LineClient.__new__(LineClient)
    c.sock, c.buf = s, b""
    assert c.readline().startswith(b"* OK")
    for i in range(n):
        out = lines_until(c, b"t%d" % i)
        assert len(out) == 2 and out[0].startswith(b"* CAPABILITY") and \
            out[1].startswith(b"t%d OK" % i), (i, out)
    out = lines_until(c, b"z")
    assert out[-1].startswith(b"z OK"), out
    s.close()
