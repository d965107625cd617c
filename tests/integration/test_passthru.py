"""SASL pass-through of XOAUTH2 and OAUTHBEARER through postern to a
Dovecot that verifies the bearer tokens itself (its oauth2 passdb with
local validation of JWTs signed with a key this module generates).
postern never sees the key: what it does is read the user from the first
SASL message, apply its policy and relay the exchange."""

import base64
import glob
import hashlib
import hmac
import imaplib
import json
import os
import re
import shutil
import socket
import threading
import time

import pytest

import helpers
from conftest import passthru_factory
from helpers import LineClient

USERS = ("alice", "bob", "carol", "mallory")


@pytest.fixture(scope="module")
def oauth_dovecot():
    if shutil.which("dovecot") is None:
        pytest.skip("dovecot is not installed")
    key = os.urandom(32)
    d = helpers.Dovecot(
        {u: "pw-" + os.urandom(6).hex() for u in USERS}, big_size=0,
        extra_env={"DOVECOT_OAUTH2_KEY": base64.b64encode(key).decode()})
    d.oauth_key = key
    yield d
    d.stop()


@pytest.fixture
def postern(postern_bin, oauth_dovecot, cert):
    # The IMAP list with a comma: both separators are taken.
    mechs = ("XOAUTH2 OAUTHBEARER", "XOAUTH2, OAUTHBEARER")
    yield from passthru_factory(postern_bin, oauth_dovecot, cert, mechs)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(key, sub, lifetime=600):
    """An access token as an identity provider would mint it: HS256,
    the user in "sub"."""
    now = int(time.time())
    head = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64u(json.dumps({"sub": sub, "iat": now - 5,
                            "exp": now + lifetime}).encode())
    sig = hmac.new(key, (head + "." + body).encode(), hashlib.sha256)
    return head + "." + body + "." + b64u(sig.digest())


def xoauth2(user, token):
    return ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()


def oauthbearer(user, token):
    return ("n,a=%s,\x01host=localhost\x01auth=Bearer %s\x01\x01"
            % (user, token)).encode()


def b64(raw):
    return base64.b64encode(raw)


def dovecot_saw(dovecot, user):
    """Whether Dovecot's log mentions user at all."""
    return re.search(r"\b%s\b" % re.escape(user), dovecot.log()) is not None


def test_imap_xoauth2_and_oauthbearer_log_in_and_relay(postern,
                                                       oauth_dovecot):
    p = postern()
    tok = jwt(oauth_dovecot.oauth_key, "alice")
    for mech, msg in (("XOAUTH2", xoauth2), ("OAUTHBEARER", oauthbearer)):
        i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=20)
        assert "AUTH=" + mech in i.capabilities
        typ, _ = i.authenticate(mech, lambda _c, m=msg: m("alice", tok))
        assert typ == "OK"
        # The normal relay follows, as after a password.
        assert i.select("INBOX")[0] == "OK"
        assert i.search(None, "ALL")[1][0].split() == [b"1", b"2"]
        i.logout()
    p.wait_log(r"closing: client logged out; user=alice ", count=2)
    log = p.log()
    assert re.search(r"user=alice .*mech=AUTHENTICATE:XOAUTH2 ", log), log
    assert re.search(r"user=alice .*mech=AUTHENTICATE:OAUTHBEARER ", log), log
    # Dovecot verified the tokens itself.
    oauth_dovecot.wait_log(r"Login: user=<alice>, method=XOAUTH2")
    oauth_dovecot.wait_log(r"Login: user=<alice>, method=OAUTHBEARER")


