"""Routing by an attribute of the user's directory entry.

The two Dovecots of test_routing.py ("old" and "new", the same users with
a message on each that says which server it is on) and a private slapd
whose people carry the route in `description`, as a site would in
msExchHomeServerName: [route_values] maps the values to the backends.
The attribute is read in the group lookup's own search; the tests below
need no group at all, so the lookup happens for the route alone.
"""

import base64
import os
import re
import secrets
import subprocess
import time

import pytest

import helpers
from test_routing import (USERS, conf, imap_login, imap_server, login_rows,
                          pop3_server, dovecot_logins, servers,  # noqa: F401
                          workdir, write_map)  # noqa: F401

BASE = "dc=example,dc=org"
SERVICE_DN = "cn=postern,ou=service," + BASE
# An Exchange legacy DN holds '=': [route_values] takes it as written.
LEGACY = ("/o=Example/ou=Exchange-Administrative-Group(FYDIBOHF23SPDLT)"
          "/cn=Configuration/cn=Servers/cn=EXCH2016-MBX2")
ROUTE = {"cat": ["EXCH2016-MBX1"],       # new, other case than configured
         "amy": [LEGACY],                # new
         "dan": [],                      # none: the protocol's backend
         "eve": ["exch2003-mbx9"],       # a server nobody mapped
         "ben": ["exch2016-mbx1", "exch2010-mbx1"]}  # two different values


def uid(user):
    return user.split("@")[0]


def entry_dn(user):
    return "uid=%s,ou=people,%s" % (uid(user), BASE)


def directory_ldif(service_pw):
    out = ["dn: ou=service,%s\nobjectClass: organizationalUnit\n"
           "ou: service\n" % BASE,
           "dn: %s\nobjectClass: organizationalRole\n"
           "objectClass: simpleSecurityObject\ncn: postern\n"
           "userPassword: %s\n" % (SERVICE_DN, service_pw)]
    for u in sorted(USERS):
        out.append("dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\n"
                   "sn: %s\n%s" % (entry_dn(u), uid(u), uid(u), uid(u),
                                   "".join("description: %s\n" % v
                                           for v in ROUTE[uid(u)])))
    return "\n".join(out)


@pytest.fixture(scope="module")
def slapd():
    pw = "svc-" + secrets.token_hex(8)
    try:
        s = helpers.Slapd(directory_ldif(pw))
    except helpers.SlapdMissing as e:
        pytest.skip(str(e))
    s.service_pwfile = os.path.join(s.dir, "service.pw")
    with open(s.service_pwfile, "w") as f:
        f.write(pw + "\n")
    yield s
    s.cleanup()


def ldap_conf(servers, workdir, slapd, unmapped=None, ttl="1m"):
    c = conf(servers, workdir, "# eve stays where she is, whatever "
             "the directory says\neve old\n")
    c["groups"] = {"ldap_uri": slapd.uri,
                   "ldap_ca_file": slapd.ca,
                   "ldap_bind_dn": SERVICE_DN,
                   "ldap_bind_password_file": slapd.service_pwfile,
                   "ldap_base": BASE,
                   "ldap_user_filter":
                       "(&(objectClass=inetOrgPerson)(uid=%u))",
                   "ldap_group_attribute": "memberOf",
                   "ldap_timeout": "3s",
                   "group_cache_ttl": ttl}
    c["routing"]["ldap_route_attribute"] = "description"
    if unmapped is not None:
        c["routing"]["unmapped_route"] = unmapped
    c["route_values"] = {"exch2016-mbx1": "new", LEGACY: "new",
                         "exch2010-mbx1": "old"}
    return c


def set_route(slapd, user, values):
    """Replaces the user's description with values (bytes or str)."""
    lines = ["dn: %s" % entry_dn(user), "changetype: modify",
             "replace: description"]
    for v in values:
        if isinstance(v, bytes):
            lines.append("description:: " + base64.b64encode(v).decode())
        else:
            lines.append("description: " + v)
    slapd.modify("\n".join(lines) + "\n-\n")


def refused_for_now(p, user):
    """Both protocols answer the login with a temporary failure."""
    c = helpers.LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    c.send(b"a LOGIN %s %s\r\n" % (user.encode(), USERS[user].encode()))
    assert c.readline().startswith(b"a NO [UNAVAILABLE]")
    c.close()
    c = helpers.LineClient(p.ports["pop3"])
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
    assert c.cmd(b"PASS " + USERS[user].encode()).startswith(
        b"-ERR [SYS/TEMP]")
    c.close()


