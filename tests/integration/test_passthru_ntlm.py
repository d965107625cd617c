"""SASL pass-through of NTLM through postern to a Dovecot that verifies
it against the private Samba AD domain controller through winbind
(test_samba_ad.py's ntlm_dovecot).  postern relays the Type 1 and the
Type 2, reads the user from the client's Type 3 and applies its policy
(rules, groups from the DC's LDAP, throttle) before that message may
reach the backend."""

import base64
import glob
import json
import os
import re
import shutil
import struct
import subprocess

import pytest

import helpers
from conftest import passthru_factory
from helpers import LineClient
from test_samba_ad import ad_conf, curl_ntlm

# One DC for the whole run (fixed LDAP ports): all its tests in one worker.
pytestmark = pytest.mark.xdist_group("samba")

# A real Type 1 (tests/data/ntlm/captured.txt): it names nobody.
TYPE1 = b"TlRMTVNTUAABAAAABYIIYgAAAAAoAAAAAAAAACgAAAAGAQAAAAAADw=="


@pytest.fixture(scope="module")
def ntlm_dovecot(dovecot, samba_dc):
    """A Dovecot of this module's own in the domain (conftest.py's
    ad_dovecot is shared, and this module checks whom it never saw)."""
    d = helpers.Dovecot(dovecot.users, big_size=0,
                        extra_conf=samba_dc.dovecot_conf())
    yield d
    d.stop()


@pytest.fixture
def postern(postern_bin, ntlm_dovecot, cert):
    yield from passthru_factory(postern_bin, ntlm_dovecot, cert, "NTLM")


def dovecot_saw(d, user):
    return re.search(r"\b%s\b" % re.escape(user), d.log()) is not None


def test_ntlm_through_postern_pop3_imap_starttls_and_tls(
        postern, ntlm_dovecot, samba_dc, cert):
    d = ntlm_dovecot
    p = postern()
    pw = d.users["alice"]
    r = curl_ntlm("imap://127.0.0.1:%d/" % p.ports["imap"], "alice", pw)
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout
    # The domain\user form, over POP3 with STARTTLS.
    r = curl_ntlm("pop3://127.0.0.1:%d/" % p.ports["pop3"],
                  samba_dc.domain + "\\alice", pw, "--ssl-reqd",
                  cafile=cert[0])
    assert r.returncode == 0, r.stderr
    assert re.match(rb"1 \d+\r\n", r.stdout), r.stdout
    # Implicit TLS, both protocols.
    r = curl_ntlm("imaps://127.0.0.1:%d/" % p.ports["imaps"], "bob",
                  d.users["bob"], cafile=cert[0])
    assert r.returncode == 0, r.stderr
    r = curl_ntlm("pop3s://127.0.0.1:%d/" % p.ports["pop3s"], "bob",
                  d.users["bob"], cafile=cert[0])
    assert r.returncode == 0, r.stderr
    # A wrong password is the domain's refusal, relayed.
    r = curl_ntlm("imap://127.0.0.1:%d/" % p.ports["imap"], "carol",
                  "not-" + d.users["carol"])
    assert r.returncode == 67, (r.returncode, r.stderr)
    # The daemon log writes the backslash as \x5c.
    p.wait_log(r"closing: .*user=%s\\x5calice " % re.escape(samba_dc.domain))
    p.wait_log(r"closing: .*user=bob ", count=2)
    log = p.log()
    assert re.search(r"user=alice .*mech=AUTHENTICATE:NTLM ", log), log
    assert re.search(r"user=bob .*mech=AUTH:NTLM ", log), log
    d.wait_log(r"Login: user=<alice>, method=NTLM", count=2)
    d.wait_log(r"Login: user=<bob>, method=NTLM", count=2)


def test_group_rule_refuses_the_user_before_the_type3_leaves(
        postern, ntlm_dovecot, samba_dc):
    """heidi is in Contractors: postern learns it from the DC once the
    Type 3 names her, and cancels the exchange at Dovecot instead."""
    d = ntlm_dovecot
    conf = ad_conf(samba_dc)
    conf['rule "no contractors"'] = {"priority": "1", "action": "deny",
                                     "member_of": "Contractors"}
    p = postern(conf)
    for url in ("imap://127.0.0.1:%d/" % p.ports["imap"],
                "pop3://127.0.0.1:%d/" % p.ports["pop3"]):
        r = curl_ntlm(url, "heidi", d.users["heidi"])
        assert r.returncode == 67, (r.returncode, r.stderr)
    p.wait_log(r"user heidi: AccessRuleDenied:no contractors", count=2)
    p.wait_log(r"user heidi: (AUTHENTICATE|AUTH) NTLM: the exchange is "
               r"cancelled at the backend", count=2)
    # alice is let through under the same rules.
    r = curl_ntlm("imap://127.0.0.1:%d/" % p.ports["imap"], "alice",
                  d.users["alice"])
    assert r.returncode == 0, r.stderr
    helpers.wait_for(lambda: "Login: user=<alice>, method=NTLM" in d.log(),
                     10, "alice's login")
    # The Type 3 never reached Dovecot: it never heard of heidi.
    assert not dovecot_saw(d, "heidi")