def test_pop3_auth_with_and_without_initial_response(postern, oauth_dovecot):
    p = postern()
    tok = jwt(oauth_dovecot.oauth_key, "bob")
    c = LineClient(p.ports["pop3"])
    assert c.readline().startswith(b"+OK")
    c.send(b"CAPA\r\n")
    capa = b""
    while not capa.endswith(b".\r\n"):
        capa += c.readline()
    assert b"SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n" in capa
    assert c.cmd(b"AUTH XOAUTH2 " + b64(xoauth2("bob", tok))) \
        .startswith(b"+OK")
    assert c.cmd(b"STAT").startswith(b"+OK 2 ")
    assert c.cmd(b"QUIT").startswith(b"+OK")
    c.close()
    # Without an initial response postern asks for the first message.
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH OAUTHBEARER") == b"+ \r\n"
    assert c.cmd(b64(oauthbearer("bob", tok))).startswith(b"+OK")
    assert c.cmd(b"STAT").startswith(b"+OK 2 ")
    c.close()
    oauth_dovecot.wait_log(r"Login: user=<bob>, method=XOAUTH2")
    oauth_dovecot.wait_log(r"Login: user=<bob>, method=OAUTHBEARER")


@pytest.mark.parametrize("proto,port,mode", [
    ("imap", "imap", "starttls"), ("imap", "imaps", "implicit"),
    ("pop3", "pop3", "starttls"), ("pop3", "pop3s", "implicit")])
def test_passthrough_over_a_tls_backend(postern, oauth_dovecot, proto, port,
                                        mode):
    """The same exchanges to a backend postern speaks TLS to, verified
    with the backend's own CA: the mechanism check reads the capabilities
    the backend sends after the handshake, and the relay follows."""
    p = postern({"postern": {"log_level": "debug"},
                 proto: {"backend": "127.0.0.1:%d" % oauth_dovecot.ports[port],
                         "backend_tls": mode,
                         "backend_ca_file": oauth_dovecot.ca}})
    tok = jwt(oauth_dovecot.oauth_key, "carol")
    for mech, msg in (("XOAUTH2", xoauth2), ("OAUTHBEARER", oauthbearer)):
        seen = len(oauth_dovecot.log())
        if proto == "imap":
            i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=20)
            typ, _ = i.authenticate(mech, lambda _c, m=msg: m("carol", tok))
            assert typ == "OK"
            assert i.select("INBOX")[0] == "OK"
            assert i.search(None, "ALL")[1][0].split() == [b"1", b"2"]
            i.logout()
        else:
            c = LineClient(p.ports["pop3"])
            assert c.readline().startswith(b"+OK")
            assert c.cmd(b"AUTH %s %s" % (mech.encode(),
                                          b64(msg("carol", tok)))) \
                .startswith(b"+OK")
            assert c.cmd(b"STAT").startswith(b"+OK 2 ")
            assert c.cmd(b"QUIT").startswith(b"+OK")
            c.close()
        # Dovecot saw this login over TLS.
        oauth_dovecot.wait_log(
            r"Login: user=<carol>, method=%s, .*\bTLS\b" % mech, since=seen)
    p.wait_log(r"closing: client logged out; user=carol ", count=2)
    how = "TLS" if mode == "implicit" else "STARTTLS"
    lines = re.findall(r".* backend %s TLSv1\.\d, .*" % how, p.log())
    # One for each login, and one for the probe that asked the backend
    # for its mechanisms at start, over TLS as a login would.
    assert len([x for x in lines if " probe: " not in x]) == 2, lines
    assert len([x for x in lines if " probe: " in x]) == 1, lines


def test_bad_token_challenge_is_relayed_and_refused_by_dovecot(
        postern, oauth_dovecot):
    """A token the verifier refuses: Dovecot's error challenge reaches the
    client, the client's empty answer reaches Dovecot, and the verdict
    comes back as a failed login."""
    p = postern()
    wrong = jwt(os.urandom(32), "carol")
    c = LineClient(p.ports["imap"])
    c.readline()
    r = c.cmd(b"a AUTHENTICATE XOAUTH2 " + b64(xoauth2("carol", wrong)))
    assert r.startswith(b"+ "), r
    status = json.loads(base64.b64decode(r[2:].strip()))
    assert status.get("status") in ("401", "invalid_token"), status
    r = c.cmd(b"")
    assert r.startswith(b"a NO [AUTHENTICATIONFAILED]"), r
    # The session goes on.
    assert c.cmd(b"b NOOP").startswith(b"b OK")
    c.close()
    p.wait_log(r"user carol: login refused by the backend")


