"""Group memberships from a real OpenLDAP directory through postern and
Dovecot: a private slapd (contrib/slapd-test.sh) on loopback with StartTLS,
a service account postern binds with, the Dovecot users as directory
entries, nested groups kept by the memberof overlay.

The directory:
    POP3 Access   alice, bob, Helpdesk
      Helpdesk    carol
    IMAP Access   alice, Staff
      Staff       dave, Interns
        Interns   frank
    Contractors   heidi, Temps
      Temps       mallory
    erin, grace, judy: in no group (grace is added and removed by a test)
"""

import concurrent.futures
import contextlib
import imaplib
import math
import os
import re
import poplib
import secrets
import signal
import socket
import threading
import time

import pytest

import helpers

BASE = "dc=example,dc=org"
SERVICE_DN = "cn=postern,ou=service," + BASE

GROUPS = {
    "Helpdesk": ["carol"],
    "POP3 Access": ["alice", "bob", "cn=Helpdesk"],
    "Interns": ["frank"],
    "Staff": ["dave", "cn=Interns"],
    "IMAP Access": ["alice", "cn=Staff"],
    "Temps": ["mallory"],
    "Contractors": ["heidi", "cn=Temps"],
}


def dn(member):
    if member.startswith("cn="):
        return "%s,ou=groups,%s" % (member, BASE)
    return "uid=%s,ou=people,%s" % (member, BASE)


def directory_ldif(users, service_pw):
    out = ["dn: ou=service,%s\nobjectClass: organizationalUnit\n"
           "ou: service\n" % BASE,
           "dn: %s\nobjectClass: organizationalRole\n"
           "objectClass: simpleSecurityObject\ncn: postern\n"
           "userPassword: %s\n" % (SERVICE_DN, service_pw)]
    for u in sorted(users):
        out.append("dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\n"
                   "sn: %s\n" % (dn(u), u, u.capitalize(), u[0].upper()))
    # A group after its members: the memberof overlay writes memberOf
    # only on entries that exist.
    for g, members in GROUPS.items():
        out.append("dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\n"
                   "cn: %s\n%s" % (g, BASE, g, "".join(
                       "member: %s\n" % dn(m) for m in members)))
    return "\n".join(out)


@pytest.fixture(scope="module")
def slapd(dovecot):
    pw = "svc-" + secrets.token_hex(8)
    try:
        s = helpers.Slapd(directory_ldif(dovecot.users, pw))
    except helpers.SlapdMissing as e:
        pytest.skip(str(e))
    s.service_pwfile = os.path.join(s.dir, "service.pw")
    with open(s.service_pwfile, "w") as f:
        f.write(pw + "\n")
    yield s
    s.cleanup()


def ldap_conf(slapd, **extra):
    """postern's [groups] for the directory, and both group requirements."""
    groups = {"ldap_uri": slapd.uri,
              "ldap_ca_file": slapd.ca,
              "ldap_bind_dn": SERVICE_DN,
              "ldap_bind_password_file": slapd.service_pwfile,
              "ldap_base": BASE,
              "ldap_user_filter": "(&(objectClass=inetOrgPerson)(uid=%u))",
              "ldap_group_attribute": "memberOf",
              "ldap_nested": "walk",
              "ldap_timeout": "3s"}
    groups.update(extra)
    return {"groups": groups,
            "pop3": {"required_group": "POP3 Access"},
            "imap": {"required_group": "IMAP Access"}}


def pop3_login(p, user, password):
    """The answer to PASS (bytes).  The client says QUIT either way: a
    client that just closes leaves its session lingering for the
    backend's last answer."""
    m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=20)
    try:
        m.user(user)
        try:
            return m.pass_(password)
        except poplib.error_proto as e:
            return e.args[0]
    finally:
        m.quit()


def imap_login(p, user, password):
    """The tagged answer to LOGIN: ("OK", text) or ("NO", text)."""
    i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=20)
    try:
        typ, data = i.login(user, password)
        return typ, data[0].decode()
    except imaplib.IMAP4.error as e:
        arg = e.args[0]
        return "NO", arg.decode() if isinstance(arg, bytes) else arg
    finally:
        i.logout()


