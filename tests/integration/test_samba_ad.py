"""postern and Dovecot against a real Active Directory: the private Samba
AD domain controller of contrib/samba-test.sh (tests/integration/samba_dc.py).

- postern's LDAP group policy as AD answers: memberOf naming only a
  user's direct groups, nested groups through LDAP_MATCHING_RULE_IN_CHAIN
  (ldap_nested = in_chain, which slapd lacks) or through the walk, AD's
  refusal of a simple bind without TLS; postern's defaults for the user
  filter (sAMAccountName=%u) and the group attribute (memberOf) are AD's.
- Dovecot verifying NTLM against the domain through winbind
  (auth_use_winbind, ntlm_auth), driven by curl's NTLM: the backend half
  of the NTLM pass-through.
- Dovecot verifying GSSAPI (RFC 4752) with a keytab exported from the
  domain (imap/localhost, pop/localhost), the client's ticket from kinit
  against the DC's KDC, driven by curl's GSSAPI; a ticket for another
  host's service, no ticket and a forged token refused.

The API for other modules (the pass-through tests, say); their tests go
in the xdist group "samba" too (pytestmark below):
    samba_dc                 session fixture (conftest.py): the DC, a
                             samba_dc.SambaDC; skips with the reason when
                             Samba or root is missing or another program
                             holds Samba's fixed ports (389, 636, 3268,
                             3269, 135); any other failure is an error.
    ad_dovecot               session fixture (conftest.py): a
                             helpers.Dovecot in the domain offering PLAIN,
                             LOGIN, NTLM (winbind) and GSSAPI (keytab);
                             Dovecot's users with their passwords
                             (d.users), which are also their domain
                             passwords; a domain name alice@POSTERN.TEST
                             or POSTERN\\alice logs in as alice.
                             ntlm_dovecot here is the same Dovecot.
    samba_dc.kinit(user, password=None, ccache=None)
                             a TGT from the DC's KDC in a new credential
                             cache; returns the environment (KRB5_CONFIG,
                             KRB5CCNAME) for curl/klist; raises
                             samba_dc.KinitFailed when the KDC refuses.
    samba_dc.krb5_env()      the same environment with no ticket.
    curl_gssapi(url, env, *curl_args)
                             curl's SASL GSSAPI login with env's tickets;
                             the host in url names the service ticket:
                             localhost (imap/localhost, pop/localhost) is
                             the one Dovecot holds keys for, 127.0.0.1
                             (imap/127.0.0.1, account othermail) one it
                             does not.  curl exits 0 on success, 67 when
                             the server refuses, 94 when it has no ticket.
    curl_ntlm(url, user, password, *curl_args, cafile=None)
                             curl's NTLM login; user as "alice" or
                             "POSTERN\\alice".
ad_dovecot is shared by every test of the run: Dovecot slows down each
later login from an address it saw fail (auth_penalty, up to 15 s), so a
test makes its refused logins from helpers.fresh_source() (curl's
--interface, socket's source_address).

The directory (samba.GROUPS):
    POP3 Access   alice, bob, Helpdesk
      Helpdesk    carol
    IMAP Access   alice, Staff
      Staff       dave, Interns
        Interns   frank
    Contractors   heidi, Temps
      Temps       mallory
    erin, grace, judy, ivan: in no group
"""

import re
import socket
import subprocess

import pytest

import helpers
from samba_dc import KinitFailed
from test_ldap import imap_login, pop3_login

# One DC for the whole run (fixed LDAP ports): all its tests in one worker.
pytestmark = pytest.mark.xdist_group("samba")

DENIED = b"-ERR [AUTH] Access denied."


def ad_conf(dc, **extra):
    """postern's [groups] for the DC, with both group requirements; the
    user filter and group attribute are left at postern's defaults."""
    groups = {"ldap_uri": dc.uri,
              "ldap_ca_file": dc.ca,
              "ldap_bind_dn": dc.service_dn,
              "ldap_bind_password_file": dc.service_pwfile,
              "ldap_base": dc.base,
              "ldap_timeout": "5s"}
    groups.update(extra)
    return {"groups": groups,
            "pop3": {"required_group": "POP3 Access"},
            "imap": {"required_group": "IMAP Access"}}


def values(ldif, attr):
    return re.findall(r"^%s: (.*)$" % re.escape(attr), ldif, re.M)


