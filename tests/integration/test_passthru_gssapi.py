"""GSSAPI pass-through: postern's side, against the session Dovecot (which
offers no GSSAPI).  A proxy never sees a Kerberos user, so only rules that
need none may let such a session through, and required_group refuses it
unless gssapi_without_group = allow.  A session the policy lets through
reaches the backend, whose missing mechanism is the answer here."""

import base64
import glob
import os
import re
import shutil

import pytest

import helpers
from conftest import passthru_factory
from helpers import LineClient
from test_samba_ad import ad_conf, curl_gssapi

# Not a real AP-REQ: postern reads nothing of it, and it never reaches a
# backend that lacks GSSAPI.
TOKEN = base64.b64encode(b"\x60\x82\x02\x00\x06\x09\x2a\x86\x48\x86\xf7"
                         + os.urandom(40))

UNSUPPORTED_IMAP = b"NO [CANNOT] Unsupported authentication mechanism.\r\n"
UNSUPPORTED_POP3 = b"-ERR Unsupported authentication mechanism.\r\n"


def groups_file(tmp_path):
    path = tmp_path / "groups"
    path.write_text("POP3 Access: alice\nIMAP Access: alice\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    return str(path)


def gssapi_answers(p):
    """The IMAP and the POP3 answer to a GSSAPI exchange."""
    c = LineClient(p.ports["imap"])
    c.readline()
    imap = c.cmd(b"a AUTHENTICATE GSSAPI " + TOKEN)
    assert c.cmd(b"b NOOP").startswith(b"b OK")
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    pop3 = c.cmd(b"AUTH GSSAPI " + TOKEN)
    c.close()
    return imap, pop3


def test_required_group_refuses_gssapi_unless_allowed(start_postern,
                                                      dovecot, tmp_path):
    gf = groups_file(tmp_path)
    conf = {"groups": {"file": gf},
            "pop3": {"required_group": "POP3 Access",
                     "passthrough_mechanisms": "GSSAPI"},
            "imap": {"required_group": "IMAP Access",
                     "passthrough_mechanisms": "GSSAPI"}}
    p = start_postern(conf)
    imap, pop3 = gssapi_answers(p)
    assert imap.startswith(b"a NO [AUTHORIZATIONFAILED]"), imap
    assert pop3 == b"-ERR [AUTH] Access denied.\r\n"
    p.wait_log(r"user \(not named\): UserUnknown:IMAP Access")
    p.wait_log(r"user \(not named\): UserUnknown:POP3 Access")
    conf["pop3"]["gssapi_without_group"] = "allow"
    conf["imap"]["gssapi_without_group"] = "allow"
    p = start_postern(conf)
    imap, pop3 = gssapi_answers(p)
    # Through the policy, to a backend that lacks the mechanism.
    assert imap == b"a " + UNSUPPORTED_IMAP
    assert pop3 == UNSUPPORTED_POP3
    p.wait_log(r"the backend does not offer AUTHENTICATE GSSAPI")


def test_only_rules_without_a_user_decide_gssapi(start_postern, dovecot):
    base = {"pop3": {"passthrough_mechanisms": "GSSAPI"},
            "imap": {"passthrough_mechanisms": "GSSAPI"}}
    # A rule on users cannot tell: refused.
    conf = dict(base)
    conf['rule "no mallory"'] = {"priority": "2", "action": "deny",
                                 "usernames": "mallory"}
    p = start_postern(conf)
    imap, pop3 = gssapi_answers(p)
    assert imap.startswith(b"a NO [AUTHORIZATIONFAILED]"), imap
    assert pop3 == b"-ERR [AUTH] Access denied.\r\n"
    p.wait_log(r"UserUnknown:no mallory", count=2)
    # A rule on addresses decides first: allowed, as far as the backend.
    conf['rule "loopback"'] = {"priority": "1", "action": "allow",
                               "client_ips": "127.0.0.0/8"}
    p = start_postern(conf)
    imap, pop3 = gssapi_answers(p)
    assert imap == b"a " + UNSUPPORTED_IMAP
    assert pop3 == UNSUPPORTED_POP3


def test_login_types_for_gssapi(start_postern, dovecot):
    conf = {"pop3": {"passthrough_mechanisms": "GSSAPI",
                     "login_type": "PlainTextAuthentication"},
            "imap": {"passthrough_mechanisms": "GSSAPI",
                     "login_type": "PlainTextAuthentication"}}
    p = start_postern(conf)
    # This Dovecot does not offer GSSAPI, and postern asks it at start:
    # the mechanism is not advertised, PLAIN neither (no TLS), and a
    # client that tries GSSAPI gets past the login type to the backend's
    # answer.
    p.wait_log(r"imap backend default does not offer GSSAPI")
    c = LineClient(p.ports["imap"])
    c.readline()
    caps = c.cmd(b"a CAPABILITY")
    assert b"LOGINDISABLED" in caps and b"AUTH=" not in caps, caps
    c.close()
    imap, pop3 = gssapi_answers(p)
    assert imap == b"a " + UNSUPPORTED_IMAP
    assert pop3 == UNSUPPORTED_POP3
    conf["pop3"]["login_type"] = "SecureLogin"
    conf["imap"]["login_type"] = "SecureLogin"
    p = start_postern(conf)
    imap, pop3 = gssapi_answers(p)
    assert imap.startswith(b"a NO [PRIVACYREQUIRED]"), imap
    assert pop3.startswith(b"-ERR"), pop3
    assert b"Unsupported" not in pop3


# --- Through postern to Dovecot with the Samba domain's keytab ------------

samba = pytest.mark.xdist_group("samba")


@pytest.fixture(scope="module")
def ad_dovecot(dovecot, samba_dc):
    """A Dovecot of this module's own in the domain (conftest.py's
    ad_dovecot is shared, and other modules count its logins)."""
    d = helpers.Dovecot(dovecot.users, big_size=0,
                        extra_conf=samba_dc.dovecot_conf())
    yield d
    d.stop()


@pytest.fixture
def ad_postern(postern_bin, ad_dovecot, cert):
    yield from passthru_factory(postern_bin, ad_dovecot, cert, "GSSAPI NTLM")


def b64_runs(path):
    """Every base64 run of 40 characters or more in curl's --trace-ascii
    output: the tickets and tokens of the exchange, both ways."""
    with open(path, errors="replace") as f:
        text = f.read()
    return set(re.findall(r"[A-Za-z0-9+/]{40,}={0,2}", text))


@samba
def test_gssapi_with_a_kinit_ticket_through_postern(ad_postern, ad_dovecot,
                                                    samba_dc, cert):
    d, dc = ad_dovecot, samba_dc
    logdir = helpers.private_tmpdir("postern-gssapi-log.")
    try:
        conf = {}
        for proto, sub in (("pop3", "Pop3"), ("imap", "Imap4")):
            conf[proto] = {"protocol_log_enabled": "yes",
                           "log_file_location": os.path.join(logdir, sub),
                           "log_detail": "commands"}
        p = ad_postern(conf)
        env = dc.kinit("alice")
        runs = set()
        for url in ("imap://localhost:%d/" % p.ports["imap"],
                    "pop3://localhost:%d/" % p.ports["pop3"]):
            trace = os.path.join(logdir, "trace")
            r = curl_gssapi(url, env, "--trace-ascii", trace)
            assert r.returncode == 0, r.stderr
            runs |= b64_runs(trace)
            os.unlink(trace)
        # Implicit TLS too.
        r = curl_gssapi("imaps://localhost:%d/" % p.ports["imaps"], env,
                        "--cacert", cert[0])
        assert r.returncode == 0, r.stderr
        helpers.wait_for(
            lambda: len(re.findall(r"Login: user=<alice>, method=GSSAPI",
                                   d.log())) >= 3, 10, "the GSSAPI logins")
        # The AP-REQ (a Kerberos ticket) went through: "YII..." in base64.
        assert any(x.startswith("YII") for x in runs), runs
        p.stop()
        rows = []
        for path in glob.glob(os.path.join(logdir, "*", "*.LOG")):
            with open(path, "rb") as f:
                raw = f.read()
            for x in runs:
                assert x[:40].encode() not in raw, path
            rows += raw.decode().split("\r\n")
        with open(p.logpath, "rb") as f:
            daemon = f.read()
        for x in runs:
            assert x[:40].encode() not in daemon
        # imap:// and imaps://.
        assert len([r for r in rows if ",authenticate,GSSAPI," in r]) == 2
        assert len([r for r in rows if re.search(r",auth, ?GSSAPI,", r)]) \
            == 1, rows
        assert re.search(rb'closing: client logged out; user="" .*'
                         rb"mech=AUTHENTICATE:GSSAPI ", daemon), daemon
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


@samba
def test_required_group_and_gssapi_without_group(ad_postern, ad_dovecot,
                                                 samba_dc):
    d, dc = ad_dovecot, samba_dc
    env = dc.kinit("bob")
    conf = ad_conf(dc)
    before = len(re.findall(r"Login: user=<bob>, method=GSSAPI", d.log()))
    p = ad_postern(conf)
    for url in ("imap://localhost:%d/" % p.ports["imap"],
                "pop3://localhost:%d/" % p.ports["pop3"]):
        r = curl_gssapi(url, env)
        assert r.returncode == 67, (r.returncode, r.stderr)
    p.wait_log(r"user \(not named\): UserUnknown:IMAP Access")
    p.wait_log(r"user \(not named\): UserUnknown:POP3 Access")
    # The ticket never left postern.
    assert len(re.findall(r"Login: user=<bob>, method=GSSAPI",
                          d.log())) == before
    assert "gssapi(bob" not in d.log()
    conf["imap"]["gssapi_without_group"] = "allow"
    conf["pop3"]["gssapi_without_group"] = "allow"
    p = ad_postern(conf)
    for url in ("imap://localhost:%d/" % p.ports["imap"],
                "pop3://localhost:%d/" % p.ports["pop3"]):
        r = curl_gssapi(url, env)
        assert r.returncode == 0, (r.returncode, r.stderr)
    helpers.wait_for(
        lambda: len(re.findall(r"Login: user=<bob>, method=GSSAPI",
                               d.log())) >= before + 2, 10,
        "bob's GSSAPI logins")