def test_starttls_directory_decides_pop3_and_imap(start_postern, dovecot,
                                                  slapd):
    p = start_postern(ldap_conf(slapd))
    pw = dovecot.users
    # Direct members.
    assert pop3_login(p, "alice", pw["alice"]).startswith(b"+OK")
    assert imap_login(p, "alice", pw["alice"])[0] == "OK"
    assert pop3_login(p, "bob", pw["bob"]).startswith(b"+OK")
    # Members through one and two levels of nested groups.
    assert pop3_login(p, "carol", pw["carol"]).startswith(b"+OK")
    assert imap_login(p, "dave", pw["dave"])[0] == "OK"
    assert imap_login(p, "frank", pw["frank"])[0] == "OK"
    # Not members: the protocol's refusal, which names no group.
    assert pop3_login(p, "erin", pw["erin"]) == b"-ERR [AUTH] Access denied."
    typ, text = imap_login(p, "bob", pw["bob"])
    assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text
    assert "IMAP Access" not in text
    typ, text = imap_login(p, "carol", pw["carol"])
    assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text
    p.wait_log(r"user erin: NotInGroup:POP3 Access")
    p.wait_log(r"user bob: NotInGroup:IMAP Access")


def test_without_nesting_only_direct_members(start_postern, dovecot, slapd):
    p = start_postern(ldap_conf(slapd, ldap_nested="no"))
    pw = dovecot.users
    assert pop3_login(p, "bob", pw["bob"]).startswith(b"+OK")
    assert pop3_login(p, "carol", pw["carol"]) == \
        b"-ERR [AUTH] Access denied."
    assert imap_login(p, "frank", pw["frank"])[0] == "NO"


def test_access_rule_with_member_of(start_postern, dovecot, slapd):
    conf = ldap_conf(slapd)
    conf["pop3"], conf["imap"] = {}, {}
    conf['rule "no contractors on imap"'] = {
        "priority": "10", "action": "deny", "protocols": "imap",
        "member_of": "Contractors"}
    p = start_postern(conf)
    pw = dovecot.users
    typ, text = imap_login(p, "heidi", pw["heidi"])
    assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text
    assert "contractors" not in text.lower()
    # Through the nested Temps group.
    typ, text = imap_login(p, "mallory", pw["mallory"])
    assert typ == "NO" and "[AUTHORIZATIONFAILED]" in text
    # The rule is about IMAP only, and about Contractors only.
    assert pop3_login(p, "heidi", pw["heidi"]).startswith(b"+OK")
    assert imap_login(p, "judy", pw["judy"])[0] == "OK"
    p.wait_log(r"user heidi: AccessRuleDenied:no contractors on imap")
    p.wait_log(r"user mallory: AccessRuleDenied:no contractors on imap")


def group_change(slapd, op, group, user):
    slapd.modify("dn: cn=%s,ou=groups,%s\nchangetype: modify\n%s: member\n"
                 "member: %s\n" % (group, BASE, op, dn(user)))


def test_cache_expiry_sees_a_membership_change(start_postern, dovecot,
                                                slapd):
    ttl = 2
    p = start_postern(ldap_conf(slapd, group_cache_ttl="%ds" % ttl))
    pw = dovecot.users["grace"]
    looked_up = time.monotonic()
    assert pop3_login(p, "grace", pw) == b"-ERR [AUTH] Access denied."
    group_change(slapd, "add", "POP3 Access", "grace")
    try:
        # Until the cached answer expires, postern still says no: the
        # check is skipped if the machine was too slow to tell.
        if time.monotonic() - looked_up < ttl - 0.5:
            assert pop3_login(p, "grace", pw) == \
                b"-ERR [AUTH] Access denied."
        helpers.wait_for(
            lambda: pop3_login(p, "grace", pw).startswith(b"+OK"),
            ttl + 10, "grace's new membership to count", interval=0.5)
        # And the other way round.
        group_change(slapd, "delete", "POP3 Access", "grace")
        helpers.wait_for(
            lambda: pop3_login(p, "grace", pw).startswith(b"-ERR [AUTH]"),
            ttl + 10, "grace's removal to count", interval=0.5)
    finally:
        try:
            group_change(slapd, "delete", "POP3 Access", "grace")
        except Exception:
            pass


