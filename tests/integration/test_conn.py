"""The plain sockets' reads and writes (conn.h): one edge-triggered event
per socket from accept or connect to close.  Edges are not repeated, so
bytes that came while reading was paused (the greeting not yet sent, the
backend login running, the hand-over to the relay) must still be read,
and answers the kernel cannot take yet must still leave, in order.
TLS runs on the same conn and the same event (conn_tls_start())."""

import socket
import time

import pytest

from helpers import LineClient, client_context


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


@pytest.mark.parametrize("pump", ["epoll", "bufferevent"])
def test_tls_on_both_sides_with_commands_pipelined_after_the_handshake(
        start_postern, dovecot, cert, monkeypatch, pump):
    """Implicit TLS from the client and to the backend (IMAP), STARTTLS on
    both sides (POP3): commands pipelined right after the handshake, one
    of them answered with a message larger than a TLS record, all reach
    the relay and come back whole.  With EVENT_NOEPOLL the conns are
    bufferevents, whose TLS is bufferevent_openssl's."""
    if pump == "bufferevent":
        monkeypatch.setenv("EVENT_NOEPOLL", "1")
    p = start_postern({
        "imap": {"backend": "127.0.0.1:%d" % dovecot.ports["imaps"],
                 "backend_tls": "implicit", "backend_ca_file": dovecot.ca},
        "pop3": {"backend": "127.0.0.1:%d" % dovecot.ports["pop3"],
                 "backend_tls": "starttls", "backend_ca_file": dovecot.ca}})
    ctx = client_context(cert[0])
    pw = dovecot.users["alice"].encode()
    big = dovecot.message(3)
    assert len(big) > 16384

    c = LineClient(p.ports["imaps"], tls_ctx=ctx, timeout=30)
    c.send(b"a LOGIN alice " + pw + b"\r\nb SELECT INBOX\r\n"
           b"c FETCH 3 (BODY.PEEK[])\r\nd LOGOUT\r\n")
    assert c.readline().startswith(b"* OK")
    assert lines_until(c, b"a")[-1].startswith(b"a OK")
    assert lines_until(c, b"b")[-1].startswith(b"b OK")
    head = c.readline()
    assert head.startswith(b"* 3 FETCH") and head.endswith(b"}\r\n"), head
    n = int(head[head.rindex(b"{") + 1:-3])
    assert c.read_exact(n) == big
    assert lines_until(c, b"c")[-1].startswith(b"c OK")
    assert lines_until(c, b"d")[-1].startswith(b"d OK")
    c.close()

    c = LineClient(p.ports["pop3"], timeout=30)
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"STLS").startswith(b"+OK")
    c.starttls(ctx)
    c.send(b"USER alice\r\nPASS " + pw + b"\r\nSTAT\r\nQUIT\r\n")
    assert c.readline().startswith(b"+OK")
    assert c.readline().startswith(b"+OK")
    assert c.readline().startswith(b"+OK 3 ")
    assert c.readline().startswith(b"+OK")
    c.close()
    # Dovecot saw both logins over TLS.
    dovecot.wait_log(r"imap-login: Info: Login: user=<alice>, .*, TLS")
    dovecot.wait_log(r"pop3-login: Info: Login: user=<alice>, .*, TLS")
