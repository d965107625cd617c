"""IMAP4 through postern, with real clients, against the private Dovecot."""

import base64
import hashlib
import imaplib
import re
import subprocess
import threading
import time

import pytest

from conftest import SPECIAL_USER
from helpers import LineClient, client_context, curl, free_ports, wait_for

BANNER = b"IMAP4 server ready."
PRIVACY = (b"NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
           b"non-secure (SSL/TLS) connections.")


@pytest.fixture(scope="module")
def plain(module_postern):
    return module_postern()


@pytest.fixture(scope="module")
def secure(module_postern):
    return module_postern({"imap": {"login_type": "SecureLogin"}})


@pytest.fixture(scope="module")
def audit(module_postern):
    return module_postern({"imap": {"login_type": "SecureLogin",
                                    "login_type_mode": "audit"}})


def plain_auth(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            password.encode())


def caps_of(line):
    m = re.search(rb"\[CAPABILITY ([^\]]*)\]", line) or \
        re.match(rb"\* CAPABILITY (.*)\r\n", line)
    assert m, line
    return m.group(1).split()


def fetch_body(imap, n):
    """FETCH n BODY.PEEK[] through imaplib: the literal's exact bytes."""
    typ, data = imap.fetch(str(n), "(BODY.PEEK[])")
    assert typ == "OK", data
    return data[0][1]


def tagged(c, tag):
    """Reads lines up to the tagged answer; returns (untagged, tagged)."""
    lines = []
    while True:
        line = c.readline()
        if line.startswith(tag + b" "):
            return lines, line
        lines.append(line)


# --- curl -------------------------------------------------------------------

