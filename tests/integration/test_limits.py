"""Connection limits that a client must not be able to turn against others:
max_connections_per_user counts logged-in sessions only, the pre-login
time is bounded in total, and IPv6 clients are counted per prefix.

Dovecot delays every failed login (auth_failure_delay, 2 s by default),
which is what lets a few connections keep wrong passwords in flight.
"""

import re
import socket
import time

import pytest

from helpers import LineClient, wait_for

# Dovecot's default auth_failure_delay.
FAILURE_DELAY = 2.0


def connect_from(port, source):
    """A LineClient whose connection comes from source (in 127.0.0.0/8)."""
    c = LineClient.__new__(LineClient)
    c.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                      source_address=(source, 0))
    c.buf = b""
    c.host = "127.0.0.1"
    return c


# The client address reaches Dovecot, whose penalty for failed logins is
# per address: a good login from another address is not slowed by it.
FORWARD = {"imap": "id", "pop3": "xclient"}


def imap_login_line(tag, user, password):
    return b"%s LOGIN %s \"%s\"" % (tag, user.encode(), password.encode())


def pop3_send_login(c, user, password):
    """USER, then PASS without waiting for its answer."""
    assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
    c.send(b"PASS " + password.encode() + b"\r\n")


def dovecot_logouts(dovecot, proto, user):
    """How many sessions of user Dovecot has seen end with a logout."""
    rx = re.compile(r"%s\(%s\)<[^>]*>.*: (Logged out|Disconnected: Logged "
                    r"out)" % (proto, user))
    return len(rx.findall(dovecot.log()))


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_wrong_passwords_in_flight_do_not_lock_the_user_out(
        start_postern, dovecot, proto):
    limit = 2
    p = start_postern({proto: {"max_connections_per_user": str(limit),
                               "forward_client_address": FORWARD[proto]}})
    attackers = []
    for i in range(limit + 2):
        c = connect_from(p.ports[proto], "127.0.0.%d" % (20 + i))
        c.readline()
        if proto == "imap":
            c.send(imap_login_line(b"w%d" % i, "bob", "wrong") + b"\r\n")
        else:
            pop3_send_login(c, "bob", "wrong")
        attackers.append(c)
    # The wrong passwords are now with Dovecot, each answered only after
    # its failure delay.
    time.sleep(0.3)
    t0 = time.monotonic()
    good = connect_from(p.ports[proto], "127.0.0.19")
    good.readline()
    if proto == "imap":
        answer = good.cmd(imap_login_line(b"g", "bob", dovecot.users["bob"]))
        assert answer.startswith(b"g OK"), answer
    else:
        pop3_send_login(good, "bob", dovecot.users["bob"])
        answer = good.readline()
        assert answer.startswith(b"+OK"), answer
    assert time.monotonic() - t0 < FAILURE_DELAY, \
        "the good login should not have waited for the failures\n" + \
        p.log() + dovecot.log()[-4000:]
    for c in attackers:
        answer = c.readline()
        if proto == "imap":
            assert answer.startswith(b"w") and \
                b"NO [AUTHENTICATIONFAILED]" in answer, answer
        else:
            assert answer.startswith(b"-ERR [AUTH]"), answer
        c.close()
    good.close()


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_user_limit_holds_for_logins_accepted_at_once(
        start_postern, dovecot, proto):
    """Logins of one user that the backend accepts at the same time share
    the last slot: one gets in, the others are refused, their backend
    sessions logged out rather than dropped, and their clients may go on."""
    user = "carol"
    p = start_postern({proto: {"max_connections_per_user": "1"}})
    before = dovecot_logouts(dovecot, proto, user)
    n = 3
    clients = []
    for i in range(n):
        c = LineClient(p.ports[proto])
        c.readline()
        if proto == "pop3":
            assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
        clients.append(c)
    # All passwords leave together, so that Dovecot accepts them together.
    for i, c in enumerate(clients):
        if proto == "imap":
            c.send(imap_login_line(b"a%d" % i, user, dovecot.users[user])
                   + b"\r\n")
        else:
            c.send(b"PASS " + dovecot.users[user].encode() + b"\r\n")
    answers = [c.readline() for c in clients]
    if proto == "imap":
        ok = [a for a in answers if b" OK " in a]
        refused = [a for a in answers if b"NO [LIMIT]" in a]
    else:
        ok = [a for a in answers if a.startswith(b"+OK")]
        refused = [a for a in answers if a.startswith(b"-ERR [IN-USE]")]
    assert len(ok) == 1 and len(refused) == n - 1, answers
    # Each refused backend session ended with LOGOUT/QUIT.
    wait_for(lambda: dovecot_logouts(dovecot, proto, user) >= before + n - 1,
             10, "Dovecot to log the refused sessions out:\n"
             + dovecot.log()[-3000:])
    p.wait_log(r"user %s: max_connections_per_user \(1\) reached" % user,
               count=n - 1)
    # A refused client is back before login and may still talk.
    for c, a in zip(clients, answers):
        if proto == "imap" and b"NO [LIMIT]" in a:
            assert c.cmd(b"n NOOP").startswith(b"n OK")
        if proto == "pop3" and a.startswith(b"-ERR"):
            assert c.cmd(b"CAPA").startswith(b"+OK")
    for c in clients:
        c.close()
    # Once the session inside is gone, its slot is free again.
    def gets_in():
        c = LineClient(p.ports[proto])
        try:
            c.readline()
            if proto == "imap":
                return c.cmd(imap_login_line(
                    b"z", user, dovecot.users[user])).startswith(b"z OK")
            pop3_send_login(c, user, dovecot.users[user])
            return c.readline().startswith(b"+OK")
        finally:
            c.close()
    wait_for(gets_in, 10, "a free slot for " + user)


