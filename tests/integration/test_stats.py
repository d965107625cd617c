"""The statistics and health server ([stats]) against the real Dovecot.

/metrics is checked by Debian's promtool and its counters against a
scripted set of sessions; /health is made to fail for real, by shutting
down one of postern's listening sockets from outside (through
pidfd_getfd(2), as a stray shutdown(2) would) and by stopping one worker
thread alone with ptrace(2); /sessions and "postern who" list two open
sessions; clients outside allowed_ips and without the bearer token are
refused.
"""

import contextlib
import ctypes
import glob
import imaplib
import json
import os
import poplib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import helpers
from test_ldap import slapd  # noqa: F401 (the directory fixture)
from test_protolog import logdir  # noqa: F401 (a protocol-log directory)

THROTTLED = "127.0.91.1"


def stats_conf(port, **extra):
    conf = {"listen": "127.0.0.1:%d" % port}
    conf.update(extra)
    return {"stats": conf}


def get(port, path, token=None, timeout=10):
    """(status, headers, body) of GET path on the stats server."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} of the text format."""
    out = {}
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    lab = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = rx.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(lab.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def pop3_login(port, user, password, src="127.0.0.1"):
    """A POP3 login from src: the server's answer to PASS, as bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30,
                                 source_address=(src, 0))
    f = s.makefile("rwb")
    try:
        assert f.readline().startswith(b"+OK")
        f.write(b"USER " + user.encode() + b"\r\n")
        f.flush()
        assert f.readline().startswith(b"+OK")
        f.write(b"PASS " + password.encode() + b"\r\n")
        f.flush()
        answer = f.readline()
        f.write(b"QUIT\r\n")
        f.flush()
        f.readline()
        return answer
    finally:
        f.close()
        s.close()


@pytest.fixture(scope="session")
def promtool():
    """Debian's promtool: the one on PATH, or taken out of the prometheus
    package with "apt-get download" and "dpkg-deb -x" without installing
    it (its post-install step would start a Prometheus server).  No
    promtool is a failure, not a skip: the format must be checked by the
    real verifier."""
    found = shutil.which("promtool")
    if found:
        return found
    d = os.path.join(tempfile.gettempdir(), "postern-promtool-%d" % os.getuid())
    tool = os.path.join(d, "usr", "bin", "promtool")
    if os.access(tool, os.X_OK):
        return tool
    work = tempfile.mkdtemp(prefix="postern-promtool.")
    try:
        r = subprocess.run(["apt-get", "download", "prometheus"], cwd=work,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
        debs = glob.glob(os.path.join(work, "prometheus_*.deb"))
        assert r.returncode == 0 and debs, \
            "cannot fetch Debian's prometheus package for promtool: " + \
            r.stdout.decode(errors="replace")[-300:]
        subprocess.run(["dpkg-deb", "-x", debs[0], os.path.join(work, "x")],
                       check=True)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        try:
            # Two test workers may get here at once: the first one's
            # copy stays, the other's is thrown away.
            os.rename(os.path.join(work, "x"), d)
        except OSError:
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert os.access(tool, os.X_OK), "the prometheus package has no promtool"
    return tool


def test_metrics_counts_and_promtool(start_postern, dovecot, promtool):
    sport = helpers.free_ports(1)[0]
    conf = stats_conf(sport)
    conf["throttle"] = {"enabled": "yes", "failure_delay": "0",
                        "max_failures_per_ip": "1", "ban_time": "1m"}
    conf['rule "no mallory"'] = {"priority": "1", "action": "deny",
                                 "usernames": "mallory"}
    p = start_postern(conf)
    pw = dovecot.users

    # Logged in: one IMAP, one POP3, each moving a few bytes.
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    m.login("alice", pw["alice"])
    m.select("INBOX")
    m.logout()
    m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=30)
    m.user("bob")
    m.pass_(pw["bob"])
    m.stat()
    m.quit()
    # Refused by the rule, without asking the backend.
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("mallory", pw["mallory"])
    m.logout()
    # A wrong password: the backend refuses it (and 127.0.0.1 is banned
    # from now on, max_failures_per_ip being 1).
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("carol", "wrong")
    m.logout()
    # A failure from another address, then its ban refuses the next try.
    assert pop3_login(p.ports["pop3"], "dave", "wrong",
                      THROTTLED).startswith(b"-ERR")
    assert pop3_login(p.ports["pop3"], "dave", pw["dave"],
                      THROTTLED).startswith(b"-ERR"), p.log()
    p.wait_log(r"throttled: the client's address is banned")

    status, headers, body = get(sport, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    check = subprocess.run([promtool, "check", "metrics"], input=body,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
    assert check.returncode == 0, check.stdout.decode()
    assert check.stdout.strip() == b"", check.stdout.decode()

    s = parse_metrics(body.decode())
    assert metric(s, "postern_logins_total", protocol="imap",
                  result="ok") == 1
    assert metric(s, "postern_logins_total", protocol="pop3",
                  result="ok") == 1
    assert metric(s, "postern_logins_total", protocol="imap",
                  result="failed") == 1
    assert metric(s, "postern_logins_total", protocol="pop3",
                  result="failed") == 1
    assert metric(s, "postern_logins_total", protocol="imap",
                  result="tempfail") == 0
    assert metric(s, "postern_logins_refused_total", protocol="imap",
                  reason="rule") == 1
    assert metric(s, "postern_rule_refusals_total", rule="no mallory") == 1
    assert metric(s, "postern_logins_refused_total", protocol="pop3",
                  reason="throttle") == 1
    assert metric(s, "postern_logins_refused_total", protocol="imap",
                  reason="throttle") == 0
    imap_l = "127.0.0.1:%d" % p.ports["imap"]
    pop3_l = "127.0.0.1:%d" % p.ports["pop3"]
    assert metric(s, "postern_connections_total", protocol="imap",
                  listener=imap_l, tls="plain") == 3
    assert metric(s, "postern_connections_total", protocol="pop3",
                  listener=pop3_l, tls="plain") == 3
    # Every one of them has ended.
    assert metric(s, "postern_sessions_active", protocol="imap",
                  listener=imap_l, tls="plain") == 0
    assert sum(v for (n, _), v in s.items()
               if n == "postern_worker_connections_total") == 6
    for proto in ("imap", "pop3"):
        for d in ("client_to_backend", "backend_to_client"):
            assert metric(s, "postern_relayed_bytes_total", protocol=proto,
                          direction=d) > 0
    imap_b = "127.0.0.1:%d" % dovecot.ports["imap"]
    pop3_b = "127.0.0.1:%d" % dovecot.ports["pop3"]
    assert metric(s, "postern_backend_connects_total", backend=imap_b) == 2
    assert metric(s, "postern_backend_connects_total", backend=pop3_b) == 2
    assert metric(s, "postern_backend_login_duration_seconds_count",
                  backend=pop3_b) == 2
    assert metric(s, "postern_backend_login_duration_seconds_bucket",
                  backend=pop3_b, le="+Inf") == 2
    assert metric(s, "postern_backend_failures_total", backend=imap_b,
                  reason="connect") == 0
    assert metric(s, "postern_protolog_rows_lost_total",
                  reason="write_error") == 0

    # postern stats shows the same counters to a person.
    r = subprocess.run([p.binary, "stats", "-c", p.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert re.search(r'^postern_logins_total +protocol="pop3",'
                     r'result="failed" +1$', out, re.M), out
    assert "_bucket" not in out


def listener_fd(pid, port):
    """The number of postern's descriptor that listens on port."""
    inodes = set()
    for path in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        with open(path) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if (int(fields[1].split(":")[1], 16) == port
                        and fields[3] == "0A"):
                    inodes.add(fields[9])
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return int(fd)
    raise AssertionError("no descriptor of %d listens on %d" % (pid, port))


def take_fd(pid, fd):
    """A duplicate of process pid's descriptor fd (pidfd_getfd(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        dup = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd
        if dup < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return dup
    finally:
        os.close(pidfd)


def thread_tid(pid, name):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == name:
                return int(tid)
    raise AssertionError("no thread %s in %d" % (name, pid))


def worker_tid(pid, index):
    return thread_tid(pid, "postern-w%d" % index)


PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207


@contextlib.contextmanager
def worker_stopped(pid, index):
    """Stops worker thread index of postern pid alone (ptrace), as a loop
    stuck in a computation would be, for the with block; skips the test
    where ptrace is not allowed.  Yields the monotonic time of the stop."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                            ctypes.c_void_p]
    tid = worker_tid(pid, index)
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        pytest.skip("ptrace: %s" % os.strerror(ctypes.get_errno()))
    try:
        assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0
        os.waitpid(tid, 0x40000000)  # __WALL: the thread has stopped
        yield time.monotonic()
    finally:
        assert libc.ptrace(PTRACE_DETACH, tid, None, None) == 0


def health(port):
    status, headers, body = get(port, "/health")
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(body)


def test_health_worker_stopped(start_postern):
    sport = helpers.free_ports(1)[0]
    p = start_postern(stats_conf(sport))
    status, h = health(sport)
    assert (status, h["status"]) == (200, "ok"), h
    assert h["workers"] == 2 and h["listeners"] == 4
    assert h["workers_not_answering"] == [] and h["listeners_down"] == []

    # One worker thread stopped alone, as a loop stuck in a computation
    # would be: the other worker and the stats thread go on.
    with worker_stopped(p.pid, 1) as t0:
        status, h = health(sport)
        assert time.monotonic() - t0 < 5
        assert status == 503, h
        assert h["status"] == "unhealthy"
        assert h["workers_not_answering"] == [1]
        assert h["listeners_down"] == []
    helpers.wait_for(lambda: health(sport)[0] == 200, 10,
                     "/health to be well again")


def test_health_listener_down(start_postern):
    sport = helpers.free_ports(1)[0]
    p = start_postern(stats_conf(sport))
    assert health(sport)[0] == 200
    # The IMAP listener stops listening though postern still holds it.
    dup = take_fd(p.pid, listener_fd(p.pid, p.ports["imap"]))
    s = socket.socket(fileno=dup)
    s.shutdown(socket.SHUT_RD)
    s.close()
    status, h = health(sport)
    assert status == 503, h
    assert h["status"] == "unhealthy"
    assert h["workers_not_answering"] == []
    down = [a for w in h["listeners_down"] for a in w["acceptors"]]
    assert len(h["listeners_down"]) == 2  # seen by each worker
    assert {(a["protocol"], a["listener"], a["why"]) for a in down} == {
        ("imap", "127.0.0.1:%d" % p.ports["imap"], "not listening")}


def test_sessions_and_who(start_postern, dovecot):
    sport = helpers.free_ports(1)[0]
    p = start_postern(stats_conf(sport))
    pw = dovecot.users
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    m.login("alice", pw["alice"])
    m.select("INBOX")
    # A name with a quote, a backslash, UTF-8 and a byte that is not.
    odd = b'j\xc3\xbcr"g\\en\xff'
    c = helpers.LineClient(p.ports["pop3"])
    try:
        assert c.readline().startswith(b"+OK")
        assert c.cmd(b"USER " + odd).startswith(b"+OK")
        status, headers, body = get(sport, "/sessions")
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        doc = json.loads(body)
        assert doc["workers_not_answering"] == []
        by_proto = {s["protocol"]: s for s in doc["sessions"]}
        assert len(doc["sessions"]) == 2, doc
        a = by_proto["imap"]
        assert a["user"] == "alice"
        assert a["state"] == "relay" and a["tls"] == "none"
        assert a["backend"] == "127.0.0.1:%d" % dovecot.ports["imap"]
        assert a["client"].startswith("127.0.0.1:")
        assert a["bytes_in"] > 0 and a["bytes_out"] > 0
        assert abs(a["started_unix"] - time.time()) < 60
        o = by_proto["pop3"]
        assert o["user"] == 'j\u00fcr"g\\en\\xff'
        assert o["state"] == "preauth" and o["backend"] is None

        r = subprocess.run([p.binary, "who", "-c", p.path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        assert r.returncode == 0, r.stderr.decode()
        lines = r.stdout.decode().splitlines()
        assert lines[0].split() == ["USER", "CLIENT", "PROTO", "TLS",
                                    "BACKEND", "STATE", "STARTED", "IN",
                                    "OUT"]
        assert lines[-1] == "2 sessions"
        rows = lines[1:-1]
        assert len(rows) == 2
        col = lines[0].index("CLIENT")
        for row in rows:
            assert row[col:].startswith("127.0.0.1:"), r.stdout.decode()
        users = sorted(row.split()[0] for row in rows)
        assert users == ["alice", 'j\u00fcr"g\\en\\xff']
    finally:
        c.close()
        m.logout()


def test_who_errors(start_postern):
    p = start_postern()  # no [stats]
    r = subprocess.run([p.binary, "who", "-c", p.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 1
    assert b"[stats] listen is not set" in r.stderr
    # Set, but nothing answers there.
    p.update(stats_conf(helpers.free_ports(1)[0]))
    r = subprocess.run([p.binary, "stats", "-c", p.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 1
    assert b"cannot ask the stats server" in r.stderr
    assert b"Connection refused" in r.stderr


def test_refused_outside_allowed_ips(start_postern):
    sport = helpers.free_ports(1)[0]
    p = start_postern(stats_conf(sport, allowed_ips="192.0.2.0/24"))
    for path in ("/metrics", "/health", "/sessions"):
        assert get(sport, path)[0] == 403
    r = subprocess.run([p.binary, "who", "-c", p.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 1
    assert b"answered 403" in r.stderr
    p.wait_log(r"stats: 127\.0\.0\.1:\d+ not in \[stats\] allowed_ips")


def test_bearer_token(start_postern):
    sport = helpers.free_ports(1)[0]
    tokfile = os.path.join(helpers.private_tmpdir("postern-tok."), "token")
    token = "T0k-" + os.urandom(8).hex()
    with open(tokfile, "w") as f:
        f.write(token + "\n")
    p = start_postern(stats_conf(sport, token_file=tokfile))
    assert get(sport, "/metrics")[0] == 401
    assert get(sport, "/metrics", token="wrong")[0] == 401
    assert get(sport, "/metrics", token=token[:-1])[0] == 401
    status, headers, _ = get(sport, "/sessions")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert get(sport, "/metrics", token=token)[0] == 200
    assert get(sport, "/nothing", token=token)[0] == 404
    # postern who reads the token from the configuration.
    r = subprocess.run([p.binary, "who", "-c", p.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines()[-1] == "0 sessions"

    # A reload reads the file again: the old token no longer works.
    new = "N3w-" + os.urandom(8).hex()
    with open(tokfile, "w") as f:
        f.write(new + "\n")
    p.reload(stats_conf(helpers.free_ports(1)[0], token_file=tokfile))
    p.wait_log(r"reload: configuration .* loaded")
    assert get(sport, "/metrics", token=token)[0] == 401
    assert get(sport, "/metrics", token=new)[0] == 200
    p.wait_log(r"reload: \[stats\] listen changed; it takes effect only "
               r"after a restart")
    # An empty token file refuses the reload, and the token stays.
    with open(tokfile, "w") as f:
        f.write("\n")
    p.reload()
    p.wait_log(r"reload: .*\[stats\] token_file: '.*' is empty")
    assert get(sport, "/metrics", token=new)[0] == 200
    # postern -t names the file's problem with its line.
    r = subprocess.run([p.binary, "-t", "-c", p.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 1
    assert re.search(rb":\d+: \[stats\] token_file: '.*' is empty",
                     r.stderr), r.stderr
    os.unlink(tokfile)
    r = subprocess.run([p.binary, "-t", "-c", p.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 1
    assert re.search(rb":\d+: \[stats\] token_file: cannot read '.*': No "
                     rb"such file", r.stderr), r.stderr
    for t in (token, new):
        assert t not in p.log()


def test_scrape_during_logins(start_postern, dovecot):
    """Scrapes while both workers count: under ThreadSanitizer (the
    factory fails the test on any report) the reads of the workers'
    counters must be race-free; the count must come out exact."""
    import threading
    sport = helpers.free_ports(1)[0]
    p = start_postern(stats_conf(sport))
    pw = dovecot.users
    n = 12
    errors = []

    def logins(user):
        try:
            for _ in range(n // 2):
                m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=30)
                m.user(user)
                m.pass_(pw[user])
                m.quit()
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=logins, args=(u,))
               for u in ("erin", "frank")]
    for t in threads:
        t.start()
    scrapes = 0
    while any(t.is_alive() for t in threads) or scrapes < 3:
        for path in ("/metrics", "/sessions", "/health"):
            assert get(sport, path)[0] == 200
        scrapes += 1
    for t in threads:
        t.join()
    assert errors == []
    s = parse_metrics(get(sport, "/metrics")[2].decode())
    assert metric(s, "postern_logins_total", protocol="pop3",
                  result="ok") == n
    helpers.wait_for(
        lambda: metric(parse_metrics(get(sport, "/metrics")[2].decode()),
                       "postern_sessions_active", protocol="pop3",
                       listener="127.0.0.1:%d" % p.ports["pop3"],
                       tls="plain") == 0, 10, "the sessions to end")


def test_tls_counters(start_postern, cert):
    sport = helpers.free_ports(1)[0]
    p = start_postern(stats_conf(sport))
    ctx = helpers.client_context(cert[0])
    # Implicit TLS on the POP3 ssl binding.
    c = helpers.LineClient(p.ports["pop3s"], tls_ctx=ctx)
    assert c.readline().startswith(b"+OK")
    c.cmd(b"QUIT")
    c.close()
    # STARTTLS on IMAP.
    c = helpers.LineClient(p.ports["imap"])
    c.readline()
    assert c.cmd(b"a STARTTLS").startswith(b"a OK")
    c.starttls(ctx)
    assert c.cmd(b"b LOGOUT").startswith(b"* BYE")
    c.close()
    # A client that is no TLS client, and one that gives up half-way.
    c = helpers.LineClient(p.ports["imaps"])
    c.send(b"a LOGIN x y\r\n")
    c.read_until_close()
    c.close()
    c = helpers.LineClient(p.ports["pop3s"])
    c.close()
    def counts():
        s = parse_metrics(get(sport, "/metrics")[2].decode())
        return (metric(s, "postern_tls_handshakes_total", protocol="pop3",
                       mode="implicit"),
                metric(s, "postern_tls_handshakes_total", protocol="imap",
                       mode="starttls"),
                metric(s, "postern_tls_handshake_failures_total",
                       protocol="imap", mode="implicit"),
                metric(s, "postern_tls_handshake_failures_total",
                       protocol="pop3", mode="implicit"),
                metric(s, "postern_tls_handshakes_total", protocol="imap",
                       mode="implicit"))
    helpers.wait_for(lambda: counts() == (1, 1, 1, 1, 0), 10,
                     "the TLS counters")


def test_ldap_counters(start_postern, dovecot, slapd):  # noqa: F811
    """Directory lookups, the cache and the group refusal, with the
    directory of test_ldap.py."""
    import test_ldap
    sport = helpers.free_ports(1)[0]
    conf = test_ldap.ldap_conf(slapd)
    conf.update(stats_conf(sport))
    p = start_postern(conf)
    pw = dovecot.users
    assert test_ldap.pop3_login(p, "alice", pw["alice"]).startswith(b"+OK")
    assert test_ldap.pop3_login(p, "alice", pw["alice"]).startswith(b"+OK")
    assert test_ldap.pop3_login(p, "erin", pw["erin"]).startswith(b"-ERR")
    s = parse_metrics(get(sport, "/metrics")[2].decode())
    assert metric(s, "postern_ldap_lookups_total", result="ok") == 2
    assert metric(s, "postern_ldap_lookups_total", result="unreachable") == 0
    assert metric(s, "postern_ldap_cache_misses_total") == 2
    assert metric(s, "postern_ldap_cache_hits_total") == 1
    assert metric(s, "postern_ldap_lookup_duration_seconds_count") == 2
    assert metric(s, "postern_ldap_lookup_duration_seconds_sum") > 0
    assert metric(s, "postern_logins_refused_total", protocol="pop3",
                  reason="group") == 1
    assert metric(s, "postern_logins_total", protocol="pop3",
                  result="ok") == 2


def family_values(samples, name):
    """{frozenset(labels): value} of every sample of the family name."""
    return {labels: v for (n, labels), v in samples.items() if n == name}


def expect_family(samples, name, nonzero):
    """Every sample of family name is 0 but those in nonzero, given as
    {frozenset(labels.items()): value}, which must all be there."""
    got = family_values(samples, name)
    assert got, "no samples of %s" % name
    want = {key: 0 for key in got}
    for key, v in nonzero.items():
        assert key in got, (name, sorted(key), sorted(got))
        want[key] = v
    assert got == want, (name, {tuple(sorted(k)): v
                                for k, v in got.items() if v})


def labels(**kw):
    return frozenset(kw.items())


def test_metrics_audit_once_per_login(start_postern, dovecot, cert):
    """A cleartext login that login_type_mode = audit lets through is one
    audit, however many of its commands the login type was checked on
    (POP3's USER and PASS, IMAP's LOGIN); a login that an audit rule
    would refuse is one audit of the other kind."""
    sport = helpers.free_ports(1)[0]
    conf = stats_conf(sport)
    for proto in ("imap", "pop3"):
        conf[proto] = {"login_type": "SecureLogin",
                       "login_type_mode": "audit"}
    conf['rule "would block"'] = {"priority": "5", "action": "audit",
                                  "usernames": "carol"}
    p = start_postern(conf)
    pw = dovecot.users
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    assert m.login("alice", pw["alice"])[0] == "OK"
    m.logout()
    assert pop3_login(p.ports["pop3"], "bob", pw["bob"]).startswith(b"+OK")
    # Over TLS: the rule's audit alone.
    m = poplib.POP3_SSL("127.0.0.1", p.ports["pop3s"], timeout=30,
                        context=helpers.client_context(cert[0]))
    m.user("carol")
    assert m.pass_(pw["carol"]).startswith(b"+OK")
    m.quit()
    p.wait_log(r"user (bob|carol) logged in", count=2)
    s = parse_metrics(get(sport, "/metrics")[2].decode())
    expect_family(s, "postern_audits_total", {
        labels(protocol="imap", kind="login_type"): 1,
        labels(protocol="pop3", kind="login_type"): 1,
        labels(protocol="pop3", kind="rule"): 1})


def test_metrics_refusals_and_audits(start_postern, dovecot, cert):
    """postern_audits_total, postern_connections_refused_total and
    postern_logins_refused_total counted after a scripted set of
    sessions, each of which does one thing: every sample of the three
    families must hold the count the script makes, the others 0."""
    sport = helpers.free_ports(1)[0]
    lab, limited, clear, nogroups = (helpers.fresh_source()
                                     for _ in range(4))
    conf = stats_conf(sport)
    # A directory that cannot be reached: the groups are unknown.
    conf["groups"] = {"ldap_uri": "ldap://127.0.0.1:9",
                      "ldap_base": "dc=example,dc=org",
                      "ldap_timeout": "2s"}
    conf["imap"] = {"login_type": "SecureLogin", "login_type_mode": "audit",
                    "max_connections_per_user": "1"}
    conf["pop3"] = {"login_type": "SecureLogin",
                    "required_group": "POP3 Access",
                    "max_connection_from_single_ip": "1"}
    conf['rule "no lab"'] = {"priority": "10", "action": "deny",
                             "client_ips": lab}
    p = start_postern(conf)
    pw = dovecot.users
    ctx = helpers.client_context(cert[0])

    # IMAP: a cleartext login without TLS, let through by the audit
    # (one audit of the login type).
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    assert m.login("alice", pw["alice"])[0] == "OK"
    m.logout()
    # IMAP over TLS: no audit; alice's one slot is taken, so her second
    # login is refused by max_connections_per_user.
    first = imaplib.IMAP4_SSL("127.0.0.1", p.ports["imaps"],
                              ssl_context=ctx, timeout=30)
    assert first.login("alice", pw["alice"])[0] == "OK"
    second = imaplib.IMAP4_SSL("127.0.0.1", p.ports["imaps"],
                               ssl_context=ctx, timeout=30)
    with pytest.raises(imaplib.IMAP4.error) as e:
        second.login("alice", pw["alice"])
    assert "[LIMIT]" in str(e.value)
    second.logout()
    first.logout()
    # IMAP from the rule's address: refused before the greeting.
    c = helpers.LineClient(p.ports["imap"], source=lab)
    assert c.readline() == b"* BYE Access denied.\r\n"
    c.close()
    # POP3 without TLS: USER is refused by the login type.
    c = helpers.LineClient(p.ports["pop3"], source=clear)
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"USER bob").startswith(b"-ERR")
    c.close()
    # POP3 over TLS: the login type is met, but the groups that
    # required_group needs cannot be had.
    c = helpers.LineClient(p.ports["pop3s"], tls_ctx=ctx, source=nogroups)
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"USER erin").startswith(b"+OK")
    assert c.cmd(b"PASS " + pw["erin"].encode()).startswith(
        b"-ERR [SYS/TEMP]")
    c.close()
    # POP3: a second connection from one address while the first is
    # open passes max_connection_from_single_ip.
    held = helpers.LineClient(p.ports["pop3"], source=limited)
    assert held.readline().startswith(b"+OK")
    c = helpers.LineClient(p.ports["pop3"], source=limited)
    assert c.readline().startswith(b"-ERR")
    c.close()
    held.close()
    p.wait_log(r"refused: max_connection_from_single_ip reached")

    s = parse_metrics(get(sport, "/metrics")[2].decode())
    expect_family(s, "postern_audits_total", {
        labels(protocol="imap", kind="login_type"): 1})
    expect_family(s, "postern_logins_refused_total", {
        labels(protocol="imap", reason="user_limit"): 1,
        labels(protocol="pop3", reason="login_type"): 1,
        labels(protocol="pop3", reason="groups_unknown"): 1})
    expect_family(s, "postern_connections_refused_total", {
        labels(protocol="imap", reason="rule"): 1,
        labels(protocol="pop3",
               reason="max_connection_from_single_ip"): 1})
    expect_family(s, "postern_rule_refusals_total", {
        labels(rule="no lab"): 1})
    # Only the two logins that got in count as such: the one refused by
    # the user limit was accepted by the backend but is no login.
    expect_family(s, "postern_logins_total", {
        labels(protocol="imap", result="ok"): 2})
    assert metric(s, "postern_ldap_lookups_total", result="unreachable") == 1


def test_metrics_sessions_active_and_protolog_rows(start_postern, dovecot,
                                                   logdir):  # noqa: F811
    """postern_worker_sessions_active while two sessions are open (each
    worker's count is that of its sessions in /sessions) and 0 after;
    postern_protolog_rows_written_total is the number of rows in the
    protocol-log files."""
    import test_protolog
    sport = helpers.free_ports(1)[0]
    conf = test_protolog.log_conf(logdir)
    conf.update(stats_conf(sport))
    p = start_postern(conf)
    pw = dovecot.users

    def scrape():
        return parse_metrics(get(sport, "/metrics")[2].decode())

    def per_worker(s):
        return {dict(k)["worker"]: v for k, v in
                family_values(s, "postern_worker_sessions_active").items()}

    assert per_worker(scrape()) == {"0": 0, "1": 0}
    # Two sessions held open: IMAP logged in, POP3 before its login.
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=30)
    m.login("alice", pw["alice"])
    m.select("INBOX")
    c = helpers.LineClient(p.ports["pop3"])
    try:
        assert c.readline().startswith(b"+OK")
        assert c.cmd(b"USER bob").startswith(b"+OK")
        doc = json.loads(get(sport, "/sessions")[2])
        assert len(doc["sessions"]) == 2, doc
        want = {"0": 0, "1": 0}
        for sess in doc["sessions"]:
            want[str(sess["worker"])] += 1
        s = scrape()
        assert per_worker(s) == want, doc
        for proto in ("imap", "pop3"):
            assert metric(s, "postern_sessions_active", protocol=proto,
                          listener="127.0.0.1:%d" % p.ports[proto],
                          tls="plain") == 1
    finally:
        c.close()
        m.logout()
    helpers.wait_for(lambda: per_worker(scrape()) == {"0": 0, "1": 0}, 10,
                     "every worker's sessions to end")

    # One more login, then the rows in the files.
    assert pop3_login(p.ports["pop3"], "bob", pw["bob"]).startswith(b"+OK")
    p.wait_log(r"POP3 .*(closed|closing): ", count=2)

    def written_and_rows():
        s = scrape()
        return (metric(s, "postern_protolog_rows_written_total"),
                len(test_protolog.read_logs(logdir)))

    def equal():
        written, rows = written_and_rows()
        return rows > 0 and written == rows

    helpers.wait_for(equal, 10, "the rows written to equal those in the "
                     "files")
    # Nothing more comes: the two stay equal.
    time.sleep(1)
    written, rows = written_and_rows()
    assert written == rows and rows >= 6, (written, rows)
    s = scrape()
    assert metric(s, "postern_protolog_rows_lost_total",
                  reason="queue_full") == 0
    assert metric(s, "postern_protolog_rows_lost_total",
                  reason="write_error") == 0


def test_connections_end_without_touching_a_closed_descriptor(
        start_postern):
    """Each HTTP connection's socket is closed after its events are
    deleted.  With evhttp's own bufferevent (libevent 2.1) the deletion
    came later, in the loop's next turn: an epoll_ctl(DEL) on a closed
    descriptor, whose number a worker (a backend socket) or a reload (the
    configuration file) could have been given again meanwhile;
    ThreadSanitizer reported that race now and then.  strace(1) follows
    the stats thread alone while it answers, on kept-alive and closed
    connections and on one the client drops half-way."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    sport = helpers.free_ports(1)[0]
    p = start_postern(stats_conf(sport))
    tid = thread_tid(p.pid, "postern-stats")
    out = os.path.join(tempfile.mkdtemp(prefix="postern-strace."), "trace")
    st = subprocess.Popen(["strace", "-q", "-p", str(tid), "-o", out,
                           "-e", "trace=epoll_ctl,close"],
                          stderr=subprocess.PIPE)

    def traced():
        with open("/proc/%d/status" % tid) as f:
            return re.search(r"^TracerPid:\s+[1-9]", f.read(), re.M)
    deadline = time.monotonic() + 10
    while not traced():
        if st.poll() is not None:
            pytest.skip("strace cannot attach: %s"
                        % st.stderr.read().decode(errors="replace"))
        assert time.monotonic() < deadline, "strace did not attach"
        time.sleep(0.05)
    try:
        for _ in range(10):
            assert get(sport, "/metrics")[0] == 200
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", sport), timeout=10)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            while s.recv(65536):
                pass
            s.close()
            s = socket.create_connection(("127.0.0.1", sport), timeout=10)
            s.sendall(b"GET /metr")
            s.close()
        # The last connection's end is in the trace.
        helpers.wait_for(
            lambda: open(out).read().count("close(") >= 20, 10,
            "the stats thread to close 20 connections")
    finally:
        st.terminate()
        st.wait()
    trace = open(out).read()
    assert "EPOLL_CTL_DEL" in trace, trace
    assert not re.search(r"= -1 E", trace), trace