def test_curl_imap_plain(plain, dovecot):
    base = "imap://127.0.0.1:%d/INBOX" % plain.ports["imap"]
    r = curl(base + ";UID=1", user="alice", password=dovecot.users["alice"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message(1)
    r = curl(base + "?ALL", user="alice", password=dovecot.users["alice"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"*", b"SEARCH", b"1", b"2", b"3"]


def test_curl_imap_starttls_required_large(secure, dovecot, cert):
    r = curl("--ssl-reqd",
             "imap://127.0.0.1:%d/INBOX;UID=3" % secure.ports["imap"],
             user="alice", password=dovecot.users["alice"], cafile=cert[0])
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message(3)


def test_curl_imaps(secure, dovecot, cert):
    r = curl("imaps://127.0.0.1:%d/INBOX;UID=2" % secure.ports["imaps"],
             user="alice", password=dovecot.users["alice"], cafile=cert[0])
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message(2)


def test_curl_imap_without_tls_under_securelogin_fails(secure, dovecot):
    r = curl("imap://127.0.0.1:%d/INBOX;UID=1" % secure.ports["imap"],
             user="alice", password=dovecot.users["alice"])
    assert r.returncode != 0
    assert r.stdout == b""


def test_curl_imap_wrong_password(plain):
    r = curl("imap://127.0.0.1:%d/INBOX;UID=1" % plain.ports["imap"],
             user="alice", password="wrong")
    assert r.returncode == 67, r.stderr  # CURLE_LOGIN_DENIED


# --- Python's imaplib ---------------------------------------------------------

def test_imaplib_plaintextlogin(plain, dovecot):
    imap = imaplib.IMAP4("127.0.0.1", plain.ports["imap"], timeout=60)
    try:
        assert imap.welcome.endswith(BANNER)
        assert "AUTH=PLAIN" in imap.capabilities
        assert "LOGINDISABLED" not in imap.capabilities
        typ, _ = imap.login("alice", dovecot.users["alice"])
        assert typ == "OK"
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK" and data == [b"3"]
        for n in (1, 2, 3):
            assert fetch_body(imap, n) == dovecot.message(n)
        typ, data = imap.search(None, "SUBJECT", '"Large message"')
        assert data == [b"3"]
        typ, data = imap.fetch("1:3", "(RFC822.SIZE)")
        sizes = [int(re.search(rb"RFC822.SIZE (\d+)", d).group(1))
                 for d in data]
        assert sizes == [len(dovecot.message(n)) for n in (1, 2, 3)]
        imap.close()
    finally:
        imap.logout()


def test_capabilities_after_login(secure, dovecot, cert):
    c = LineClient(secure.ports["imap"])
    c.readline()
    assert c.cmd(b"t STARTTLS") == b"t OK Begin TLS negotiation now.\r\n"
    c.starttls(client_context(cert[0]))
    c.send(b"a LOGIN alice " + dovecot.users["alice"].encode() + b"\r\n")
    _, t = tagged(c, b"a")
    assert t.startswith(b"a OK [CAPABILITY ")
    # The backend's capabilities, minus what postern cannot relay or
    # what no longer applies.
    caps = caps_of(t)
    assert b"IDLE" in caps and b"UIDPLUS" in caps
    assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
    assert not any(x.startswith(b"COMPRESS") for x in caps)
    c.close()


def test_capability_command_after_login_hides_compress(plain, dovecot):
    c = LineClient(plain.ports["imap"])
    c.readline()
    c.send(b"a LOGIN mallory " + dovecot.users["mallory"].encode() +
           b"\r\n")
    tagged(c, b"a")
    c.send(b"c CAPABILITY\r\n")
    untagged, t = tagged(c, b"c")
    assert t.startswith(b"c OK")
    caps = caps_of(untagged[0])
    assert b"IDLE" in caps
    # postern renames the offer in place (COMPRESS-DEFLATE, which no
    # client knows) rather than buffer the backend's stream.
    assert not any(x.upper().startswith(b"COMPRESS=") for x in caps), caps
    c.close()


def test_compress_deflate_is_refused(plain, dovecot):
    c = LineClient(plain.ports["imap"])
    c.readline()
    c.send(b"a LOGIN mallory " + dovecot.users["mallory"].encode() +
           b"\r\n")
    tagged(c, b"a")
    answer = c.cmd(b"z COMPRESS DEFLATE")
    assert answer.startswith(b"z NO") or answer.startswith(b"z BAD"), \
        answer
    # The session goes on uncompressed.
    assert c.cmd(b"n NOOP").startswith(b"n OK")
    c.close()


def test_imaplib_store_and_flags(plain, dovecot):
    imap = imaplib.IMAP4("127.0.0.1", plain.ports["imap"], timeout=60)
    try:
        imap.login("mallory", dovecot.users["mallory"])
        imap.select("INBOX")
        typ, data = imap.store("2", "+FLAGS", "(\\Flagged)")
        assert typ == "OK"
        typ, data = imap.fetch("2", "(FLAGS)")
        assert b"\\Flagged" in data[0]
        typ, data = imap.search(None, "FLAGGED")
        assert data == [b"2"]
    finally:
        imap.logout()


def test_imaplib_starttls_securelogin(secure, dovecot, cert):
    imap = imaplib.IMAP4("127.0.0.1", secure.ports["imap"], timeout=60)
    try:
        caps = imap.capabilities
        assert "STARTTLS" in caps and "LOGINDISABLED" in caps
        assert not any(c.startswith("AUTH=") for c in caps)
        assert "SASL-IR" not in caps
        imap.starttls(client_context(cert[0]))
        caps = imap.capabilities
        assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps
        assert "AUTH=PLAIN" in caps
        imap.login("alice", dovecot.users["alice"])
        imap.select("INBOX", readonly=True)
        assert fetch_body(imap, 3) == dovecot.message(3)
    finally:
        imap.logout()


def test_imaplib_imap4_ssl_authenticate_plain(secure, dovecot, cert):
    imap = imaplib.IMAP4_SSL("127.0.0.1", secure.ports["imaps"],
                             ssl_context=client_context(cert[0]),
                             timeout=60)
    try:
        assert "STARTTLS" not in imap.capabilities
        user, pw = "alice", dovecot.users["alice"]
        typ, _ = imap.authenticate(
            "PLAIN", lambda _: b"\0" + user.encode() + b"\0" + pw.encode())
        assert typ == "OK"
        imap.select("INBOX", readonly=True)
        assert fetch_body(imap, 1) == dovecot.message(1)
    finally:
        imap.logout()


def test_imaplib_wrong_password(plain):
    imap = imaplib.IMAP4("127.0.0.1", plain.ports["imap"], timeout=60)
    try:
        with pytest.raises(imaplib.IMAP4.error) as e:
            imap.login("alice", "not the password")
        assert "[AUTHENTICATIONFAILED]" in str(e.value)
    finally:
        imap.logout()


# --- raw dialogues --------------------------------------------------------------

def test_sasl_ir_continuation_and_cancel(secure, dovecot, cert):
    ctx = client_context(cert[0])
    c = LineClient(secure.ports["imaps"], ctx)
    greeting = c.readline()
    assert b"SASL-IR" in caps_of(greeting)
    assert b"AUTH=PLAIN" in caps_of(greeting)
    c.send(b"a AUTHENTICATE PLAIN " +
           plain_auth("alice", dovecot.users["alice"]) + b"\r\n")
    _, t = tagged(c, b"a")
    assert t.startswith(b"a OK"), t
    c.send(b"b SELECT INBOX\r\n")
    _, t = tagged(c, b"b")
    assert t.startswith(b"b OK")
    c.close()

    c = LineClient(secure.ports["imaps"], ctx)
    c.readline()
    assert c.cmd(b"x1 AUTHENTICATE PLAIN").startswith(b"+")
    assert c.cmd(b"*").startswith(b"x1 BAD")
    assert c.cmd(b"x2 AUTHENTICATE LOGIN").startswith(b"+")
    assert c.cmd(base64.b64encode(b"alice")).startswith(b"+")
    c.send(base64.b64encode(dovecot.users["alice"].encode()) + b"\r\n")
    _, t = tagged(c, b"x2")
    assert t.startswith(b"x2 OK")
    c.close()


def test_login_quoted_and_literals(plain, dovecot):
    user, pw = SPECIAL_USER
    assert dovecot.users[user] == pw
    quoted = b'"' + pw.encode().replace(b"\\", b"\\\\") \
        .replace(b'"', b'\\"') + b'"'
    # A quoted string with escapes.
    c = LineClient(plain.ports["imap"])
    c.readline()
    c.send(b"q LOGIN " + user.encode() + b" " + quoted + b"\r\n")
    _, t = tagged(c, b"q")
    assert t.startswith(b"q OK"), t
    c.close()
    # Synchronising literals: "+" before each.
    c = LineClient(plain.ports["imap"])
    c.readline()
    assert c.cmd(b"s LOGIN {%d}" % len(user)).startswith(b"+")
    assert c.cmd(user.encode() + b" {%d}" % len(pw)).startswith(b"+")
    c.send(pw.encode() + b"\r\n")
    _, t = tagged(c, b"s")
    assert t.startswith(b"s OK"), t
    c.close()
    # LITERAL+ is not offered (a client that kept the list would use it
    # after login, where it ends the session), but a client that sends
    # "{n+}" anyway has no "+" to wait for.
    c = LineClient(plain.ports["imap"])
    assert b"LITERAL+" not in caps_of(c.readline())
    c.send(b"p LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n"
           % (len(user), user.encode(), len(pw), pw.encode()))
    untagged, t = tagged(c, b"p")
    assert t.startswith(b"p OK"), t
    assert not any(line.startswith(b"+") for line in untagged)
    c.close()


def test_literal_too_big_before_login_gets_no_continuation(plain):
    c = LineClient(plain.ports["imap"])
    c.readline()
    line = c.cmd(b"t LOGIN {1000000}")
    assert line.startswith(b"t BAD [TOOBIG]") or \
        line.startswith(b"t NO [TOOBIG]"), line
    c.close()


def test_id_and_tags(plain):
    c = LineClient(plain.ports["imap"])
    c.readline()
    c.send(b'A0001.x ID ("name" "pytest" "version" "1")\r\n')
    untagged, t = tagged(c, b"A0001.x")
    assert t.startswith(b"A0001.x OK")
    assert untagged and untagged[0].startswith(b'* ID ("name" "postern"')
    c.send(b"e1 ENABLE IMAP4rev2\r\n")
    _, t = tagged(c, b"e1")
    assert t.startswith(b"e1 BAD")
    c.close()


def test_openssl_s_client_starttls_imap(secure, dovecot, cert):
    p = subprocess.Popen(
        ["openssl", "s_client", "-quiet", "-starttls", "imap",
         "-connect", "127.0.0.1:%d" % secure.ports["imap"],
         "-CAfile", cert[0], "-verify_return_error",
         "-verify_ip", "127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        def ask(tag, line):
            p.stdin.write(tag + b" " + line + b"\r\n")
            p.stdin.flush()
            lines = []
            while True:
                got = p.stdout.readline()
                assert got, "s_client ended: %r" % lines
                if got.startswith(tag + b" "):
                    return lines, got
                lines.append(got)

        untagged, t = ask(b"c", b"CAPABILITY")
        caps = caps_of(untagged[0])
        assert b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps
        _, t = ask(b"l", b"LOGIN alice " +
                   dovecot.users["alice"].encode())
        assert t.startswith(b"l OK")
        untagged, t = ask(b"s", b"EXAMINE INBOX")
        assert t.startswith(b"s OK")
        assert b"* 3 EXISTS\r\n" in untagged
        _, t = ask(b"o", b"LOGOUT")
        assert t.startswith(b"o OK")
        p.stdin.close()
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- large APPEND, IDLE -----------------------------------------------------------

def test_large_append_read_back_byte_exact(plain, dovecot):
    size = 50 * 1024 * 1024
    line = b"The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    msg = (b"From: pytest <pytest@example.org>\r\n"
           b"Subject: fifty megabytes\r\n\r\n" +
           line * (size // len(line)))
    imap = imaplib.IMAP4("127.0.0.1", plain.ports["imap"], timeout=120)
    try:
        imap.login("frank", dovecot.users["frank"])
        typ, data = imap.append("INBOX", None, None, msg)
        assert typ == "OK", data
        imap.select("INBOX", readonly=True)
        typ, data = imap.search(None, "SUBJECT", '"fifty megabytes"')
        assert typ == "OK" and len(data[0].split()) == 1
        got = fetch_body(imap, int(data[0]))
        assert len(got) == len(msg)
        assert hashlib.sha256(got).digest() == hashlib.sha256(msg).digest()
    finally:
        imap.logout()


def test_idle_gets_exists_from_another_session(plain, dovecot):
    port = plain.ports["imap"]
    idler = LineClient(port)
    idler.readline()
    idler.send(b"l LOGIN judy " + dovecot.users["judy"].encode() + b"\r\n")
    tagged(idler, b"l")
    idler.send(b"s SELECT INBOX\r\n")
    untagged, t = tagged(idler, b"s")
    assert t.startswith(b"s OK")
    exists = [int(l.split()[1]) for l in untagged if l.endswith(b"EXISTS\r\n")]
    assert idler.cmd(b"i IDLE").startswith(b"+")
    # Held open for a few seconds: the connection stays up, and whatever
    # Dovecot says meanwhile (a keep-alive, flag updates of its own
    # maildir bookkeeping) is untagged.
    idler.sock.settimeout(3)
    with pytest.raises(OSError):
        while True:
            line = idler.readline()
            assert line.startswith(b"* "), line
            assert not line.endswith(b"EXISTS\r\n"), line
    idler.sock.settimeout(30)

    other = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    other.login("judy", dovecot.users["judy"])
    other.append("INBOX", None, None,
                 b"Subject: wake up\r\n\r\nFor the IDLE test.\r\n")
    other.logout()

    line = idler.readline()
    while line.startswith(b"* ") and not line.endswith(b"EXISTS\r\n"):
        line = idler.readline()  # keep-alives, RECENT, FETCH (FLAGS)
    assert line == b"* %d EXISTS\r\n" % (exists[0] + 1)
    idler.send(b"DONE\r\n")
    _, t = tagged(idler, b"i")
    assert t.startswith(b"i OK")
    idler.send(b"o LOGOUT\r\n")
    tagged(idler, b"o")
    idler.close()


# --- login-type policy --------------------------------------------------------

def test_securelogin_refuses_login_before_tls(secure, dovecot):
    c = LineClient(secure.ports["imap"])
    caps = caps_of(c.readline())
    assert b"LOGINDISABLED" in caps and b"STARTTLS" in caps
    c.send(b"a LOGIN alice " + dovecot.users["alice"].encode() + b"\r\n")
    _, t = tagged(c, b"a")
    assert t == b"a " + PRIVACY + b"\r\n"
    c.send(b"b AUTHENTICATE PLAIN " +
           plain_auth("alice", dovecot.users["alice"]) + b"\r\n")
    _, t = tagged(c, b"b")
    assert t.startswith(b"b NO [PRIVACYREQUIRED]")
    c.close()
    secure.wait_log(r"IMAP4 .*sent its password in the clear")
    assert dovecot.users["alice"] not in secure.log()


def test_audit_mode_lets_login_through(audit, dovecot):
    c = LineClient(audit.ports["imap"])
    caps = caps_of(c.readline())
    # Audit changes nothing the client sees before login.
    assert b"LOGINDISABLED" not in caps
    c.send(b"a LOGIN alice " + dovecot.users["alice"].encode() + b"\r\n")
    _, t = tagged(c, b"a")
    assert t.startswith(b"a OK")
    c.send(b"b EXAMINE INBOX\r\n")
    _, t = tagged(c, b"b")
    assert t.startswith(b"b OK")
    c.close()
    audit.wait_log(r"IMAP4 .*audit: cleartext login without TLS would be")


def test_starttls_injection_closes_connection(secure):
    c = LineClient(secure.ports["imap"])
    c.readline()
    c.send(b"a STARTTLS\r\nb LOGIN x y\r\n")
    assert c.read_until_close(10) == b""
    c.close()
    secure.wait_log(r"STARTTLS injection attempt")


# --- limits and errors ----------------------------------------------------------

def test_too_long_line_closes(start_postern):
    p = start_postern({"imap": {"max_command_size": "1024"}})
    c = LineClient(p.ports["imap"])
    c.readline()
    c.send(b"a NOOP " + b"x" * 2000 + b"\r\n")
    data = c.read_until_close(10)
    assert data.endswith(b"* BYE Too many invalid commands.\r\n") or \
        re.search(rb"BAD .*(long|size)", data, re.I), data
    assert b"BAD" in data
    c.close()


def test_too_many_bad_commands_closes(start_postern):
    p = start_postern({"imap": {"max_bad_commands": "3"}})
    c = LineClient(p.ports["imap"])
    c.readline()
    assert c.cmd(b"a FOO").startswith(b"a BAD")
    assert c.cmd(b"b SELECT INBOX").startswith(b"b BAD")
    c.send(b"c BAR\r\n")
    data = c.read_until_close(10)
    assert data.startswith(b"c BAD")
    assert data.endswith(b"* BYE Too many invalid commands.\r\n")
    c.close()


def test_pre_auth_timeout(start_postern):
    p = start_postern({"imap": {"pre_authenticated_connection_timeout":
                                "2s"}})
    c = LineClient(p.ports["imap"])
    c.readline()
    t0 = time.monotonic()
    assert c.read_until_close(15) == b"* BYE Disconnected for inactivity.\r\n"
    assert 1.5 <= time.monotonic() - t0 <= 6
    c.close()


def test_backend_down(start_postern, dovecot):
    p = start_postern({"imap": {"backend": "127.0.0.1:%d"
                                % free_ports(1)[0]}})
    c = LineClient(p.ports["imap"])
    c.readline()
    c.send(b"a LOGIN alice " + dovecot.users["alice"].encode() + b"\r\n")
    data = c.read_until_close(15)
    assert data.startswith(b"a NO [UNAVAILABLE]"), data
    c.close()


def test_per_user_limit(start_postern, dovecot):
    p = start_postern({"imap": {"max_connections_per_user": "1"}})
    a = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    a.login("dave", dovecot.users["dave"])
    b = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    with pytest.raises(imaplib.IMAP4.error) as e:
        b.login("dave", dovecot.users["dave"])
    assert "[LIMIT]" in str(e.value)
    b.logout()
    a.logout()


# --- backend TLS -------------------------------------------------------------

@pytest.mark.parametrize("mode,port", [("starttls", "imap"),
                                       ("implicit", "imaps")])
def test_backend_tls(start_postern, dovecot, mode, port):
    p = start_postern({"imap": {
        "backend": "127.0.0.1:%d" % dovecot.ports[port],
        "backend_tls": mode, "backend_ca_file": dovecot.ca}})
    imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=60)
    try:
        imap.login("heidi", dovecot.users["heidi"])
        imap.select("INBOX", readonly=True)
        assert fetch_body(imap, 3) == dovecot.message(3)
    finally:
        imap.logout()

    def last_login_tls():
        lines = [l for l in dovecot.log().splitlines()
                 if "imap-login: Info: Login: user=<heidi>" in l]
        return lines and re.search(r", TLS(,|$)", lines[-1])
    wait_for(last_login_tls, 5, "a TLS IMAP login in Dovecot's log")


def test_backend_tls_wrong_ca_is_refused(start_postern, dovecot, cert):
    p = start_postern({"imap": {
        "backend": "127.0.0.1:%d" % dovecot.ports["imaps"],
        "backend_tls": "implicit", "backend_ca_file": cert[0]}})
    c = LineClient(p.ports["imap"])
    c.readline()
    c.send(b"a LOGIN alice " + dovecot.users["alice"].encode() + b"\r\n")
    assert c.read_until_close(15).startswith(b"a NO [UNAVAILABLE]")
    c.close()
    p.wait_log(r"TLS certificate verification failed")