def test_directory_stopped_mid_test_is_a_temporary_failure(
        start_postern, dovecot, slapd):
    # No cache: every login asks the directory.
    p = start_postern(ldap_conf(slapd, group_cache_ttl="0",
                                ldap_timeout="2s"))
    pw = dovecot.users["alice"]
    assert pop3_login(p, "alice", pw).startswith(b"+OK")
    assert imap_login(p, "alice", pw)[0] == "OK"
    slapd.stop()
    try:
        answer = pop3_login(p, "alice", pw)
        assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
        typ, text = imap_login(p, "alice", pw)
        assert typ == "NO" and "[UNAVAILABLE]" in text, text
        # A non-member is not refused for good either: nobody is known.
        answer = pop3_login(p, "erin", dovecot.users["erin"])
        assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
        p.wait_log(r"user alice: GroupLookupFailed", count=2)
    finally:
        slapd.start()
    # Once the directory is back, so are the logins.
    helpers.wait_for(lambda: pop3_login(p, "alice", pw).startswith(b"+OK"),
                     20, "logins after the directory came back",
                     interval=0.5)
    assert imap_login(p, "alice", pw)[0] == "OK"


# --- a directory that is down is not a storm ----------------------------

class CountingListener:
    """Listens on a loopback port in slapd's place and counts the
    connections made to it: each is one attempt of postern's to reach the
    directory.  Each is closed at once, so every attempt fails quickly,
    as against a directory that is down."""

    def __init__(self, port):
        self.count = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # slapd's port may take a moment to be free after its stop.
        helpers.wait_for(lambda: self._bind(port), 10,
                         "slapd's port %d to be free" % port)
        self.sock.listen(128)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _bind(self, port):
        try:
            self.sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.close()

    def close(self):
        # shutdown() wakes the accept() up; close() alone may not.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def test_directory_down_during_a_burst_is_not_a_storm(start_postern,
                                                      dovecot, slapd):
    threads = 2
    # No cache: every login asks the directory.
    p = start_postern(ldap_conf(slapd, group_cache_ttl="0",
                                ldap_timeout="2s",
                                ldap_threads=str(threads)))
    pw = dovecot.users["alice"]
    assert pop3_login(p, "alice", pw).startswith(b"+OK")
    port = int(slapd.uri.rsplit(":", 1)[1])
    slapd.stop()
    counter = CountingListener(port)
    n = 200

    def paced(i):
        # Spread over about 4 s, so that pauses end during the burst and
        # their probes are counted too.
        answer = pop3_login(p, "alice", pw)
        time.sleep(0.15)
        return answer

    try:
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            answers = list(ex.map(paced, range(n)))
        elapsed = time.monotonic() - start
        attempts = counter.count
    finally:
        counter.close()
        slapd.start()
    # Never an allow while nobody's groups can be known.
    assert all(a.startswith(b"-ERR [SYS/TEMP]") for a in answers), \
        set(answers)
    # Without a back-off every login made an attempt of its own.  With
    # it: the lookups under way when the directory went (one per thread),
    # then one probe after each pause (1 s, 2 s, 4 s, ...).
    probes = 2 + int(math.log2(elapsed + 1))
    assert 1 <= attempts <= threads + probes, \
        "%d attempts in %.1f s" % (attempts, elapsed)
    # The outage is told once, not once a login.
    down = re.findall(r"LDAP server %s unreachable: .*; failing lookups "
                      r"fast for 1 s" % re.escape(slapd.uri), p.log())
    assert len(down) == 1, p.log()
    warned = [l for l in p.log().splitlines() if "group lookup failed" in l]
    assert len(warned) <= 6, "\n".join(warned)
    # Once the directory is back, so are the logins (after at most one
    # pause), and the log says how many failed meanwhile.
    helpers.wait_for(lambda: pop3_login(p, "alice", pw).startswith(b"+OK"),
                     30, "logins after the directory came back",
                     interval=0.5)
    p.wait_log(r"LDAP server %s reachable again after \d+ s; \d+ "
               r"lookups failed meanwhile" % re.escape(slapd.uri))
    m = re.search(r"reachable again after \d+ s; (\d+) lookups", p.log())
    assert int(m.group(1)) >= n
    assert imap_login(p, "alice", pw)[0] == "OK"


def test_frozen_directory_is_waited_for_once(start_postern, dovecot, slapd):
    """A directory that accepts connections and answers nothing: the first
    lookup waits ldap_timeout, the ones after it fail at once instead of
    each waiting as long."""
    p = start_postern(ldap_conf(slapd, group_cache_ttl="0",
                                ldap_timeout="1s"))
    pw = dovecot.users["alice"]
    assert pop3_login(p, "alice", pw).startswith(b"+OK")
    with directory_frozen(slapd):
        stopped = process_state(slapd)
        start = time.monotonic()
        answers = [pop3_login(p, "alice", pw) for _ in range(8)]
        elapsed = time.monotonic() - start
    # Seen twice under a loaded full run: the first login of the freeze
    # answered +OK.  What postern and the kernel said, to tell why.
    assert all(a.startswith(b"-ERR [SYS/TEMP]") for a in answers), \
        "%r\nslapd was %s\n%s" % (answers, stopped, p.log())
    # Eight timeouts one after the other would take 8 s; the pauses let
    # at most one lookup of each (1 s, then 2 s) wait.
    assert elapsed < 4.5, "%.1f s" % elapsed
    p.wait_log(r"LDAP server \S+ unreachable: .*(ldap_timeout|Timed out)"
               r".*; failing lookups fast")
    helpers.wait_for(lambda: pop3_login(p, "alice", pw).startswith(b"+OK"),
                     30, "logins after the directory thawed", interval=0.5)