def type2_of(line):
    assert line.startswith(b"+ "), line
    return base64.b64decode(line[2:].strip())


def forged_type3():
    """A Type 3 whose user field lies past the end of the message."""
    hdr = bytearray(64)
    hdr[0:8] = b"NTLMSSP\0"
    struct.pack_into("<I", hdr, 8, 3)
    struct.pack_into("<HHI", hdr, 28, 2, 2, 64)     # domain "D"
    struct.pack_into("<HHI", hdr, 36, 10, 10, 200)  # user: past the end
    struct.pack_into("<I", hdr, 60, 1)              # UNICODE
    return base64.b64encode(bytes(hdr) + b"D\0" + b"x" * 10)


def test_forged_type3_and_cancellation(postern, ntlm_dovecot):
    p = postern()
    c = LineClient(p.ports["imap"])
    c.readline()
    assert c.cmd(b"a AUTHENTICATE NTLM") == b"+ \r\n"
    t2 = type2_of(c.cmd(TYPE1))
    assert t2[:12] == b"NTLMSSP\0\x02\0\0\0"
    assert c.cmd(forged_type3()) == b"a BAD Invalid SASL response.\r\n"
    # Cancelled after the Type 2: the backend gets the "*".
    assert c.cmd(b"b AUTHENTICATE NTLM " + TYPE1).startswith(b"+ ")
    assert c.cmd(b"*") == b"b BAD Authentication cancelled.\r\n"
    # A Type 3 where the Type 1 belongs.
    assert c.cmd(b"c AUTHENTICATE NTLM " + forged_type3()) \
        == b"c BAD Invalid SASL response.\r\n"
    assert c.cmd(b"d NOOP").startswith(b"d OK")
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH NTLM") == b"+ \r\n"
    type2_of(c.cmd(TYPE1))
    assert c.cmd(forged_type3()).startswith(b"-ERR")
    assert c.cmd(b"AUTH NTLM " + TYPE1).startswith(b"+ ")
    assert c.cmd(b"*") == b"-ERR Authentication cancelled.\r\n"
    assert c.cmd(b"STAT").startswith(b"-ERR")  # not logged in
    c.close()
    log = p.log()
    assert len(re.findall(r"NTLM refused: malformed message: NTLMSSP "
                          r"field offset or length outside the message",
                          log)) == 2
    assert "NTLM refused: malformed message: the first message is not an " \
        "NTLM NEGOTIATE" in log


def test_mechanism_the_backend_does_not_offer(start_postern, dovecot):
    """The session Dovecot offers PLAIN and LOGIN only."""
    p = start_postern({"imap": {"passthrough_mechanisms": "NTLM"},
                       "pop3": {"passthrough_mechanisms": "NTLM"}})
    c = LineClient(p.ports["imap"])
    c.readline()
    assert c.cmd(b"b AUTHENTICATE NTLM " + TYPE1) \
        == b"b NO [CANNOT] Unsupported authentication mechanism.\r\n"
    caps = c.cmd(b"c CAPABILITY")
    assert b"NTLM" not in caps
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH NTLM " + TYPE1) \
        == b"-ERR Unsupported authentication mechanism.\r\n"
    c.close()
    p.wait_log(r"the backend does not offer AUTHENTICATE NTLM")


