"""POP3 through postern, with real clients, against the private Dovecot."""

import base64
import hashlib
import os
import poplib
import re
import shutil
import socket
import subprocess
import time

import pytest

from helpers import LineClient, client_context, curl, wait_for

OK_BANNER = b"+OK POP3 server ready.\r\n"
REFUSED_USER = (b"-ERR [AUTH] Plaintext authentication disallowed on "
                b"non-secure (SSL/TLS) connections.\r\n")


@pytest.fixture(scope="module")
def plain(module_postern):
    """PlainTextLogin: cleartext login allowed without TLS."""
    return module_postern()


@pytest.fixture(scope="module")
def secure(module_postern):
    """SecureLogin, enforced: no login before TLS."""
    return module_postern({"pop3": {"login_type": "SecureLogin"}})


@pytest.fixture(scope="module")
def audit(module_postern):
    """SecureLogin in audit mode: logged, let through."""
    return module_postern({"pop3": {"login_type": "SecureLogin",
                                    "login_type_mode": "audit"}})


def plain_auth(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            password.encode())


def multiline(client):
    """Reads a POP3 multi-line answer after its status line; returns the
    unstuffed body."""
    lines = []
    while True:
        line = client.readline()
        if line == b".\r\n":
            return b"".join(lines)
        if line.startswith(b".."):
            line = line[1:]
        lines.append(line)


def retr_bytes(pop, n):
    """RETR through poplib, reassembled with the CRLFs poplib strips."""
    resp, lines, _ = pop.retr(n)
    assert resp.startswith(b"+OK")
    return b"".join(line + b"\r\n" for line in lines)


def login_raw(c, dovecot, user):
    assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
    assert c.cmd(b"PASS " + dovecot.users[user].encode()) \
        .startswith(b"+OK")


# --- curl -------------------------------------------------------------------

