"""Backend TLS session resumption against the private Dovecot.

postern keeps the TLS sessions of its backend handshakes per worker and
backend address, so that logins after the first resume a session rather
than pay a full handshake; /metrics counts both kinds and the debug log
says which each was.  A reload that gives the backend another CA file (at
the same path, other contents) resumes nothing made under the old one: the
next handshake is a full one, verified, and fails when the new CA does not
vouch for the backend.
"""

import imaplib
import os
import poplib
import re
import shutil

import pytest

import helpers
from test_stats import get, metric, parse_metrics

USERS = {"grace": "pw-grace-7", "judy": "pw-judy-8"}


@pytest.fixture(scope="module")
def dovecot():
    """A Dovecot of its own whose login processes live on (contrib/
    dovecot-test.sh, DOVECOT_TLS_RESUME): Dovecot's default process per
    connection has ticket keys of its own and never resumes a session."""
    if shutil.which("dovecot") is None:
        pytest.skip("dovecot is not installed")
    d = helpers.Dovecot(USERS, big_size=2048, tls_resume=True)
    yield d
    d.stop()


def conf(dovecot, proto, port, mode, stats_port, ca, extra=None):
    backend = {"backend": "127.0.0.1:%d" % dovecot.ports[port],
               "backend_tls": mode, "backend_ca_file": ca}
    backend.update(extra or {})
    # One worker: each worker keeps its own sessions, and the counts
    # below are exact with one.
    return {"postern": {"workers": "1", "log_level": "debug"},
            "stats": {"listen": "127.0.0.1:%d" % stats_port},
            proto: backend}


def login(p, dovecot, proto, user):
    """A login and logout through postern; raises if the login fails."""
    if proto == "imap":
        c = imaplib.IMAP4("127.0.0.1", p.ports["imap"],
                          timeout=helpers.IO_TIMEOUT)
        try:
            c.login(user, dovecot.users[user])
            c.select("INBOX", readonly=True)
        finally:
            c.logout()
    else:
        c = poplib.POP3("127.0.0.1", p.ports["pop3"],
                        timeout=helpers.IO_TIMEOUT)
        try:
            c.user(user)
            c.pass_(dovecot.users[user])
            c.stat()
        finally:
            c.quit()


def handshakes(stats_port, addr):
    """(full, resumed) backend TLS handshakes to addr, from /metrics."""
    status, _, body = get(stats_port, "/metrics")
    assert status == 200
    s = parse_metrics(body.decode())
    name = "postern_backend_tls_handshakes_total"
    return (int(metric(s, name, backend=addr, resumed="no") or 0),
            int(metric(s, name, backend=addr, resumed="yes") or 0))


@pytest.mark.parametrize("proto,port,mode", [
    ("imap", "imaps", "implicit"), ("imap", "imap", "starttls"),
    ("pop3", "pop3s", "implicit"), ("pop3", "pop3", "starttls")])
def test_logins_after_the_first_resume(start_postern, dovecot, proto, port,
                                       mode):
    stats_port = helpers.free_ports(1)[0]
    p = start_postern(conf(dovecot, proto, port, mode, stats_port,
                           dovecot.ca))
    addr = "127.0.0.1:%d" % dovecot.ports[port]
    for _ in range(4):
        login(p, dovecot, proto, "grace")
    assert handshakes(stats_port, addr) == (1, 3), "\n".join(l for l in p.log().splitlines() if "backend" in l)
    how = "TLS" if mode == "implicit" else "STARTTLS"
    log = p.log()
    assert len(re.findall(r"backend %s TLSv1\.\d, full handshake" % how,
                          log)) == 1, log
    assert len(re.findall(r"backend %s TLSv1\.\d, resumed" % how,
                          log)) == 3, log


def test_cache_off_makes_every_handshake_full(start_postern, dovecot):
    stats_port = helpers.free_ports(1)[0]
    c = conf(dovecot, "imap", "imaps", "implicit", stats_port, dovecot.ca)
    c["imap"].update(backend="dovecot", backend_tls=None,
                     backend_ca_file=None)
    c['backend "dovecot"'] = {
        "imap": "127.0.0.1:%d" % dovecot.ports["imaps"], "tls": "implicit",
        "ca_file": dovecot.ca, "tls_session_cache": "no"}
    p = start_postern(c)
    for _ in range(3):
        login(p, dovecot, "imap", "grace")
    assert handshakes(stats_port, "127.0.0.1:%d" % dovecot.ports["imaps"]) \
        == (3, 0)


def test_reload_with_another_ca_file_resumes_nothing(start_postern, dovecot,
                                                     cert):
    stats_port = helpers.free_ports(1)[0]
    work = helpers.private_tmpdir("postern-tlsresume.")
    try:
        ca = os.path.join(work, "backend-ca.pem")
        shutil.copy(dovecot.ca, ca)
        p = start_postern(conf(dovecot, "imap", "imaps", "implicit",
                               stats_port, ca))
        addr = "127.0.0.1:%d" % dovecot.ports["imaps"]
        login(p, dovecot, "imap", "grace")
        login(p, dovecot, "imap", "grace")
        assert handshakes(stats_port, addr) == (1, 1)

        # The same path, now holding a CA that never signed Dovecot's
        # certificate: a resumed session would let the login through.
        shutil.copy(cert[0], ca)
        p.reload()
        p.wait_log("reload: configuration .* loaded")
        c = helpers.LineClient(p.ports["imap"])
        assert c.readline().startswith(b"* OK")
        c.send(b"a LOGIN grace " + dovecot.users["grace"].encode() + b"\r\n")
        assert c.read_until_close(15).startswith(b"a NO [UNAVAILABLE]")
        c.close()
        p.wait_log(r"TLS certificate verification failed")
        assert handshakes(stats_port, addr) == (1, 1)

        # Back to the right CA: a full handshake first, verified, then
        # resumptions again.
        shutil.copy(dovecot.ca, ca)
        p.reload()
        p.wait_log("reload: configuration .* loaded", count=2)
        login(p, dovecot, "imap", "grace")
        login(p, dovecot, "imap", "grace")
        assert handshakes(stats_port, addr) == (2, 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
