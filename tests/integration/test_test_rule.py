"""postern test-rule: what the access policy and the routing would do with
one login, asked from the command line against a real configuration, a
real groups file and a real map file.  Exit status 0 allow (audit too),
1 deny, 2 error."""

import os
import re
import subprocess

import pytest

import helpers

GROUPS = """\
Staff: alice, bob, legacy
Migration Wave 3: carol
"""

# alice is in the map; bob is not, so he takes the protocol's backend.
MAP = """\
# user      backend
alice       new
"""


@pytest.fixture
def conf(start_postern, tmp_path):
    os.chmod(tmp_path, 0o755)
    (tmp_path / "groups").write_text(GROUPS)
    (tmp_path / "map").write_text(MAP)
    p = start_postern({
        "backend \"new\"": {"imap": "127.0.0.1:1993",
                            "pop3": "127.0.0.1:1995"},
        "routing": {"map_file": str(tmp_path / "map")},
        "groups": {"file": str(tmp_path / "groups")},
        "imap": {"login_type": "PlainTextAuthentication"},
        "pop3": {"required_group": "Staff"},
        "rule \"block-net\"": {"priority": "10", "action": "deny",
                               "client_ips": "10.9.0.0/16"},
        "rule \"legacy-audit\"": {"priority": "20", "action": "audit",
                                  "usernames": "legacy"},
        "rule \"staff-only\"": {"priority": "30", "action": "deny",
                                "protocols": "imap",
                                "except_member_of": ["Staff",
                                                     "Migration Wave 3"]},
    }, start=False)
    return p


def run(p, *args, path=None):
    cmd = [p.binary, "test-rule", "-c", path or p.path] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "Sanitizer" not in r.stderr, r.stderr
    return r


def fields(out):
    """The output's 'label   value' lines as a dict."""
    d = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+)\s+(.*)$", line)
        assert m, "not a 'label value' line: %r" % line
        d[m.group(1)] = m.group(2)
    return d


def test_allow_routed_by_the_map(conf):
    r = run(conf, "--protocol", "imap", "--client", "10.1.2.3",
            "--user", "alice", "--tls")
    assert r.returncode == 0, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["decision"] == "allow"
    assert f["groups"] == "Staff"
    assert f["backend"].startswith("new ")
    assert f["route"] == "map:2:user-part"
    # The value columns line up, for a person reading them.
    cols = {line.index(v) for line in r.stdout.splitlines()
            for v in [line.split(None, 1)[1]]}
    assert len(cols) == 1


def test_allow_default_route(conf):
    r = run(conf, "--protocol", "imap", "--client", "10.1.2.3",
            "--user", "bob", "--tls")
    assert r.returncode == 0, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["decision"] == "allow"
    assert f["backend"].startswith("default ")
    assert f["route"] == "default"


def test_deny_by_connect_rule(conf):
    r = run(conf, "--protocol", "imap", "--client", "10.9.8.7",
            "--user", "alice", "--tls")
    assert r.returncode == 1, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["decision"] == "deny"
    assert f["by"].startswith('rule "block-net"')
    assert f["log"] == "AccessRuleDenied:block-net"
    assert "route" not in f
    # Without a user the connect-time rule decides alone.
    r = run(conf, "--protocol", "pop3", "--client", "10.9.8.7")
    assert r.returncode == 1
    assert "at connect time" in fields(r.stdout)["by"]


def test_deny_login_type_without_tls(conf):
    r = run(conf, "--protocol", "imap", "--client", "10.1.2.3",
            "--user", "alice")
    assert r.returncode == 1, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["decision"] == "deny"
    assert "login_type" in f["by"]
    assert f["log"] == "LoginTypeDenied"


def test_deny_by_group(conf):
    # A rule's except_member_of: dave is in no group.
    r = run(conf, "--protocol", "imap", "--client", "10.1.2.3",
            "--user", "dave", "--tls")
    assert r.returncode == 1, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["groups"] == "none"
    assert f["by"].startswith('rule "staff-only"')
    assert f["log"] == "AccessRuleDenied:staff-only"
    # The protocol's required_group: carol is in another group.
    r = run(conf, "--protocol", "pop3", "--client", "10.1.2.3",
            "--user", "carol", "--tls")
    assert r.returncode == 1, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["groups"] == "Migration Wave 3"
    assert 'required_group "Staff"' in f["by"]
    assert f["log"] == "NotInGroup:Staff"


def test_audit_counts_as_allow(conf):
    r = run(conf, "--protocol", "imap", "--client", "10.1.2.3",
            "--user", "legacy", "--tls")
    assert r.returncode == 0, r.stdout + r.stderr
    f = fields(r.stdout)
    assert f["decision"] == "audit"
    assert f["by"].startswith('rule "legacy-audit"')
    assert f["log"] == "AuditAccessRuleDenied:legacy-audit"
    assert f["route"] == "default"


def test_errors(conf, tmp_path):
    base = ["--client", "10.1.2.3", "--user", "alice"]
    for args in (["--protocol", "smtp"] + base,
                 ["--protocol", "imap", "--client", "not-an-address"],
                 ["--protocol", "imap"],
                 ["--protocol", "imap", "--bogus"] + base):
        r = run(conf, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stdout == ""
        assert r.stderr != ""
    r = run(conf, "--protocol", "imap", *base,
            path=str(tmp_path / "missing.ini"))
    assert r.returncode == 2
    assert "missing.ini" in r.stderr


def test_group_lookup_failure_is_an_error(start_postern):
    port = helpers.free_ports(1)[0]  # nothing listens there
    p = start_postern({
        "groups": {"ldap_uri": "ldap://127.0.0.1:%d" % port,
                   "ldap_base": "dc=example,dc=org",
                   "ldap_timeout": "2s"},
        "imap": {"required_group": "Staff"},
    }, start=False)
    r = run(p, "--protocol", "imap", "--client", "127.0.0.1",
            "--user", "alice", "--tls")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "group lookup" in r.stderr
    assert "decision" not in r.stdout
    # A login that needs no group is still answered.
    r = run(p, "--protocol", "pop3", "--client", "127.0.0.1",
            "--user", "alice", "--tls")
    assert r.returncode == 0, r.stdout + r.stderr