def test_login_types_for_ntlm(postern, ntlm_dovecot, cert):
    d = ntlm_dovecot
    # PlainTextAuthentication: NTLM without TLS, not PLAIN.
    p = postern({"imap": {"login_type": "PlainTextAuthentication"},
                 "pop3": {"login_type": "PlainTextAuthentication"}})
    r = curl_ntlm("imap://127.0.0.1:%d/" % p.ports["imap"], "alice",
                  d.users["alice"])
    assert r.returncode == 0, r.stderr
    r = curl_ntlm("pop3://127.0.0.1:%d/" % p.ports["pop3"], "alice",
                  d.users["alice"])
    assert r.returncode == 0, r.stderr
    c = LineClient(p.ports["imap"])
    c.readline()
    r = c.cmd(b"a AUTHENTICATE PLAIN " +
              base64.b64encode(b"\0alice\0" + d.users["alice"].encode()))
    assert r.startswith(b"a NO [PRIVACYREQUIRED]"), r
    c.close()
    # SecureLogin: not before TLS, then yes.
    p = postern({"imap": {"login_type": "SecureLogin"},
                 "pop3": {"login_type": "SecureLogin"}})
    c = LineClient(p.ports["imap"])
    c.readline()
    caps = c.cmd(b"a CAPABILITY")
    assert b"NTLM" not in caps
    c.readline()
    assert c.cmd(b"b AUTHENTICATE NTLM " + TYPE1).startswith(
        b"b NO [PRIVACYREQUIRED]")
    c.close()
    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH NTLM " + TYPE1).startswith(b"-ERR")
    c.close()
    r = curl_ntlm("imap://127.0.0.1:%d/" % p.ports["imap"], "alice",
                  d.users["alice"], "--ssl-reqd", cafile=cert[0])
    assert r.returncode == 0, r.stderr
    assert not [ln for ln in p.log().splitlines()
                if "password in the clear" in ln and "NTLM" in ln]


def sent_blobs(trace):
    """The base64 lines curl sent during its NTLM exchange (its
    --trace-ascii output): the Type 1 and the Type 3."""
    with open(trace, errors="replace") as f:
        text = f.read()
    return set(m for m in re.findall(r"TlRMTVNTUA[A-Za-z0-9+/=]+", text))


def test_protocol_log_names_ntlm_and_never_its_messages(
        postern, ntlm_dovecot, postern_bin):
    d = ntlm_dovecot
    logdir = helpers.private_tmpdir("postern-ntlm-log.")
    try:
        conf = {}
        for proto, sub in (("pop3", "Pop3"), ("imap", "Imap4")):
            conf[proto] = {"protocol_log_enabled": "yes",
                           "log_file_location": os.path.join(logdir, sub),
                           "log_detail": "commands",
                           "login_type": "SecureLogin",
                           "login_type_mode": "audit"}
        p = postern(conf)
        blobs = set()
        for url, who in (("imap://127.0.0.1:%d/" % p.ports["imap"], "alice"),
                         ("pop3://127.0.0.1:%d/" % p.ports["pop3"], "bob")):
            trace = os.path.join(logdir, "trace")
            r = curl_ntlm(url, who, d.users[who], "--trace-ascii", trace)
            assert r.returncode == 0, r.stderr
            blobs |= sent_blobs(trace)
            os.unlink(trace)
        # Two Type 1 (alike) and two Type 3 at least.
        assert len(blobs) >= 3, blobs
        p.stop()
        rows = []
        for path in glob.glob(os.path.join(logdir, "*", "*.LOG")):
            with open(path, "rb") as f:
                raw = f.read()
            for b in blobs:
                # Even a piece of a message: its first 40 characters
                # after the common signature.
                assert b[10:50].encode() not in raw, path
            rows += raw.decode().split("\r\n")
        with open(p.logpath, "rb") as f:
            daemon = f.read()
        for b in blobs:
            assert b[10:50].encode() not in daemon
        imap = [r for r in rows if ",authenticate,NTLM," in r]
        assert len(imap) == 1, rows
        # SecureLogin in audit mode: NTLM without TLS would be refused.
        assert "LoginTypeAudit" in imap[0], imap
        pop = [r for r in rows if ",auth, NTLM," in r or ",auth,NTLM," in r]
        assert len(pop) == 1, rows
        assert ",bob," in pop[0]
        # postern-inventory reads the mechanism from these rows: NTLM
        # without TLS breaks under SecureLogin, not under
        # PlainTextAuthentication, and none of it is a password.
        inv = os.path.join(os.path.dirname(postern_bin), "postern-inventory")
        if not os.access(inv, os.X_OK):
            pytest.skip("no postern-inventory next to " + postern_bin)
        r = subprocess.run([inv, "--format", "json", "--by", "user", logdir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           check=True)
        report = json.loads(r.stdout)
        by_user = {rec["user"]: rec for rec in report["records"]}
        assert set(by_user) == {"alice", "bob"}, by_user
        for user, rec in by_user.items():
            assert rec["mechanisms"] == ["NTLM"], rec
            assert rec["cleartext_password_logins"] == 0, rec
            assert rec["would_break_under"] == {
                "SecureLogin": True, "PlainTextAuthentication": False,
                "PlainTextLogin": False}, rec
        for b in blobs:
            assert b[10:50].encode() not in r.stdout + r.stderr
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