def test_ad_answers_as_the_policy_tests_expect(samba_dc):
    """What the tests below rely on, as the DC really answers: a user's
    memberOf holds only direct groups; the in-chain rule finds the nested
    ones; the service account can read both."""
    dc = samba_dc
    svc = {"bind_dn": dc.service_dn, "pwfile": dc.service_pwfile + ".raw"}
    with open(dc.service_pwfile) as f, open(svc["pwfile"], "w") as g:
        g.write(f.read().rstrip("\n"))
    out = dc.ldapsearch(dc.base, "(sAMAccountName=carol)", "memberOf", **svc)
    assert values(out, "memberOf") == [dc.dn("Helpdesk")]
    out = dc.ldapsearch(dc.base, "(sAMAccountName=frank)", "memberOf", **svc)
    assert values(out, "memberOf") == [dc.dn("Interns")]
    out = dc.ldapsearch(
        dc.base, "(member:1.2.840.113556.1.4.1941:=%s)" % dc.dn("frank"),
        "1.1", **svc)
    assert sorted(values(out, "dn")) == sorted(
        [dc.dn("Interns"), dc.dn("Staff"), dc.dn("IMAP Access")])
    # A group's own memberOf, which ldap_nested = walk follows.
    out = dc.ldapsearch(dc.base, "(cn=Interns)", "memberOf", **svc)
    assert values(out, "memberOf") == [dc.dn("Staff")]


def test_direct_membership_only_without_nesting(start_postern, dovecot,
                                                samba_dc):
    p = start_postern(ad_conf(samba_dc))
    pw = dovecot.users
    assert pop3_login(p, "alice", pw["alice"]).startswith(b"+OK")
    assert pop3_login(p, "bob", pw["bob"]).startswith(b"+OK")
    assert imap_login(p, "alice", pw["alice"])[0] == "OK"
    # Members only through Helpdesk or Staff: memberOf does not say so.
    assert pop3_login(p, "carol", pw["carol"]) == DENIED
    typ, text = imap_login(p, "dave", pw["dave"])
    assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text
    p.wait_log(r"user carol: NotInGroup:POP3 Access")
    p.wait_log(r"user dave: NotInGroup:IMAP Access")


def test_in_chain_finds_nested_groups(start_postern, dovecot, samba_dc):
    p = start_postern(ad_conf(samba_dc, ldap_nested="in_chain"))
    pw = dovecot.users
    assert pop3_login(p, "alice", pw["alice"]).startswith(b"+OK")
    # One and two levels of nesting.
    assert pop3_login(p, "carol", pw["carol"]).startswith(b"+OK")
    assert imap_login(p, "dave", pw["dave"])[0] == "OK"
    assert imap_login(p, "frank", pw["frank"])[0] == "OK"
    # Not members, directly or not.
    assert pop3_login(p, "erin", pw["erin"]) == DENIED
    for user in ("bob", "carol"):
        typ, text = imap_login(p, user, pw[user])
        assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text, user
        assert "IMAP Access" not in text
    # A user the directory does not know is a member of nothing.
    assert pop3_login(p, "nobody-here", "x") == DENIED
    p.wait_log(r"user erin: NotInGroup:POP3 Access")
    p.wait_log(r"user frank logged in")


def test_walk_reads_groups_memberof_in_ad(start_postern, dovecot, samba_dc):
    p = start_postern(ad_conf(samba_dc, ldap_nested="walk"))
    pw = dovecot.users
    assert imap_login(p, "frank", pw["frank"])[0] == "OK"
    assert pop3_login(p, "carol", pw["carol"]).startswith(b"+OK")
    assert pop3_login(p, "erin", pw["erin"]) == DENIED


def test_access_rule_member_of_through_in_chain(start_postern, dovecot,
                                                samba_dc):
    conf = ad_conf(samba_dc, ldap_nested="in_chain")
    conf["pop3"], conf["imap"] = {}, {}
    conf['rule "no contractors on imap"'] = {
        "priority": "10", "action": "deny", "protocols": "imap",
        "member_of": "Contractors"}
    p = start_postern(conf)
    pw = dovecot.users
    typ, text = imap_login(p, "heidi", pw["heidi"])
    assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text
    # mallory is in Contractors only through Temps.
    typ, text = imap_login(p, "mallory", pw["mallory"])
    assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text
    assert pop3_login(p, "heidi", pw["heidi"]).startswith(b"+OK")
    assert imap_login(p, "judy", pw["judy"])[0] == "OK"
    p.wait_log(r"user heidi: AccessRuleDenied:no contractors on imap")
    p.wait_log(r"user mallory: AccessRuleDenied:no contractors on imap")