def test_policy_refuses_the_user_before_the_token_leaves(postern,
                                                         oauth_dovecot):
    p = postern({'rule "no mallory"': {"priority": "1", "action": "deny",
                                       "usernames": "mallory"}})
    tok = jwt(oauth_dovecot.oauth_key, "mallory")
    i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=20)
    with pytest.raises(imaplib.IMAP4.error) as e:
        i.authenticate("XOAUTH2", lambda _c: xoauth2("mallory", tok))
    assert "AUTHORIZATIONFAILED" in str(e.value)
    i.logout()
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH OAUTHBEARER " + b64(oauthbearer("mallory", tok))) \
        == b"-ERR [AUTH] Access denied.\r\n"
    c.close()
    p.wait_log(r"user mallory: AccessRuleDenied:no mallory", count=2)
    # Neither the user nor the token ever reached Dovecot.
    assert not dovecot_saw(oauth_dovecot, "mallory")
    assert tok not in oauth_dovecot.log()


def test_malformed_messages_and_tokens_without_a_user(postern,
                                                      oauth_dovecot):
    p = postern()
    tok = jwt(oauth_dovecot.oauth_key, "zed")
    c = LineClient(p.ports["imap"])
    c.readline()
    # Not base64.
    assert c.cmd(b"a AUTHENTICATE XOAUTH2 %%%") \
        == b"a BAD Invalid SASL response.\r\n"
    # Not an XOAUTH2 message: a Basic credential.
    assert c.cmd(b"b AUTHENTICATE XOAUTH2 " + b64(
        b"user=zed\x01auth=Basic YWxpY2U6cHc=\x01\x01")) \
        == b"b BAD Invalid SASL response.\r\n"
    # A bearer token without an identity: postern cannot apply its
    # policy, and says why.
    r = c.cmd(b"c AUTHENTICATE OAUTHBEARER " + b64(
        ("n,,\x01auth=Bearer %s\x01\x01" % tok).encode()))
    assert r.startswith(b"c NO [AUTHENTICATIONFAILED] The SASL message "
                        b"names no user"), r
    assert c.cmd(b"d NOOP").startswith(b"d OK")
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH XOAUTH2") == b"+ \r\n"
    assert c.cmd(b64(b"auth=Bearer abc\x01\x01")).startswith(
        b"-ERR [AUTH] The SASL message names no user")
    c.close()
    log = p.log()
    assert "XOAUTH2 refused: malformed message: not base64" in log
    assert "auth= is not one" in log
    assert "the GS2 header names no user" in log
    assert not dovecot_saw(oauth_dovecot, "zed")


def test_cancellation_before_and_during_the_exchange(postern,
                                                     oauth_dovecot):
    p = postern()
    c = LineClient(p.ports["imap"])
    c.readline()
    # Before anything went to the backend.
    assert c.cmd(b"a AUTHENTICATE XOAUTH2") == b"+ \r\n"
    assert c.cmd(b"*") == b"a BAD Authentication cancelled.\r\n"
    # During the exchange: the backend's error challenge is answered
    # with "*", which goes to the backend.
    wrong = jwt(os.urandom(32), "carol")
    r = c.cmd(b"b AUTHENTICATE XOAUTH2 " + b64(xoauth2("carol", wrong)))
    assert r.startswith(b"+ ")
    assert c.cmd(b"*") == b"b BAD Authentication cancelled.\r\n"
    assert c.cmd(b"c NOOP").startswith(b"c OK")
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH XOAUTH2") == b"+ \r\n"
    assert c.cmd(b"*") == b"-ERR Authentication cancelled.\r\n"
    assert c.cmd(b"NOOP").startswith(b"-ERR")  # not logged in
    c.close()