def run_test_rule(p, user):
    return subprocess.run(
        [p.binary, "test-rule", "-c", p.path, "--protocol", "imap",
         "--client", "127.0.0.1", "--user", user],
        capture_output=True, text=True, timeout=60)


def test_the_directory_routes_each_user(start_postern, servers, workdir,
                                        slapd):
    p = start_postern(ldap_conf(servers, workdir, slapd))
    want = {"cat": ("new", "ldap:exch2016-mbx1"),
            "amy@example.org": ("new", "ldap:" + LEGACY),
            "dan": ("old", "default"),
            # The map comes before the directory.
            "eve": ("old", "map:2:user-part")}
    for user, (server, route) in want.items():
        c = imap_login(p, user)
        assert imap_server(c) == server, user
        c.logout()
        assert pop3_server(p, user) == server, user
        p.wait_log(r"user %s logged in \(backend %s 127\.0\.0\.1:\d+, "
                   r"route %s\)" % (re.escape(user), server,
                                    re.escape(route)), count=2)
    for proto_dir in ("Imap4", "Pop3"):
        rows = helpers.wait_for(
            lambda: len(login_rows(workdir, proto_dir)) >= len(want)
            and login_rows(workdir, proto_dir), 10, "the login rows")
        for user, ctx in rows:
            server, route = want[user]
            assert ctx["Backend"] == server, (user, ctx)
            assert ctx["Route"] == route, (user, ctx)


def test_an_unmapped_value_is_refused_for_now_by_default(
        start_postern, servers, workdir, slapd):
    p = start_postern(ldap_conf(servers, workdir, slapd))
    before = {n: dovecot_logins(d, "ben@example.net")
              for n, d in servers.items()}
    # ben has two different values: no route either.
    refused_for_now(p, "ben@example.net")
    p.wait_log(r"user ben@example\.net: no route: description has several "
               r"different values; login refused for now "
               r"\(unmapped_route = refuse\)")
    # Neither server saw the credentials.
    assert {n: dovecot_logins(d, "ben@example.net")
            for n, d in servers.items()} == before
    rows = helpers.wait_for(lambda: login_rows(workdir, "Pop3"), 10,
                            "the login row")
    assert rows[0][1]["ErrMsg"] == "RouteUnmapped", rows
    r = run_test_rule(p, "ben@example.net")
    assert r.returncode == 2, r.stdout + r.stderr
    assert re.search(r"^ldap +description: no route: several different "
                     r"values$", r.stdout, re.M), r.stdout
    assert re.search(r"^backend +none: ", r.stdout, re.M), r.stdout


def test_unmapped_route_default_sends_to_the_protocols_backend(
        start_postern, servers, workdir, slapd):
    c = ldap_conf(servers, workdir, slapd, unmapped="default")
    c["imap"]["backend"] = c["pop3"]["backend"] = "new"
    p = start_postern(c)
    c = imap_login(p, "ben@example.net")
    assert imap_server(c) == "new"
    c.logout()
    assert pop3_server(p, "ben@example.net") == "new"
    p.wait_log(r"user ben@example\.net: description has several different "
               r"values: the protocol's backend "
               r"\(unmapped_route = default\)", count=2)
    p.wait_log(r"user ben@example\.net logged in \(backend new .*route "
               r"ldap-unmapped\)", count=2)
    r = run_test_rule(p, "ben@example.net")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^route +ldap-unmapped$", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("unmapped", ["refuse", "default"])