# --- a session that ends while its group lookup is pending ---------------

def process_state(slapd):
    """The State line of slapd's /proc status ("T (stopped)" when frozen)."""
    with open(os.path.join(slapd.dir, "slapd.pid")) as f:
        pid = int(f.read().strip())
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "pid %d, %s" % (pid, line.split(":", 1)[1].strip())
    except OSError as e:
        return "pid %d, %s" % (pid, e)
    return "pid %d" % pid


@contextlib.contextmanager
def directory_frozen(slapd):
    """slapd stopped with SIGSTOP: the kernel still accepts connections,
    and nothing answers until the continue function given is called (or
    the block ends)."""
    with open(os.path.join(slapd.dir, "slapd.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield lambda: os.kill(pid, signal.SIGCONT)
    finally:
        os.kill(pid, signal.SIGCONT)


def imap_login_unread(p, user, password):
    """An IMAP client that logs in behind more answers than its socket
    takes, and reads nothing: once postern gives up on the session, its
    last answer cannot leave, so the session stays closing (flushing)
    for a while instead of ending at once.  Returns the socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(20)
    s.connect(("127.0.0.1", p.ports["imap"]))
    assert s.recv(4096).startswith(b"* OK")
    # 40,000 answers are about 5.5 MB: more than the kernel queues on
    # loopback (at most 4 MiB of send buffer), however postern writes them
    # (many small sends pack tighter than bufferevent's 16 KiB writevs).
    s.sendall(b"c CAPABILITY\r\n" * 40000 +
              b'l LOGIN %s "%s"\r\n' % (user.encode(), password.encode()))
    return s


def test_backend_timeout_during_group_lookup_cancels_it(start_postern,
                                                         dovecot, slapd):
    # The lookup may take longer than the login may: ldap_timeout above
    # backend_timeout, as administrators set them.
    conf = ldap_conf(slapd, group_cache_ttl="0", ldap_timeout="10s")
    conf["imap"]["backend_timeout"] = "1s"
    p = start_postern(conf)
    with directory_frozen(slapd) as thaw:
        s = imap_login_unread(p, "alice", dovecot.users["alice"])
        try:
            p.wait_log(r"IMAP4 \S+ 127\.0\.0\.1:\d+: closing: ")
            # The directory answers while the session is closing: the
            # answer must find the lookup cancelled.
            thaw()
            helpers.wait_for(
                lambda: p.proc.poll() is not None or
                "timeout while flushing" in p.log(), 15,
                "the session's flush to time out")
        finally:
            s.close()
    assert p.proc.poll() is None, "postern died:\n" + p.log()
    # The wait was for the directory, and the log says so.
    assert "group lookup took longer than backend_timeout (1000 ms)" in \
        p.log()
    assert "alice logged in" not in p.log()
    assert "group lookup failed" not in p.log()
    # And it still serves.
    assert imap_login(p, "alice", dovecot.users["alice"])[0] == "OK"


def test_shutdown_during_group_lookup_cancels_it(start_postern, dovecot,
                                                 slapd):
    conf = ldap_conf(slapd, group_cache_ttl="0", ldap_timeout="10s")
    conf["postern"] = {"shutdown_timeout": "1s", "log_level": "debug"}
    p = start_postern(conf)
    with directory_frozen(slapd) as thaw:
        s = imap_login_unread(p, "alice", dovecot.users["alice"])
        try:
            p.wait_log(r"preauth -> backend")
            p.proc.send_signal(signal.SIGTERM)
            p.wait_log(r"closing: shutdown")
            thaw()
            rc = p.stop(timeout=30)
        finally:
            s.close()
    assert rc == 0, "postern exited with %s:\n%s" % (rc, p.log())
    # The session was still closing when the directory answered.
    assert "timeout while flushing" in p.log()
    assert "alice logged in" not in p.log()