def test_curl_pop3_plain_list_and_retr(plain, dovecot):
    url = "pop3://127.0.0.1:%d/" % plain.ports["pop3"]
    r = curl(url, user="alice", password=dovecot.users["alice"])
    assert r.returncode == 0, r.stderr
    listing = [line.split() for line in r.stdout.split(b"\r\n") if line]
    assert listing == [[b"%d" % n, b"%d" % len(dovecot.message(n))]
                       for n in (1, 2, 3)]
    r = curl(url + "1", user="alice", password=dovecot.users["alice"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message(1)


def test_curl_pop3_stls_required_large(secure, dovecot, cert):
    r = curl("--ssl-reqd", "pop3://127.0.0.1:%d/3" % secure.ports["pop3"],
             user="alice", password=dovecot.users["alice"],
             cafile=cert[0])
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message(3)


def test_curl_pop3s_large(secure, dovecot, cert):
    r = curl("pop3s://127.0.0.1:%d/3" % secure.ports["pop3s"],
             user="alice", password=dovecot.users["alice"],
             cafile=cert[0])
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message(3)


def test_curl_pop3_without_tls_under_securelogin_fails(secure, dovecot):
    r = curl("pop3://127.0.0.1:%d/1" % secure.ports["pop3"],
             user="alice", password=dovecot.users["alice"])
    assert r.returncode != 0
    assert r.stdout == b""


def test_curl_pop3_wrong_password(plain):
    r = curl("pop3://127.0.0.1:%d/1" % plain.ports["pop3"],
             user="alice", password="wrong")
    assert r.returncode == 67, r.stderr  # CURLE_LOGIN_DENIED


# --- Python's poplib ----------------------------------------------------------

def test_poplib_plaintextlogin_without_tls(plain, dovecot):
    pop = poplib.POP3("127.0.0.1", plain.ports["pop3"], timeout=30)
    try:
        assert pop.getwelcome() == OK_BANNER.rstrip(b"\r\n")
        capa = pop.capa()
        assert "USER" in capa and "STLS" in capa
        assert capa["SASL"] == ["PLAIN", "LOGIN"]
        pop.user("alice")
        assert pop.pass_(dovecot.users["alice"]).startswith(b"+OK")
        count, size = pop.stat()
        assert count == 3
        assert size == sum(len(dovecot.message(n)) for n in (1, 2, 3))
        for n in (1, 2, 3):
            assert retr_bytes(pop, n) == dovecot.message(n)
        uidl = pop.uidl()[1]
        assert len(uidl) == 3
    finally:
        pop.quit()


def test_poplib_stls_securelogin(secure, dovecot, cert):
    pop = poplib.POP3("127.0.0.1", secure.ports["pop3"], timeout=30)
    try:
        capa = pop.capa()
        assert "STLS" in capa
        assert "USER" not in capa and "SASL" not in capa
        pop.stls(client_context(cert[0]))
        capa = pop.capa()
        assert "USER" in capa and "STLS" not in capa
        assert capa["SASL"] == ["PLAIN", "LOGIN"]
        pop.user("alice")
        pop.pass_(dovecot.users["alice"])
        assert retr_bytes(pop, 3) == dovecot.message(3)
    finally:
        pop.quit()


def test_poplib_pop3_ssl(secure, dovecot, cert):
    pop = poplib.POP3_SSL("127.0.0.1", secure.ports["pop3s"], timeout=30,
                          context=client_context(cert[0]))
    try:
        assert pop.getwelcome() == OK_BANNER.rstrip(b"\r\n")
        assert "STLS" not in pop.capa()
        pop.user("alice")
        pop.pass_(dovecot.users["alice"])
        assert pop.stat()[0] == 3
        assert retr_bytes(pop, 1) == dovecot.message(1)
    finally:
        pop.quit()


def test_poplib_wrong_password(plain):
    pop = poplib.POP3("127.0.0.1", plain.ports["pop3"], timeout=30)
    try:
        pop.user("alice")
        with pytest.raises(poplib.error_proto) as e:
            pop.pass_("not the password")
        assert e.value.args[0].startswith(b"-ERR [AUTH]")
        # The session goes on: a second try with the right password
        # is not needed for this test, a QUIT is answered.
    finally:
        pop.quit()


def test_auth_plain_initial_response_and_continuation(secure, dovecot,
                                                      cert):
    ctx = client_context(cert[0])
    c = LineClient(secure.ports["pop3s"], ctx)
    assert c.readline() == OK_BANNER
    assert c.cmd(b"AUTH PLAIN " +
                 plain_auth("alice", dovecot.users["alice"])) \
        .startswith(b"+OK")
    assert c.cmd(b"STAT").startswith(b"+OK 3 ")
    c.cmd(b"QUIT")
    c.close()

    c = LineClient(secure.ports["pop3s"], ctx)
    c.readline()
    assert c.cmd(b"AUTH PLAIN") == b"+ \r\n"
    assert c.cmd(plain_auth("alice", dovecot.users["alice"])) \
        .startswith(b"+OK")
    assert c.cmd(b"LIST 1") == b"+OK 1 %d\r\n" % len(dovecot.message(1))
    c.close()


def test_auth_login_and_cancel(secure, dovecot, cert):
    c = LineClient(secure.ports["pop3s"], client_context(cert[0]))
    c.readline()
    assert c.cmd(b"AUTH PLAIN").startswith(b"+ ")
    assert c.cmd(b"*").startswith(b"-ERR")
    assert c.cmd(b"AUTH LOGIN").startswith(b"+ ")
    assert c.cmd(base64.b64encode(b"alice")).startswith(b"+ ")
    assert c.cmd(base64.b64encode(dovecot.users["alice"].encode())) \
        .startswith(b"+OK")
    assert c.cmd(b"STAT").startswith(b"+OK 3 ")
    c.close()


# --- openssl s_client ---------------------------------------------------------

def test_openssl_s_client_starttls_pop3(secure, dovecot, cert):
    p = subprocess.Popen(
        ["openssl", "s_client", "-quiet", "-starttls", "pop3",
         "-connect", "127.0.0.1:%d" % secure.ports["pop3"],
         "-CAfile", cert[0], "-verify_return_error",
         "-verify_ip", "127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        def ask(line):
            p.stdin.write(line + b"\r\n")
            p.stdin.flush()
            return p.stdout.readline()

        # The greeting was read by s_client before STLS.
        capa = ask(b"CAPA")
        assert capa.startswith(b"+OK")
        lines = []
        while True:
            line = p.stdout.readline()
            if line == b".\r\n":
                break
            lines.append(line.strip())
        assert b"USER" in lines and b"STLS" not in lines
        assert ask(b"USER bob").startswith(b"+OK")
        assert ask(b"PASS " + dovecot.users["bob"].encode()) \
            .startswith(b"+OK")
        assert ask(b"STAT").startswith(b"+OK 3 ")
        assert ask(b"QUIT").startswith(b"+OK")
        p.stdin.close()
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- fetchmail ----------------------------------------------------------------

@pytest.mark.skipif(shutil.which("fetchmail") is None,
                    reason="fetchmail is not installed")
def test_fetchmail_over_stls(secure, dovecot, cert, tmp_path):
    home = tmp_path / "fetchmail"
    out = tmp_path / "delivered"
    home.mkdir()
    out.mkdir()
    mda = home / "mda.sh"
    mda.write_text('#!/bin/sh\nexec cat > "$(mktemp %s/msg.XXXXXX)"\n'
                   % out)
    mda.chmod(0o755)
    rc = home / "fetchmailrc"
    rc.write_text(
        'poll 127.0.0.1 service %d protocol pop3 timeout 60\n'
        '  user "carol" password "%s"\n'
        '  sslproto "TLS1.2+" sslcertck sslcertfile "%s"\n'
        '  sslcommonname "localhost"\n'
        '  keep fetchall mda "%s"\n'
        % (secure.ports["pop3"], dovecot.users["carol"], cert[0], mda))
    rc.chmod(0o600)
    env = dict(os.environ, FETCHMAILHOME=str(home), HOME=str(home))
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog",
                        "--nodetach", "-v"],
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    got = sorted(p.read_bytes() for p in out.iterdir())
    assert len(got) == 3, r.stdout.decode(errors="replace")
    # fetchmail hands the MDA LF line ends and adds its own Received:
    # header; everything of the original must be there unchanged.
    for n in (1, 2, 3):
        want = dovecot.message(n).replace(b"\r\n", b"\n")
        assert any(g.endswith(want) for g in got), "message %d" % n
    assert b"STLS" in r.stdout


# --- login-type policy --------------------------------------------------------

def test_securelogin_refuses_user_before_tls(secure, dovecot):
    c = LineClient(secure.ports["pop3"])
    assert c.readline() == OK_BANNER
    assert c.cmd(b"USER alice") == REFUSED_USER
    # PASS without an accepted USER, and AUTH PLAIN with the password in
    # it, are refused too; the latter is logged as an exposed password.
    assert c.cmd(b"PASS " + dovecot.users["alice"].encode()) \
        .startswith(b"-ERR")
    assert c.cmd(b"AUTH PLAIN " +
                 plain_auth("alice", dovecot.users["alice"])) \
        .startswith(b"-ERR [AUTH]")
    c.close()
    secure.wait_log(r"sent its password in the clear")
    assert dovecot.users["alice"] not in secure.log()


def test_plaintextauthentication_behaves_like_securelogin(start_postern):
    p = start_postern({"pop3": {"login_type": "PlainTextAuthentication"}})
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"CAPA").startswith(b"+OK")
    capa = multiline(c)
    assert b"STLS\r\n" in capa
    assert b"USER\r\n" not in capa and b"SASL" not in capa
    assert c.cmd(b"USER alice") == REFUSED_USER
    c.close()


def test_audit_mode_lets_cleartext_login_through(audit, dovecot):
    c = LineClient(audit.ports["pop3"])
    c.readline()
    login_raw(c, dovecot, "alice")
    assert c.cmd(b"STAT").startswith(b"+OK 3 ")
    c.cmd(b"QUIT")
    c.close()
    audit.wait_log(r"audit: cleartext login without TLS would be refused")


def test_stls_injection_closes_connection(secure):
    c = LineClient(secure.ports["pop3"])
    assert c.readline() == OK_BANNER
    c.send(b"STLS\r\nUSER x\r\n")
    assert c.read_until_close(10) == b""
    c.close()
    secure.wait_log(r"STLS injection attempt")


# --- limits and errors ----------------------------------------------------------

def test_too_long_line_closes(plain):
    c = LineClient(plain.ports["pop3"])
    c.readline()
    c.send(b"NOOP " + b"x" * 600 + b"\r\n")
    assert c.read_until_close(10) == b"-ERR Command line too long.\r\n"
    c.close()


def test_too_long_line_without_newline_closes(plain):
    c = LineClient(plain.ports["pop3"])
    c.readline()
    c.send(b"x" * 2000)
    assert c.read_until_close(10) == b"-ERR Command line too long.\r\n"
    c.close()


def test_too_many_bad_commands_closes(start_postern):
    p = start_postern({"pop3": {"max_bad_commands": "3"}})
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"FOO") == b"-ERR Unknown command.\r\n"
    assert c.cmd(b"BAR") == b"-ERR Unknown command.\r\n"
    c.send(b"BAZ\r\n")
    assert c.read_until_close(10) == (b"-ERR Unknown command.\r\n"
                                      b"-ERR Too many bad commands.\r\n")
    c.close()


def test_too_many_failed_logins_closes(start_postern, dovecot):
    p = start_postern({"pop3": {"max_login_attempts": "2"}})
    c = LineClient(p.ports["pop3"])
    c.readline()
    c.cmd(b"USER alice")
    assert c.cmd(b"PASS wrong1").startswith(b"-ERR [AUTH]")
    c.cmd(b"USER alice")
    c.send(b"PASS wrong2\r\n")
    rest = c.read_until_close(15)
    assert rest.startswith(b"-ERR [AUTH]")
    assert rest.endswith(b"-ERR Too many bad commands.\r\n")
    c.close()


def test_pre_auth_timeout(start_postern):
    p = start_postern({"pop3": {"pre_authenticated_connection_timeout":
                                "2s"}})
    c = LineClient(p.ports["pop3"])
    c.readline()
    t0 = time.monotonic()
    assert c.read_until_close(15) == \
        b"-ERR Disconnected for inactivity.\r\n"
    elapsed = time.monotonic() - t0
    assert 1.5 <= elapsed <= 6, elapsed
    c.close()


def test_pre_auth_timeout_counts_from_last_command(start_postern):
    p = start_postern({"pop3": {"pre_authenticated_connection_timeout":
                                "2s"}})
    c = LineClient(p.ports["pop3"])
    c.readline()
    t0 = time.monotonic()
    for _ in range(3):
        time.sleep(1)
        assert c.cmd(b"NOOP").startswith(b"-ERR")  # not before login
    assert c.read_until_close(15).endswith(b"inactivity.\r\n")
    assert time.monotonic() - t0 >= 4


def test_per_ip_limit(start_postern):
    p = start_postern({"pop3": {"max_connection_from_single_ip": "2"}})
    a = LineClient(p.ports["pop3"])
    b = LineClient(p.ports["pop3"])
    assert a.readline() == OK_BANNER and b.readline() == OK_BANNER
    c = LineClient(p.ports["pop3"])
    assert c.read_until_close(10) == \
        b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
    c.close()
    a.cmd(b"QUIT")
    a.close()
    # The slot is given back once the first connection is gone.
    def third_gets_greeting():
        d = LineClient(p.ports["pop3"])
        try:
            return d.readline() == OK_BANNER
        finally:
            d.close()
    wait_for(third_gets_greeting, 10, "a free slot")
    b.close()


def test_per_user_limit(start_postern, dovecot):
    p = start_postern({"pop3": {"max_connections_per_user": "1"}})
    a = LineClient(p.ports["pop3"])
    a.readline()
    login_raw(a, dovecot, "dave")
    b = LineClient(p.ports["pop3"])
    b.readline()
    b.cmd(b"USER dave")
    assert b.cmd(b"PASS " + dovecot.users["dave"].encode()) \
        .startswith(b"-ERR [IN-USE]")
    a.cmd(b"QUIT")
    a.close()
    b.close()


def test_backend_down(start_postern, dovecot):
    from helpers import free_ports
    p = start_postern({"pop3": {"backend": "127.0.0.1:%d"
                                % free_ports(1)[0]}})
    c = LineClient(p.ports["pop3"])
    assert c.readline() == OK_BANNER
    c.cmd(b"USER alice")
    c.send(b"PASS " + dovecot.users["alice"].encode() + b"\r\n")
    data = c.read_until_close(15)
    assert data.startswith(b"-ERR [SYS/TEMP]"), data
    c.close()


def test_backend_closes_mid_session(plain, dovecot):
    c = LineClient(plain.ports["pop3"])
    c.readline()
    login_raw(c, dovecot, "grace")
    assert c.cmd(b"STAT").startswith(b"+OK")
    # Dovecot logs the pid of the mail process of each login.
    dovecot.wait_log(r"Login: user=<grace>.*?mpid=\d+")
    logins = re.findall(r"Login: user=<grace>.*?mpid=(\d+)", dovecot.log())
    os.kill(int(logins[-1]), 9)
    assert c.read_until_close(15) == b""
    c.close()


# --- backend TLS -------------------------------------------------------------

def backend_login_was_tls(dovecot, user):
    lines = [line for line in dovecot.log().splitlines()
             if "Login: user=<%s>" % user in line]
    return bool(lines) and re.search(r", TLS(,|$)", lines[-1]) is not None


@pytest.mark.parametrize("mode,port", [("starttls", "pop3"),
                                       ("implicit", "pop3s")])
def test_backend_tls(start_postern, dovecot, mode, port):
    p = start_postern({"pop3": {
        "backend": "127.0.0.1:%d" % dovecot.ports[port],
        "backend_tls": mode, "backend_ca_file": dovecot.ca}})
    pop = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=30)
    try:
        pop.user("heidi")
        pop.pass_(dovecot.users["heidi"])
        assert retr_bytes(pop, 3) == dovecot.message(3)
    finally:
        pop.quit()
    assert wait_for(lambda: backend_login_was_tls(dovecot, "heidi"), 5,
                    "a TLS login in Dovecot's log")