def test_a_value_nobody_mapped_follows_unmapped_route(
        start_postern, servers, workdir, slapd, unmapped):
    """eve's entry names exch2003-mbx9, which [route_values] lacks; with
    the map silent on her, unmapped_route alone decides."""
    c = ldap_conf(servers, workdir, slapd, unmapped=unmapped)
    # The protocols' backend is "new": a login that reaches it went
    # there by unmapped_route, not by the "old" the map would give.
    c["imap"]["backend"] = c["pop3"]["backend"] = "new"
    write_map(workdir, "# nobody\n")
    p = start_postern(c)
    what = r"description 'exch2003-mbx9' is not in \[route_values\]"
    r = run_test_rule(p, "eve")
    assert re.search(r"^ldap +description: 'exch2003-mbx9' \(not in "
                     r"\[route_values\]\)$", r.stdout, re.M), r.stdout
    if unmapped == "refuse":
        before = {n: dovecot_logins(d, "eve") for n, d in servers.items()}
        refused_for_now(p, "eve")
        # Once per value in ten seconds: the POP3 refusal is counted.
        p.wait_log(r"user eve: no route: " + what +
                   r"; login refused for now \(unmapped_route = refuse\)")
        assert {n: dovecot_logins(d, "eve")
                for n, d in servers.items()} == before
        rows = helpers.wait_for(lambda: login_rows(workdir, "Imap4"), 10,
                                "the login row")
        assert rows[0][1]["ErrMsg"] == "RouteUnmapped", rows
        assert "Backend" not in rows[0][1], rows
        assert r.returncode == 2, r.stdout + r.stderr
        assert re.search(r"^backend +none: the directory's value names no "
                         r"backend", r.stdout, re.M), r.stdout
        return
    s = imap_login(p, "eve")
    assert imap_server(s) == "new"
    s.logout()
    assert pop3_server(p, "eve") == "new"
    p.wait_log(r"user eve: " + what + r": the protocol's backend "
               r"\(unmapped_route = default\)", count=2)
    p.wait_log(r"user eve logged in \(backend new 127\.0\.0\.1:\d+, "
               r"route ldap-unmapped\)", count=2)
    for proto_dir in ("Imap4", "Pop3"):
        rows = helpers.wait_for(lambda: login_rows(workdir, proto_dir), 10,
                                "the login row")
        assert rows[0][1]["Backend"] == "new", rows
        assert rows[0][1]["Route"] == "ldap-unmapped", rows
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^backend +new \(127\.0\.0\.1 port %d\)$"
                     % servers["new"].ports["imap"], r.stdout, re.M), \
        r.stdout
    assert re.search(r"^route +ldap-unmapped$", r.stdout, re.M), r.stdout


def test_a_changed_value_counts_after_the_cache_time(
        start_postern, servers, workdir, slapd):
    p = start_postern(ldap_conf(servers, workdir, slapd, ttl="3s"))
    try:
        assert pop3_server(p, "cat") == "new"
        set_route(slapd, "cat", ["exch2010-mbx1"])
        # The cached answer holds until group_cache_ttl is over ...
        assert pop3_server(p, "cat") == "new"
        time.sleep(3.5)
        # ... then the directory's new value moves the user.
        assert pop3_server(p, "cat") == "old"
        p.wait_log(r"user cat logged in \(backend old .*route "
                   r"ldap:exch2010-mbx1\)")
        # Bytes a value cut short would map (control bytes) are no
        # route: refused for now, never sent to "new".
        set_route(slapd, "cat", [b"exch2016-mbx1\x01"])
        time.sleep(3.5)
        refused_for_now(p, "cat")
        p.wait_log(r"user cat: no route: description has a value with "
                   r"control bytes")
        # So is a value longer than any route.
        set_route(slapd, "cat", ["exch2016-mbx1" + "x" * 300])
        time.sleep(3.5)
        refused_for_now(p, "cat")
        p.wait_log(r"user cat: no route: description has a value longer "
                   r"than 256 bytes")
    finally:
        set_route(slapd, "cat", ROUTE["cat"])


def test_test_rule_shows_the_directory_value(start_postern, servers,
                                             workdir, slapd):
    p = start_postern(ldap_conf(servers, workdir, slapd), start=False)
    r = run_test_rule(p, "cat")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^groups +none$", r.stdout, re.M), r.stdout
    assert re.search(r"^ldap +description: 'EXCH2016-MBX1' "
                     r"\(\[route_values\] line \d+: new\)$", r.stdout,
                     re.M), r.stdout
    assert re.search(r"^backend +new \(127\.0\.0\.1 port %d\)$"
                     % servers["new"].ports["imap"], r.stdout, re.M), \
        r.stdout
    assert re.search(r"^route +ldap:exch2016-mbx1$", r.stdout, re.M), \
        r.stdout
    r = run_test_rule(p, "dan")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^ldap +description: none \(the next source "
                     r"decides\)$", r.stdout, re.M), r.stdout
    assert re.search(r"^route +default$", r.stdout, re.M), r.stdout
    # The directory names a server nobody mapped; the map decides first.
    r = run_test_rule(p, "eve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^ldap +description: 'exch2003-mbx9' \(not in "
                     r"\[route_values\]\)$", r.stdout, re.M), r.stdout
    assert re.search(r"^route +map:2:user-part$", r.stdout, re.M), r.stdout


def test_the_attribute_needs_a_directory(start_postern, postern_bin,
                                         servers, workdir, slapd):
    c = ldap_conf(servers, workdir, slapd)
    del c["groups"]
    p = start_postern(c, start=False)
    r = subprocess.run([postern_bin, "-t", "-c", p.path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert re.search(r":\d+: \[routing\] ldap_route_attribute: the "
                     r"attribute is read with the user's groups from the "
                     r"directory, and \[groups\] has no ldap_uri\n",
                     r.stderr), r.stderr
