"""Fixtures of the integration tests.

One private Dovecot serves the whole session; postern processes are
started per test or per module with generated configurations on free
loopback ports.  POSTERN_BIN names the daemon under test.
"""

import os
import secrets
import shutil
import tempfile

import pytest

import helpers
from samba_dc import SambaDC, SambaMissing

# One mailbox per purpose, so that tests that change a mailbox (APPEND,
# DELE, fetchmail) do not disturb those that read one.
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
         "judy", "mallory")

# A password that IMAP must quote with escapes or send as a literal.
SPECIAL_USER = ("ivan", 'q"u\\o{t}e%*')


@pytest.fixture(scope="session")
def postern_bin():
    path = os.environ.get("POSTERN_BIN") or os.path.join(
        helpers.TOP, "build", "postern")
    if not os.access(path, os.X_OK):
        pytest.skip("no postern binary (set POSTERN_BIN)")
    return path


@pytest.fixture(scope="session")
def dovecot():
    if shutil.which("dovecot") is None:
        pytest.skip("dovecot is not installed")
    users = {u: "pw-" + secrets.token_hex(6) for u in USERS}
    users[SPECIAL_USER[0]] = SPECIAL_USER[1]
    d = helpers.Dovecot(users)
    yield d
    d.stop()


@pytest.fixture(scope="session")
def samba_dc(dovecot):
    """The private Samba AD domain controller (tests/integration/samba_dc.py),
    with Dovecot's users under the same passwords; its tests must be in
    the xdist group "samba" (its LDAP ports are fixed)."""
    try:
        dc = SambaDC(dovecot.users)
    except SambaMissing as e:
        pytest.skip(str(e))
    yield dc
    dc.cleanup()


@pytest.fixture(scope="session")
def ad_dovecot(dovecot, samba_dc):
    """A Dovecot of its own in the Samba domain: NTLM through winbind and
    GSSAPI with the keytab of imap/localhost and pop/localhost, besides
    PLAIN and LOGIN; Dovecot's users and passwords
    (SambaDC.dovecot_conf)."""
    d = helpers.Dovecot(dovecot.users, big_size=0,
                        extra_conf=samba_dc.dovecot_conf())
    yield d
    d.stop()


@pytest.fixture(scope="session")
def cert():
    """postern's certificate and key: (crt, key)."""
    d = tempfile.mkdtemp(prefix="postern-cert.")
    yield helpers.make_cert(d, "postern")
    shutil.rmtree(d, ignore_errors=True)


class PosternFactory:
    """Starts postern processes and, at the end of its scope, stops them,
    checking that each exited cleanly and without a sanitizer report."""

    def __init__(self, binary, dovecot, cert):
        self.binary, self.dovecot, self.cert = binary, dovecot, cert
        self.started = []

    def __call__(self, conf=None, start=True):
        p = helpers.Postern(self.binary, self.dovecot, self.cert, conf,
                            start=start)
        self.started.append(p)
        return p

    def finish(self):
        problems = []
        for p in self.started:
            if p.proc is None:
                p.cleanup()
                continue
            expected = p.returncode  # a test that stopped it checked it
            rc = p.stop()
            if expected is None and rc != 0:
                problems.append("postern exited with %s:\n%s"
                                % (rc, p.log()))
            for report in p.sanitizer_reports():
                problems.append("sanitizer report:\n" + report)
            p.cleanup()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def start_postern(postern_bin, dovecot, cert):
    """start_postern(conf=None): a postern for this test only."""
    f = PosternFactory(postern_bin, dovecot, cert)
    yield f
    f.finish()


def passthru_factory(postern_bin, dovecot, cert, mechs):
    """For a fixture to yield from: start(conf=None) starts a postern whose
    passthrough_mechanisms are mechs (one value for both protocols, or a
    (pop3, imap) pair), conf's sections merged over that, and stops them
    all at the end."""
    f = PosternFactory(postern_bin, dovecot, cert)
    pop3, imap = mechs if isinstance(mechs, tuple) else (mechs, mechs)

    def start(conf=None):
        base = {"pop3": {"passthrough_mechanisms": pop3},
                "imap": {"passthrough_mechanisms": imap}}
        for sec, keys in (conf or {}).items():
            base.setdefault(sec, {}).update(keys)
        return f(base)
    yield start
    f.finish()


@pytest.fixture(scope="module")
def module_postern(postern_bin, dovecot, cert):
    """module_postern(conf=None): a postern shared by a module's tests."""
    f = PosternFactory(postern_bin, dovecot, cert)
    yield f
    f.finish()


@pytest.fixture(scope="session")
def sanitized(postern_bin):
    return helpers.is_sanitized(postern_bin)


def _tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report ends with the last lines of its Dovecot's and
    its posterns' logs, so that a failure seen once in CI says which side
    was slow or what postern saw."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    args = getattr(item, "funcargs", {})
    for name in ("dovecot", "ad_dovecot"):
        d = args.get(name)
        if isinstance(d, helpers.Dovecot):
            report.sections.append(("%s log, last lines" % name,
                                    _tail(d.log())))
    for name in ("start_postern", "module_postern"):
        f = args.get(name)
        for i, p in enumerate(getattr(f, "started", [])):
            try:
                text = p.log()
            except OSError:
                continue
            report.sections.append(("postern %d log, last lines" % i,
                                    _tail(text)))