def test_ad_refuses_a_simple_bind_without_tls(start_postern, dovecot,
                                              samba_dc):
    """AD (and Samba by default: ldap server require strong auth) refuses
    a password bind in the clear: a lookup failure, never an allow."""
    p = start_postern(ad_conf(samba_dc, ldap_starttls="no",
                              group_cache_ttl="0"))
    answer = pop3_login(p, "alice", dovecot.users["alice"])
    assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
    typ, text = imap_login(p, "alice", dovecot.users["alice"])
    assert typ == "NO" and "[UNAVAILABLE]" in text, text
    p.wait_log(r"user alice: group lookup failed: bind: "
               r"Strong\(er\) authentication required")


# --- NTLM verified by Dovecot through winbind -----------------------------

@pytest.fixture(scope="module")
def ntlm_dovecot(ad_dovecot):
    """conftest.py's ad_dovecot, under the name the NTLM tests (and
    test_passthru_ntlm.py) use."""
    return ad_dovecot


def curl_ntlm(url, user, password, *args, cafile=None):
    return helpers.curl("--login-options", "AUTH=NTLM", *args, url,
                        user=user, password=password, cafile=cafile,
                        timeout=30)


def test_dovecot_verifies_ntlm_against_the_domain(ntlm_dovecot, samba_dc):
    d = ntlm_dovecot
    pw = d.users["alice"]
    r = curl_ntlm("imap://127.0.0.1:%d/" % d.ports["imap"], "alice", pw)
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout
    # POP3 through STARTTLS, and through implicit TLS.
    r = curl_ntlm("pop3://127.0.0.1:%d/" % d.ports["pop3"], "alice", pw,
                  "--ssl-reqd", cafile=d.ca)
    assert r.returncode == 0, r.stderr
    assert re.match(rb"1 \d+\r\n2 \d+\r\n", r.stdout), r.stdout
    r = curl_ntlm("imaps://127.0.0.1:%d/" % d.ports["imaps"], "bob",
                  d.users["bob"], cafile=d.ca)
    assert r.returncode == 0, r.stderr
    d.wait_log(r"Login: user=<alice>, method=NTLM", count=2)
    d.wait_log(r"Login: user=<bob>, method=NTLM")


def test_dovecot_refuses_a_wrong_ntlm_password(ntlm_dovecot, samba_dc):
    d = ntlm_dovecot
    # Refused logins from addresses of their own: Dovecot would slow down
    # every later login from 127.0.0.1 (helpers.fresh_source).
    r = curl_ntlm("imap://127.0.0.1:%d/" % d.ports["imap"], "carol",
                  "not-" + d.users["carol"], "--interface",
                  helpers.fresh_source())
    assert r.returncode == 67, (r.returncode, r.stderr)
    r = curl_ntlm("pop3://127.0.0.1:%d/" % d.ports["pop3"], "no-such-user",
                  "x", "--interface", helpers.fresh_source())
    assert r.returncode == 67, (r.returncode, r.stderr)
    assert "Login: user=<carol>" not in d.log()
    # The refusal is the domain's: winbind says why.
    helpers.wait_for(lambda: "NT_STATUS_WRONG_PASSWORD" in d.log() or
                     "NT_STATUS_LOGON_FAILURE" in d.log(), 10,
                     "the domain's refusal in Dovecot's log")


# --- Kerberos (GSSAPI) verified by Dovecot with the domain's keytab -------