def test_backend_tls_wrong_ca_is_refused(start_postern, dovecot, cert):
    p = start_postern({"pop3": {
        "backend": "127.0.0.1:%d" % dovecot.ports["pop3s"],
        "backend_tls": "implicit", "backend_ca_file": cert[0]}})
    c = LineClient(p.ports["pop3"])
    c.readline()
    c.cmd(b"USER alice")
    c.send(b"PASS " + dovecot.users["alice"].encode() + b"\r\n")
    assert c.read_until_close(15).startswith(b"-ERR [SYS/TEMP]")
    c.close()
    p.wait_log(r"TLS certificate verification failed")


# --- a large message read slowly ---------------------------------------------

def test_large_message_slow_reader_bounded_memory(plain, dovecot,
                                                  sanitized):
    size = 50 * 1024 * 1024
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\r\n"
    body = (b"Subject: fifty megabytes\r\n\r\n" +
            line * (size // len(line)))
    dovecot.deliver("erin", body)
    want = hashlib.sha256(body).hexdigest()

    c = LineClient(plain.ports["pop3"])
    c.readline()
    login_raw(c, dovecot, "erin")
    listing = c.cmd(b"LIST")
    assert listing.startswith(b"+OK")
    sizes = dict(l.split() for l in multiline(c).splitlines())
    n = [k for k, v in sizes.items() if int(v) == len(body)]
    assert n, sizes
    rss0 = plain.rss_kib()
    peak = rss0
    c.send(b"RETR " + n[0] + b"\r\n")
    assert c.readline().startswith(b"+OK")
    h = hashlib.sha256()
    got = 0
    t0 = time.monotonic()
    # About 10 MB/s: far slower than Dovecot sends.
    while True:
        chunk = c.read_exact(min(65536, len(body) + 3 - got))
        got += len(chunk)
        if got >= len(body) + 3:
            assert chunk.endswith(b"\r\n.\r\n")
            h.update(chunk[:-3])
            break
        h.update(chunk)
        if got % (1024 * 1024) < 65536:
            peak = max(peak, plain.rss_kib())
        ahead = got / 10e6 - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    assert h.hexdigest() == want
    c.cmd(b"QUIT")
    c.close()
    if not sanitized:
        # Bounded buffers: a 50 MB message read slowly must not end up
        # in postern's memory.
        assert peak - rss0 < 16 * 1024, (rss0, peak)


def test_audit_notice_once_per_login(start_postern, dovecot):
    """USER and PASS are one login: login_type_mode = audit notes it once
    in the daemon log (the notice came at both until 2026-12), and again
    for a second login in the same session."""
    p = start_postern({"pop3": {"login_type": "SecureLogin",
                                "login_type_mode": "audit"}})
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"USER alice").startswith(b"+OK")
    assert c.cmd(b"PASS wrong").startswith(b"-ERR")
    login_raw(c, dovecot, "alice")
    c.cmd(b"QUIT")
    c.close()
    assert p.stop() == 0
    notices = re.findall(r"audit: cleartext login without TLS would be "
                         r"refused", p.log())
    assert len(notices) == 2, p.log()