def test_mechanism_the_backend_does_not_offer(start_postern, dovecot):
    """The session Dovecot offers PLAIN and LOGIN only: postern asked it
    at start, so XOAUTH2 is never advertised, and a client that tries it
    anyway is answered that it is unsupported."""
    p = start_postern({"imap": {"passthrough_mechanisms": "XOAUTH2"},
                       "pop3": {"passthrough_mechanisms": "XOAUTH2"}})
    p.wait_log(r"imap backend default does not offer XOAUTH2 of "
               r"passthrough_mechanisms: not advertised to clients "
               r"\(offered: none\)")
    c = LineClient(p.ports["imap"])
    c.readline()
    caps = c.cmd(b"a CAPABILITY")
    assert b"XOAUTH2" not in caps
    assert b" AUTH=PLAIN" in caps
    c.readline()
    r = c.cmd(b"b AUTHENTICATE XOAUTH2 " + b64(xoauth2("alice", "x.y.z")))
    assert r == b"b NO [CANNOT] Unsupported authentication mechanism.\r\n"
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH XOAUTH2 " + b64(xoauth2("alice", "x.y.z"))) \
        == b"-ERR Unsupported authentication mechanism.\r\n"
    c.close()
    p.wait_log(r"user alice: the backend does not offer AUTHENTICATE "
               r"XOAUTH2")


def test_bearer_tokens_are_passwords_for_the_login_type(postern,
                                                        oauth_dovecot,
                                                        cert):
    p = postern({"pop3": {"login_type": "SecureLogin"},
                 "imap": {"login_type": "SecureLogin"}})
    tok = jwt(oauth_dovecot.oauth_key, "alice")
    c = LineClient(p.ports["imap"])
    c.readline()
    caps = c.cmd(b"a CAPABILITY")
    assert b"XOAUTH2" not in caps and b"OAUTHBEARER" not in caps
    c.readline()
    r = c.cmd(b"b AUTHENTICATE XOAUTH2 " + b64(xoauth2("alice", tok)))
    assert r.startswith(b"b NO [PRIVACYREQUIRED]"), r
    # After STARTTLS the same login goes through.
    assert c.cmd(b"c STARTTLS").startswith(b"c OK")
    c.starttls(helpers.client_context(cert[0]))
    caps = c.cmd(b"d CAPABILITY")
    assert b"AUTH=XOAUTH2" in caps
    c.readline()
    r = c.cmd(b"e AUTHENTICATE XOAUTH2 " + b64(xoauth2("alice", tok)))
    assert r.startswith(b"e OK"), r
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    r = c.cmd(b"AUTH XOAUTH2 " + b64(xoauth2("alice", tok)))
    assert r.startswith(b"-ERR [AUTH] Plaintext authentication disallowed")
    c.close()
    p.wait_log(r"refused a cleartext login without TLS; the client sent "
               r"its password in the clear")


def test_protocol_log_names_the_mechanism_and_never_the_token(
        postern, oauth_dovecot):
    logdir = helpers.private_tmpdir("postern-passthru-log.")
    try:
        conf = {}
        for proto, sub in (("pop3", "Pop3"), ("imap", "Imap4")):
            conf[proto] = {"protocol_log_enabled": "yes",
                           "log_file_location": os.path.join(logdir, sub),
                           "log_detail": "commands",
                           "login_type": "SecureLogin",
                           "login_type_mode": "audit"}
        p = postern(conf)
        tok = jwt(oauth_dovecot.oauth_key, "alice")
        i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=20)
        assert i.authenticate("XOAUTH2",
                              lambda _c: xoauth2("alice", tok))[0] == "OK"
        i.logout()
        c = LineClient(p.ports["pop3"])
        c.readline()
        assert c.cmd(b"AUTH OAUTHBEARER")  == b"+ \r\n"
        assert c.cmd(b64(oauthbearer("alice", tok))).startswith(b"+OK")
        c.cmd(b"QUIT")
        c.close()
        # A refused exchange too: its message must not appear either.
        bad = jwt(os.urandom(32), "alice")
        c = LineClient(p.ports["imap"])
        c.readline()
        c.cmd(b"a AUTHENTICATE XOAUTH2 " + b64(xoauth2("alice", bad)))
        c.cmd(b"")
        c.close()
        p.stop()
        rows = []
        for path in glob.glob(os.path.join(logdir, "*", "*.LOG")):
            with open(path, "rb") as f:
                raw = f.read()
            for secret in (tok, bad):
                for form in (secret.encode(), b64(xoauth2("alice", secret)),
                             b64(oauthbearer("alice", secret))):
                    assert form not in raw, path
            rows += raw.decode().split("\r\n")
        with open(p.logpath, "rb") as f:
            daemon = f.read()
        for secret in (tok, bad):
            assert secret.encode() not in daemon
        imap = [r for r in rows if ",authenticate,XOAUTH2," in r]
        assert len(imap) == 2, rows
        assert any("LoginTypeAudit" in r for r in imap), imap
        pop = [r for r in rows if ",auth, OAUTHBEARER," in r]
        assert len(pop) == 1, rows
        assert ",alice," in pop[0]
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