def curl_gssapi(url, env, *args, user="anyone@POSTERN.TEST"):
    """curl's SASL GSSAPI (RFC 4752) with the tickets of env (from
    SambaDC.kinit or krb5_env).  curl asks the KDC for a ticket to the
    URL's host (imap/localhost for imap://localhost, pop/... for POP3);
    it offers GSSAPI only for a user name with a realm, and sends no
    authorization identity: the user is the ticket's principal."""
    cmd = ["curl", "-sS", "--max-time", "30", "--login-options",
           "AUTH=GSSAPI", "-u", user + ":"] + list(args) + [url]
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def klist(env):
    return subprocess.run(["klist"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT).stdout.decode()


def test_dovecot_verifies_a_kerberos_ticket_from_the_domain(ad_dovecot,
                                                            samba_dc):
    d, dc = ad_dovecot, samba_dc
    env = dc.kinit("alice")
    r = curl_gssapi("imap://localhost:%d/" % d.ports["imap"], env)
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout
    r = curl_gssapi("pop3://localhost:%d/" % d.ports["pop3"], env)
    assert r.returncode == 0, r.stderr
    assert re.match(rb"1 \d+\r\n2 \d+\r\n", r.stdout), r.stdout
    # Inside TLS, as a client that protects its ticket from onlookers.
    r = curl_gssapi("imaps://localhost:%d/" % d.ports["imaps"], env,
                    "--cacert", d.ca)
    assert r.returncode == 0, r.stderr
    d.wait_log(r"imap-login: Info: Login: user=<alice>, method=GSSAPI",
               count=2)
    d.wait_log(r"pop3-login: Info: Login: user=<alice>, method=GSSAPI")
    d.wait_log(r"imap-login: Info: Login: user=<alice>, "
               r"method=GSSAPI, .*, TLS")
    # The service tickets came from the domain's KDC, one per service.
    tickets = klist(env)
    assert "imap/localhost@" + dc.realm in tickets
    assert "pop/localhost@" + dc.realm in tickets


def test_dovecot_refuses_a_ticket_for_another_host(ad_dovecot, samba_dc):
    """A real ticket from the same KDC, but for imap/127.0.0.1 (the account
    othermail): sealed with a key Dovecot's keytab does not hold."""
    d, dc = ad_dovecot, samba_dc
    env = dc.kinit("bob")
    r = curl_gssapi("imap://127.0.0.1:%d/" % d.ports["imap"], env,
                    "--interface", helpers.fresh_source())
    assert r.returncode == 67, (r.returncode, r.stderr)
    r = curl_gssapi("pop3://127.0.0.1:%d/" % d.ports["pop3"], env,
                    "--interface", helpers.fresh_source())
    assert r.returncode == 67, (r.returncode, r.stderr)
    tickets = klist(env)
    assert "imap/127.0.0.1@" + dc.realm in tickets
    assert "pop/127.0.0.1@" + dc.realm in tickets
    assert "user=<bob>, method=GSSAPI" not in d.log()
    # Refused for the key, as the acceptor's libkrb5 says.
    refused = (r"gssapi\([^)]*\): While processing incoming data: "
               r"Request ticket server (imap|pop)/127\.0\.0\.1@%s not "
               r"found in keytab" % re.escape(dc.realm))
    helpers.wait_for(
        lambda: set(re.findall(refused, d.log())) == {"imap", "pop"},
        10, "Dovecot's GSSAPI refusals")


def test_dovecot_refuses_gssapi_without_a_ticket(ad_dovecot, samba_dc):
    d, dc = ad_dovecot, samba_dc
    # No ticket: the client has nothing to send (curl's "an
    # authentication function returned an error").
    r = curl_gssapi("imap://localhost:%d/" % d.ports["imap"],
                    dc.krb5_env())
    assert r.returncode == 94, (r.returncode, r.stderr)
    # A token that is no Kerberos ticket at all.
    with socket.create_connection(
            ("127.0.0.1", d.ports["imap"]), timeout=30,
            source_address=(helpers.fresh_source(), 0)) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a AUTHENTICATE GSSAPI\r\n")
        assert f.readline() == b"+ \r\n"
        sock.sendall(b"YIIBCgYJKoZIhvcSAQICAQBuggD5MIIA9aADAgEFoQMCAQ4=\r\n")
        line = f.readline()
        assert line.startswith(b"a NO "), line
    # A wrong password gets no ticket at all.
    with pytest.raises(KinitFailed, match="Preauthentication failed|"
                       "Password incorrect"):
        dc.kinit("carol", "not-" + d.users["carol"])
    # Only alice's ticket (the first test) ever logged in.
    assert set(re.findall(r"Login: user=<([^>]*)>, method=GSSAPI",
                          d.log())) <= {"alice"}
