"""The real client address: PROXY protocol from HAProxy in front of
postern, and the address handed on to Dovecot with ID, XCLIENT and a
PROXY header.  Dovecot's own login lines must show the client, neither
HAProxy's nor postern's address.

Every connection comes from 127.0.0.1 (HAProxy, postern) except the
clients, which bind a source address of their own in 127.0.0.0/8, so that
a rip= of that address in Dovecot's log can only have been forwarded.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import helpers


def haproxy_bin():
    path = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(path, os.X_OK):
        pytest.skip("haproxy is not installed")
    return path


class HAProxy:
    """HAProxy in TCP mode, one frontend per postern port, each sending a
    PROXY v2 header, as a load balancer in front of postern would."""

    def __init__(self, targets):
        self.dir = tempfile.mkdtemp(prefix="postern-haproxy.")
        ports = helpers.free_ports(len(targets))
        self.ports = {}
        lines = ["global", "    maxconn 200", "defaults", "    mode tcp",
                 "    timeout connect 5s", "    timeout client 60s",
                 "    timeout server 60s"]
        for (name, target), port in zip(sorted(targets.items()), ports):
            self.ports[name] = port
            lines += ["frontend f_%s" % name,
                      "    bind 127.0.0.1:%d" % port,
                      "    default_backend b_%s" % name,
                      "backend b_%s" % name,
                      "    server s1 127.0.0.1:%d send-proxy-v2" % target]
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.logpath = os.path.join(self.dir, "haproxy.log")
        self.logfile = open(self.logpath, "wb")
        self.proc = subprocess.Popen([haproxy_bin(), "-db", "-f", self.cfg],
                                     stdout=self.logfile,
                                     stderr=subprocess.STDOUT)
        for port in self.ports.values():
            helpers.wait_for(lambda p=port: _listening(p), 10,
                             "haproxy on port %d" % port)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logfile.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Client:
    """A raw line client with a source address of its own."""

    def __init__(self, port, source, tls_ctx=None, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout,
                                             source_address=(source, 0))
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock,
                                            server_hostname="localhost")
        self.buf = b""

    def readline(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed; unread %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def cmd(self, line):
        self.sock.sendall(line)
        return self.readline()

    def closed_without_greeting(self):
        try:
            data = self.sock.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            return True
        return data == b""

    def read_to_close(self):
        """Everything until the peer closes (a reset counts as a close)."""
        data = b""
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
        return data

    def close(self):
        self.sock.close()


def imap_login(port, source, user, password, tls_ctx=None):
    c = Client(port, source, tls_ctx)
    assert c.readline().startswith(b"* OK")
    line = c.cmd(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                            password.encode()))
    while not line.startswith(b"a "):
        line = c.readline()
    c.cmd(b"b LOGOUT\r\n")
    c.close()
    return line


def pop3_login(port, source, user, password):
    c = Client(port, source)
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"USER %s\r\n" % user.encode()).startswith(b"+OK")
    line = c.cmd(b"PASS %s\r\n" % password.encode())
    c.cmd(b"QUIT\r\n")
    c.close()
    return line


def dovecot_saw(dovecot, user, rip, timeout=10):
    rx = re.compile(r"Login: user=<%s>.*rip=%s," % (re.escape(user),
                                                    re.escape(rip)))
    helpers.wait_for(lambda: rx.search(dovecot.log()) is not None, timeout,
                     "Dovecot login of %s from %s in:\n%s"
                     % (user, rip, dovecot.log()[-3000:]))


@pytest.fixture
def haproxy_for():
    started = []

    def start(postern, names=("imap", "pop3", "imaps")):
        h = HAProxy({n: postern.ports[n] for n in names})
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


def test_id_forwards_the_client_behind_haproxy(start_postern, dovecot,
                                              haproxy_for):
    p = start_postern({"postern": {"trusted_proxies": "127.0.0.1"},
                       "imap": {"forward_client_address": "id"}})
    h = haproxy_for(p)
    user = "alice"
    line = imap_login(h.ports["imap"], "127.0.0.51", user,
                      dovecot.users[user])
    assert line.startswith(b"a OK"), line
    dovecot_saw(dovecot, user, "127.0.0.51")
    # postern's own log names the client, and where it came through.
    p.wait_log(r"127\.0\.0\.51:\d+: user alice logged in")


def test_id_over_implicit_tls_behind_haproxy(start_postern, dovecot, cert,
                                            haproxy_for):
    p = start_postern({"postern": {"trusted_proxies": "127.0.0.1"},
                       "imap": {"forward_client_address": "id"}})
    h = haproxy_for(p)
    ctx = helpers.client_context(cert[0])
    user = "bob"
    line = imap_login(h.ports["imaps"], "127.0.0.52", user,
                      dovecot.users[user], tls_ctx=ctx)
    assert line.startswith(b"a OK"), line
    dovecot_saw(dovecot, user, "127.0.0.52")


def test_xclient_forwards_the_pop3_client(start_postern, dovecot,
                                          haproxy_for):
    p = start_postern({"postern": {"trusted_proxies": "127.0.0.1"},
                       "pop3": {"forward_client_address": "xclient"}})
    h = haproxy_for(p)
    user = "carol"
    line = pop3_login(h.ports["pop3"], "127.0.0.53", user,
                      dovecot.users[user])
    assert line.startswith(b"+OK"), line
    dovecot_saw(dovecot, user, "127.0.0.53")


@pytest.mark.parametrize("proto", ["imap", "pop3", "imaps-backend"])
def test_proxy_header_toward_the_backend(start_postern, dovecot,
                                         haproxy_for, proto):
    hp = dovecot.haproxy_ports
    if hp is None:
        pytest.skip("this Dovecot has no haproxy listeners")
    conf = {"postern": {"trusted_proxies": "127.0.0.1"}}
    if proto == "imaps-backend":
        conf["imap"] = {"forward_client_address": "proxy",
                        "backend": "127.0.0.1:%d" % hp["imaps"],
                        "backend_tls": "implicit",
                        "backend_ca_file": dovecot.ca,
                        "backend_server_name": "localhost"}
    else:
        conf[proto] = {"forward_client_address": "proxy",
                       "backend": "127.0.0.1:%d" % hp[proto]}
    p = start_postern(conf)
    h = haproxy_for(p)
    source = {"imap": "127.0.0.54", "pop3": "127.0.0.55",
              "imaps-backend": "127.0.0.56"}[proto]
    user = {"imap": "dave", "pop3": "erin", "imaps-backend": "frank"}[proto]
    if proto == "pop3":
        line = pop3_login(h.ports["pop3"], source, user, dovecot.users[user])
        assert line.startswith(b"+OK"), line
    else:
        line = imap_login(h.ports["imap"], source, user, dovecot.users[user])
        assert line.startswith(b"a OK"), line
    dovecot_saw(dovecot, user, source)


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_probe_sends_a_local_proxy_header(start_postern, dovecot, proto):
    """The probe that asks the backend for its SASL mechanisms has no
    client to name: its PROXY header is a LOCAL one, which Dovecot's
    haproxy listener takes (a header naming no one, or none at all, it
    would refuse, and the probe would fail)."""
    hp = dovecot.haproxy_ports
    if hp is None:
        pytest.skip("this Dovecot has no haproxy listeners")
    p = start_postern({proto: {"forward_client_address": "proxy",
                               "backend": "127.0.0.1:%d" % hp[proto],
                               "passthrough_mechanisms": "XOAUTH2"}})
    p.wait_log(r"probe: %s backend default does not offer XOAUTH2 of "
               r"passthrough_mechanisms: not advertised to clients "
               r"\(offered: none\)" % proto)
    assert "cannot ask" not in p.log()


def test_untrusted_proxy_header_is_refused(start_postern, haproxy_for):
    # HAProxy runs on 127.0.0.1, which this postern does not trust.
    p = start_postern({"postern": {"trusted_proxies": "192.0.2.1"}})
    h = haproxy_for(p)
    c = Client(h.ports["imap"], "127.0.0.57")
    # postern greets as soon as it accepts, and HAProxy's header may be
    # read before or after the greeting went out: either way the
    # connection ends with nothing after the greeting.
    data = c.read_to_close()
    assert data == b"" or (data.startswith(b"* OK") and
                           data.count(b"\n") == 1), data
    c.close()
    p.wait_log(r"PROXY protocol header from an address that is not in "
               r"trusted_proxies")


def test_malformed_header_from_trusted_proxy_closes(start_postern):
    p = start_postern({"postern": {"trusted_proxies": "127.0.0.1"}})
    c = Client(p.ports["imap"], "127.0.0.1")
    c.sock.sendall(b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n")
    assert c.closed_without_greeting()
    c.close()
    p.wait_log(r"invalid PROXY protocol header")


def test_trusted_host_without_header_is_its_own_client(start_postern):
    p = start_postern({"postern": {"trusted_proxies": "127.0.0.1"}})
    t = time.monotonic()
    c = Client(p.ports["pop3"], "127.0.0.1")
    assert c.readline().startswith(b"+OK")
    # It waited for a header that did not come, then served the host.
    assert time.monotonic() - t >= 1.5
    c.close()


def test_limits_count_the_real_clients(start_postern, haproxy_for):
    p = start_postern({"postern": {"trusted_proxies": "127.0.0.1"},
                       "imap": {"max_connection_from_single_ip": "1"}})
    h = haproxy_for(p)
    a = Client(h.ports["imap"], "127.0.0.58")
    assert a.readline().startswith(b"* OK")
    b = Client(h.ports["imap"], "127.0.0.59")
    assert b.readline().startswith(b"* OK"), "another client is not limited"
    c = Client(h.ports["imap"], "127.0.0.58")
    assert c.readline().startswith(b"* BYE"), "the same client is limited"
    for x in (a, b, c):
        x.close()