class DroppingBackend:
    """Speaks an IMAP greeting and capabilities offering XOAUTH2, then
    hangs up as soon as the SASL exchange starts: a backend that dies in
    the middle.  Not a verifier: it never says yes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.got = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            f = c.makefile("rb")
            c.sendall(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN "
                      b"AUTH=XOAUTH2] ready\r\n")
            for line in f:
                self.got.append(line)
                if b"AUTHENTICATE" in line:
                    break
            f.close()
            c.close()

    def close(self):
        self.sock.close()


def test_backend_that_drops_mid_exchange(start_postern):
    b = DroppingBackend()
    try:
        p = start_postern({"imap": {"backend": "127.0.0.1:%d" % b.port,
                                    "passthrough_mechanisms": "XOAUTH2"}})
        c = LineClient(p.ports["imap"])
        c.readline()
        r = c.cmd(b"a AUTHENTICATE XOAUTH2 " + b64(xoauth2("alice", "t")))
        assert r.startswith(b"a NO [UNAVAILABLE]"), r
        c.close()
        p.wait_log(r"the backend closed the connection during login")
    finally:
        b.close()


def first_offers(p):
    """What the very first IMAP and POP3 clients are offered."""
    c = LineClient(p.ports["imap"])
    c.readline()
    caps = c.cmd(b"a CAPABILITY")
    c.readline()
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    c.send(b"CAPA\r\n")
    capa = b""
    while not capa.endswith(b".\r\n"):
        capa += c.readline()
    c.close()
    return caps, capa


def test_backend_is_asked_at_start_and_at_each_reload(postern):
    """passthrough_mechanisms lists NTLM, which the oauth2 Dovecot does
    not offer.  postern asks the default backend at start and again for
    each reloaded configuration (whose backends start knowing nothing),
    so that not even the first client is offered NTLM."""
    mechs = {"passthrough_mechanisms": "NTLM XOAUTH2 OAUTHBEARER"}
    p = postern({"imap": mechs, "pop3": mechs})
    for n in (1, 2):
        if n == 2:
            p.reload()
        for proto in ("imap", "pop3"):
            p.wait_log(r"probe: %s backend default does not offer NTLM of "
                       r"passthrough_mechanisms: not advertised to clients "
                       r"\(offered: XOAUTH2 OAUTHBEARER\)" % proto,
                       count=n)
        caps, capa = first_offers(p)
        assert b" AUTH=XOAUTH2 AUTH=OAUTHBEARER" in caps, caps
        assert b"NTLM" not in caps, caps
        assert b"SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n" in capa, capa
    # The probes are no client's sessions: no summary line, no row.
    assert not re.search(r"probe.*(closed|closing):", p.log()), p.log()


def test_backend_that_cannot_be_asked_leaves_the_configured_list(
        start_postern):
    """A probe that fails stores nothing: the configured list is
    advertised, as it was before postern asked, and the log says why."""
    dead = helpers.free_ports(1)[0]
    p = start_postern({"imap": {"passthrough_mechanisms": "XOAUTH2",
                                "backend": "127.0.0.1:%d" % dead}})
    p.wait_log(r"probe: cannot ask imap backend default which SASL "
               r"mechanisms it offers: connection failed: Connection "
               r"refused; passthrough_mechanisms are advertised as "
               r"configured until a login sees them")
    c = LineClient(p.ports["imap"])
    c.readline()
    assert b" AUTH=XOAUTH2" in c.cmd(b"a CAPABILITY")
    c.close()