# --- the total time before login ---------------------------------------------

GOODBYE = {"imap": b"* BYE Disconnected: too long without logging in.\r\n",
           "pop3": b"-ERR Disconnected: too long without logging in.\r\n"}


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_trickling_client_is_closed_after_the_total_time(
        start_postern, dovecot, proto):
    """One byte a second keeps the idle timeout from firing, never the
    total limit; a client that logged in in time is not affected."""
    p = start_postern({proto: {"pre_authenticated_connection_timeout": "2s",
                               "pre_authenticated_total_timeout": "3s"}})
    user = "erin"
    inside = LineClient(p.ports[proto])
    inside.readline()
    if proto == "imap":
        assert inside.cmd(imap_login_line(b"a", user, dovecot.users[user])) \
            .startswith(b"a OK")
    else:
        pop3_send_login(inside, user, dovecot.users[user])
        assert inside.readline().startswith(b"+OK")

    t0 = time.monotonic()
    slow = LineClient(p.ports[proto])
    slow.readline()
    slow.sock.settimeout(0.05)
    got = b""
    closed = False
    # A command that never ends, one byte at a time.
    for b in (b"x NOOP " + b"y" * 100)[:40]:
        try:
            slow.sock.sendall(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                chunk = slow.sock.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        if closed:
            break
    elapsed = time.monotonic() - t0
    assert closed, "the trickling client was never closed"
    assert got == GOODBYE[proto], got
    assert 2.9 <= elapsed < 6, elapsed
    p.wait_log(r"closing: no login within the total pre-login time")
    slow.close()

    # Logged in before the limit: a session is no longer pre-login.
    if proto == "imap":
        assert inside.cmd(b"n NOOP").startswith(b"n OK")
    else:
        assert inside.cmd(b"NOOP").startswith(b"+OK")
    inside.close()


def test_total_time_bounds_a_tls_handshake_that_trickles(start_postern):
    """The limit counts from the connection, also through a handshake
    that the client never finishes."""
    p = start_postern({"imap": {"pre_authenticated_connection_timeout": "5s",
                                "pre_authenticated_total_timeout": "2s"}})
    t0 = time.monotonic()
    c = LineClient(p.ports["imaps"])
    # The start of a TLS record header, then nothing more: the idle
    # timeout (5 s) would not fire before the total limit (2 s).
    c.send(b"\x16")
    assert c.read_until_close(10) == b""
    assert 1.9 <= time.monotonic() - t0 < 4.5
    c.close()


# --- IPv6 clients per prefix --------------------------------------------------

def proxied(port, client):
    """A connection from the trusted proxy 127.0.0.1 on behalf of the IPv6
    address client; returns (connection, first line or b"" when closed)."""
    c = LineClient(port)
    c.send(b"PROXY TCP6 %s ::1 40000 %d\r\n" % (client.encode(), port))
    try:
        line = c.readline()
    except EOFError:
        line = b""
    return c, line


@pytest.mark.parametrize("prefix,same_net_limited", [(None, True),
                                                     ("128", False)])
def test_ipv6_clients_count_per_prefix(start_postern, prefix,
                                       same_net_limited):
    conf = {"max_connection_from_single_ip": "1"}
    if prefix is not None:
        conf["ipv6_prefix_length"] = prefix
    p = start_postern({"postern": {"trusted_proxies": "127.0.0.1"},
                       "imap": conf})
    port = p.ports["imap"]
    a, line = proxied(port, "2001:db8:1:2::10")
    assert line.startswith(b"* OK"), line
    # Another address of the same /64.
    b, line = proxied(port, "2001:db8:1:2:ffff::20")
    if same_net_limited:
        assert line.startswith(b"* BYE [UNAVAILABLE] Too many connections"), \
            line
        p.wait_log(r"\[2001:db8:1:2:ffff::20\]:40000: refused: "
                   r"max_connection_from_single_ip reached")
    else:
        assert line.startswith(b"* OK"), line
    # The next /64 is another client.
    c, line = proxied(port, "2001:db8:1:3::10")
    assert line.startswith(b"* OK"), line
    for x in (a, b, c):
        x.close()


@pytest.mark.parametrize("proto,mode,port", [("imap", "implicit", "imaps"),
                                             ("pop3", "starttls", "pop3")])
def test_user_limit_logs_out_a_tls_backend_session(start_postern, dovecot,
                                                    proto, mode, port):
    user = "grace"
    p = start_postern({proto: {
        "max_connections_per_user": "1",
        "backend": "127.0.0.1:%d" % dovecot.ports[port],
        "backend_tls": mode, "backend_ca_file": dovecot.ca}})
    before = dovecot_logouts(dovecot, proto, user)
    a = LineClient(p.ports[proto])
    a.readline()
    b = LineClient(p.ports[proto])
    b.readline()
    if proto == "imap":
        assert a.cmd(imap_login_line(b"a", user, dovecot.users[user])) \
            .startswith(b"a OK")
        assert b.cmd(imap_login_line(b"b", user, dovecot.users[user])) \
            .startswith(b"b NO [LIMIT]")
        assert b.cmd(b"c LOGOUT").startswith(b"* BYE")
    else:
        pop3_send_login(a, user, dovecot.users[user])
        assert a.readline().startswith(b"+OK")
        pop3_send_login(b, user, dovecot.users[user])
        assert b.readline().startswith(b"-ERR [IN-USE]")
        assert b.cmd(b"QUIT").startswith(b"+OK")
    wait_for(lambda: dovecot_logouts(dovecot, proto, user) >= before + 1, 10,
             "Dovecot to log the refused session out:\n"
             + dovecot.log()[-3000:])
    a.close()
    b.close()
