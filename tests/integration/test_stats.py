"""The statistics and health server ([stats]) against the real Dovecot.

/metrics is checked by Debian's promtool and its counters against a
scripted set of sessions; /health is made to fail for real, by shutting
down one of postern's listening sockets from outside (through
pidfd_getfd(2), as a stray shutdown(2) would) and by stopping one worker
thread alone with ptrace(2); /sessions and "postern who" list two open
sessions; clients outside allowed_ips and without the bearer token are
refused.
"""

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


def worker_tid(pid, index):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == "postern-w%d" % index:
                return int(tid)
    raise AssertionError("no thread postern-w%d in %d" % (index, pid))


PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207


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
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                            ctypes.c_void_p]
    tid = worker_tid(p.pid, 1)
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        pytest.skip("ptrace: %s" % os.strerror(ctypes.get_errno()))
    try:
        assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0
        os.waitpid(tid, 0x40000000)  # __WALL: the thread has stopped
        t0 = time.monotonic()
        status, h = health(sport)
        assert time.monotonic() - t0 < 5
        assert status == 503, h
        assert h["status"] == "unhealthy"
        assert h["workers_not_answering"] == [1]
        assert h["listeners_down"] == []
    finally:
        assert libc.ptrace(PTRACE_DETACH, tid, None, None) == 0
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
