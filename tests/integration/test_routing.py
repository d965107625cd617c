"""Per-user routing between an old and a new mail server.

Two private Dovecots, "old" and "new", hold the same users with the same
passwords but different mailboxes: each user has one message on each
whose subject says which server it is on, so a login routed to the wrong
server shows in the mail it reads.  postern routes by a map file (whole
login name, user part, @domain, '*', else the protocol's backend), keeps
an open session where it is when a reload moves its user, tries a pool's
addresses in order past a dead one, and answers with a temporary failure
(never another server) when a user's backend is down.
"""

import csv
import glob
import imaplib
import io
import os
import poplib
import re
import shutil
import subprocess
import time

import pytest

import helpers

USERS = {"amy@example.org": "pw-amy-1", "ben@example.net": "pw-ben-2",
         "cat": "pw-cat-3", "dan": "pw-dan-4", "eve": "pw-eve-5"}


def marker(server, user):
    subject = "lives-on-%s" % server
    return (("From: postmaster@%s.example\r\nTo: %s\r\n"
             "Subject: %s\r\nMessage-ID: <%s.%s@postern.test>\r\n\r\n"
             "This mailbox is on the %s server.\r\n")
            % (server, user, subject, server, abs(hash(user)), server)
            ).encode()


@pytest.fixture(scope="module")
def servers():
    if shutil.which("dovecot") is None:
        pytest.skip("dovecot is not installed")
    made = {}
    try:
        for name in ("old", "new"):
            made[name] = helpers.Dovecot(USERS, big_size=2048)
            for u in USERS:
                made[name].deliver(u, marker(name, u))
        yield made
    finally:
        for d in made.values():
            d.stop()


@pytest.fixture
def workdir():
    d = helpers.private_tmpdir("postern-routing.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_map(workdir, text):
    path = os.path.join(workdir, "routes")
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)
    return path


def conf(servers, workdir, routes, backends=None, default="old"):
    """A configuration with [backend "old"] and [backend "new"] (or
    backends), the protocols' backend = default, and the map routes."""
    c = {
        "pop3": {"backend": default, "backend_tls": None,
                 "protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(workdir, "Pop3")},
        "imap": {"backend": default, "backend_tls": None,
                 "protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(workdir, "Imap4")},
        "routing": {"map_file": write_map(workdir, routes)},
    }
    if backends is None:
        backends = {
            name: {"pop3": "127.0.0.1:%d" % d.ports["pop3"],
                   "imap": "127.0.0.1:%d" % d.ports["imap"]}
            for name, d in servers.items()}
    for name, keys in backends.items():
        c['backend "%s"' % name] = keys
    return c


def imap_login(p, user):
    c = imaplib.IMAP4("127.0.0.1", p.ports["imap"],
                      timeout=helpers.IO_TIMEOUT)
    c.login(user, USERS[user])
    c.select("INBOX", readonly=True)
    return c


def imap_server(c):
    """Which server's mailbox the session c shows."""
    found = []
    for name in ("old", "new"):
        typ, data = c.search(None, "SUBJECT", "lives-on-" + name)
        assert typ == "OK"
        if data[0].split():
            found.append(name)
    assert len(found) == 1, found
    return found[0]


def pop3_server(p, user):
    c = poplib.POP3("127.0.0.1", p.ports["pop3"],
                    timeout=helpers.IO_TIMEOUT)
    try:
        c.user(user)
        c.pass_(USERS[user])
        found = []
        for i in range(1, c.stat()[0] + 1):
            for line in c.top(i, 0)[1]:
                m = re.match(rb"Subject: lives-on-(old|new)", line)
                if m:
                    found.append(m.group(1).decode())
        assert len(found) == 1, found
        return found[0]
    finally:
        c.quit()


def login_rows(workdir, proto_dir):
    """The context of each login row of the protocol log, as a dict."""
    out = []
    for path in sorted(glob.glob(os.path.join(workdir, proto_dir, "*.LOG"))):
        with open(path, newline="", encoding="utf-8") as f:
            text = "".join(l for l in f if not l.startswith("#"))
        for row in csv.DictReader(io.StringIO(text)):
            if row["command"] in ("login", "pass", "auth", "authenticate"):
                ctx = dict(kv.split("=", 1) for kv in
                           row["context"].split(";") if "=" in kv)
                out.append((row["user"], ctx))
    return out


def dovecot_logins(d, user):
    return len(re.findall(r"Login: user=<%s>" % re.escape(user), d.log()))


ROUTES = ("# users moved so far\n"
          "amy@example.org   new\n"
          "@example.net      new\n"
          "cat               new\n"
          "eve               old\n")


def test_map_routes_each_user_form_for_both_protocols(
        start_postern, servers, workdir):
    p = start_postern(conf(servers, workdir, ROUTES))
    want = {"amy@example.org": ("new", "map:2:user"),
            "ben@example.net": ("new", "map:3:domain"),
            "cat": ("new", "map:4:user-part"),
            "eve": ("old", "map:5:user-part"),
            "dan": ("old", "default")}
    for user, (server, route) in want.items():
        c = imap_login(p, user)
        assert imap_server(c) == server, user
        c.logout()
        assert pop3_server(p, user) == server, user
        p.wait_log(r"user %s logged in \(backend %s 127\.0\.0\.1:\d+, "
                   r"route %s\)" % (re.escape(user), server, route),
                   count=2)
    # The login rows name the backend and the route.
    for proto_dir in ("Imap4", "Pop3"):
        rows = helpers.wait_for(
            lambda: len(login_rows(workdir, proto_dir)) >= len(want)
            and login_rows(workdir, proto_dir), 10, "the login rows")
        for user, ctx in rows:
            server, route = want[user]
            assert ctx["Backend"] == server, (user, ctx)
            assert ctx["Route"] == route, (user, ctx)
            port = servers[server].ports["pop3" if proto_dir == "Pop3"
                                         else "imap"]
            assert ctx["Msg"].startswith(
                '"Proxy:127.0.0.1:%d:Plaintext' % port), ctx


def test_wildcard_and_a_reload_that_moves_a_user(
        start_postern, servers, workdir):
    p = start_postern(conf(servers, workdir, "* old\ncat new\n"))
    before = imap_login(p, "dan")
    assert imap_server(before) == "old"
    assert pop3_server(p, "dan") == "old"
    p.wait_log(r"user dan logged in \(backend old .*route map:1:any\)",
               count=2)
    write_map(workdir, "* old\ncat new\ndan new\n")
    p.reload()
    p.wait_log(r"reload: configuration .* loaded")
    # The open session stays on the server it logged in to ...
    before.noop()
    assert imap_server(before) == "old"
    # ... and new ones go where the map says now.
    after = imap_login(p, "dan")
    assert imap_server(after) == "new"
    assert pop3_server(p, "dan") == "new"
    assert imap_server(before) == "old"
    before.logout()
    after.logout()


def test_a_broken_map_is_refused_and_the_old_one_kept(
        start_postern, servers, workdir):
    p = start_postern(conf(servers, workdir, "cat new\n"))
    write_map(workdir, "cat new\ndan nowhere\nCAT old\n")
    p.reload()
    p.wait_log(r"reload: configuration refused")
    log = p.log()
    assert re.search(r"routes:2: unknown backend 'nowhere'", log), log
    assert re.search(r"routes:3: 'CAT' is listed twice \(first at line 1\)",
                     log), log
    assert pop3_server(p, "cat") == "new"
    assert pop3_server(p, "dan") == "old"


def test_a_pool_passes_over_a_dead_address(start_postern, servers, workdir):
    dead = helpers.free_ports(2)
    new = servers["new"]
    backends = {
        "old": {"pop3": "127.0.0.1:%d" % servers["old"].ports["pop3"],
                "imap": "127.0.0.1:%d" % servers["old"].ports["imap"]},
        # Nothing listens on the first address.
        "new": {"pop3": "127.0.0.1:%d 127.0.0.1:%d"
                % (dead[0], new.ports["pop3"]),
                "imap": "127.0.0.1:%d, 127.0.0.1:%d"
                % (dead[1], new.ports["imap"]),
                "down_time": "1h"}}
    c = conf(servers, workdir, "cat new\n", backends)
    c["postern"] = {"log_level": "debug"}
    p = start_postern(c)
    for _ in range(2):
        c = imap_login(p, "cat")
        assert imap_server(c) == "new"
        c.logout()
        assert pop3_server(p, "cat") == "new"
    # Each protocol's dead address was tried once, then passed over.
    log = p.log()
    for port in dead:
        down = re.findall(r"backend new address 127\.0\.0\.1:%d: "
                          r"connection failed: Connection refused; passed "
                          r"over for 3600000 ms" % port, log)
        assert len(down) == 1, log
        tries = re.findall(r"backend new: connecting to 127\.0\.0\.1:%d$"
                           % port, log, re.M)
        assert len(tries) == 1, log
    p.wait_log(r"user cat logged in \(backend new 127\.0\.0\.1:%d, route "
               r"map:1:user-part\)" % new.ports["imap"], count=2)


def test_a_dead_address_is_tried_again_after_its_down_time(
        start_postern, servers, workdir):
    dead = helpers.free_ports(1)[0]
    new = servers["new"]
    backends = {
        "old": {"pop3": "127.0.0.1:%d" % servers["old"].ports["pop3"],
                "imap": "127.0.0.1:%d" % servers["old"].ports["imap"]},
        # Nothing listens on the first address; 1s is the least
        # down_time the configuration takes.
        "new": {"pop3": "127.0.0.1:%d 127.0.0.1:%d"
                % (dead, new.ports["pop3"]),
                "imap": "127.0.0.1:%d" % new.ports["imap"],
                "down_time": "2s"}}
    c = conf(servers, workdir, "cat new\n", backends)
    c["postern"] = {"log_level": "debug"}
    p = start_postern(c)
    tries = re.compile(r"backend new: connecting to 127\.0\.0\.1:%d$"
                       % dead, re.M)
    logins = (r"user cat logged in \(backend new 127\.0\.0\.1:%d, "
              r"route map:1:user-part\)" % new.ports["pop3"])

    # Login 1 tries the dead address, marks it down, goes on to the next.
    # The mark is set between before and marked.
    before = time.monotonic()
    assert pop3_server(p, "cat") == "new"
    marked = time.monotonic()
    p.wait_log(logins, count=1)
    assert len(tries.findall(p.log())) == 1, p.log()
    p.wait_log(r"backend new address 127\.0\.0\.1:%d: connection failed: "
               r"Connection refused; passed over for 2000 ms" % dead)

    # Login 2, within the down_time, passes over the dead address.
    assert pop3_server(p, "cat") == "new"
    p.wait_log(logins, count=2)
    assert time.monotonic() - before < 2, "login 2 came too late to tell"
    assert len(tries.findall(p.log())) == 1, p.log()

    # Once the down_time has run out, login 3 tries it again, finds it
    # still dead and falls through to the live address.
    time.sleep(max(0, marked + 2.5 - time.monotonic()))
    assert pop3_server(p, "cat") == "new"
    p.wait_log(logins, count=3)
    assert len(tries.findall(p.log())) == 2, p.log()


def test_a_routed_backend_that_is_down_is_a_temporary_failure(
        start_postern, servers, workdir):
    dead = helpers.free_ports(2)
    backends = {
        "old": {"pop3": "127.0.0.1:%d" % servers["old"].ports["pop3"],
                "imap": "127.0.0.1:%d" % servers["old"].ports["imap"]},
        "new": {"pop3": "127.0.0.1:%d 127.0.0.1:%d" % (dead[0], dead[1]),
                "imap": "127.0.0.1:%d" % dead[0]}}
    p = start_postern(conf(servers, workdir, "amy@example.org new\n",
                           backends))
    user = "amy@example.org"
    old_before = dovecot_logins(servers["old"], user)
    new_before = dovecot_logins(servers["new"], user)
    c = helpers.LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    c.send(b"a LOGIN %s %s\r\n" % (user.encode(), USERS[user].encode()))
    assert c.readline().startswith(b"a NO [UNAVAILABLE]")
    c.close()
    for _ in range(2):
        c = helpers.LineClient(p.ports["pop3"])
        assert c.readline().startswith(b"+OK")
        assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
        assert c.cmd(b"PASS " + USERS[user].encode()).startswith(
            b"-ERR [SYS/TEMP]")
        c.close()
    p.wait_log(r"backend 127\.0\.0\.1:\d+: .* \(user amy@example\.org: "
               r"backend new, route map:1:user\)")
    # The second POP3 login found both addresses down without trying.
    p.wait_log(r"every pop3 address of backend new is down")
    # No other server saw the user: no fallback to another mailbox.
    assert dovecot_logins(servers["old"], user) == old_before
    assert dovecot_logins(servers["new"], user) == new_before
    # Another user's route is not affected.
    assert pop3_server(p, "cat") == "old"


def test_named_backends_speak_tls_with_their_own_ca(
        start_postern, servers, workdir):
    new = servers["new"]
    backends = {
        "old": {"pop3": "127.0.0.1:%d" % servers["old"].ports["pop3"],
                "imap": "127.0.0.1:%d" % servers["old"].ports["imap"]},
        "new": {"pop3": "127.0.0.1:%d" % new.ports["pop3"],
                "imap": "127.0.0.1:%d" % new.ports["imaps"],
                "tls": "implicit", "ca_file": new.ca}}
    p = start_postern(conf(servers, workdir, "cat new\n", backends))
    c = imap_login(p, "cat")
    assert imap_server(c) == "new"
    c.logout()
    rows = helpers.wait_for(lambda: login_rows(workdir, "Imap4"), 10,
                            "the login row")
    assert rows[0][1]["Msg"].startswith(
        '"Proxy:127.0.0.1:%d:SSL' % new.ports["imaps"])
    # POP3 to the same backend is implicit TLS too: its plain port
    # cannot do the handshake, and nothing falls back to cleartext.
    c = helpers.LineClient(p.ports["pop3"])
    assert c.readline().startswith(b"+OK")
    assert c.cmd(b"USER cat").startswith(b"+OK")
    assert c.cmd(b"PASS " + USERS["cat"].encode()).startswith(
        b"-ERR [SYS/TEMP]")
    c.close()


def test_max_connections_of_a_backend(start_postern, servers, workdir):
    backends = {
        "old": {"pop3": "127.0.0.1:%d" % servers["old"].ports["pop3"],
                "imap": "127.0.0.1:%d" % servers["old"].ports["imap"]},
        "new": {"pop3": "127.0.0.1:%d" % servers["new"].ports["pop3"],
                "imap": "127.0.0.1:%d" % servers["new"].ports["imap"],
                "max_connections": "1"}}
    p = start_postern(conf(servers, workdir, "@example.net new\ncat new\n",
                           backends))
    first = imap_login(p, "cat")
    assert imap_server(first) == "new"
    c = helpers.LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    c.send(b"a LOGIN ben@example.net %s\r\n" % USERS["ben@example.net"]
           .encode())
    assert c.readline().startswith(b"a NO [UNAVAILABLE]")
    c.close()
    p.wait_log(r"max_connections \(1\) reached")
    # Other backends are not counted; the slot comes back at logout.
    assert pop3_server(p, "dan") == "old"
    first.logout()
    helpers.wait_for(lambda: "closing" in p.log(), 10, "the logout")
    helpers.wait_for(lambda: try_imap(p, "ben@example.net") == "new", 10,
                     "the slot to come back")


def try_imap(p, user):
    try:
        c = imap_login(p, user)
    except imaplib.IMAP4.error:
        return None
    try:
        return imap_server(c)
    finally:
        c.logout()


def test_an_address_that_does_not_answer_times_out_and_the_next_is_tried(
        start_postern, servers, workdir):
    # A listening socket whose accept queue is full and never drained:
    # the kernel drops further SYNs, so a connect there waits, as it
    # does to a server that is switched off.
    import socket
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    port = hole.getsockname()[1]
    for _ in range(4):
        f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(1)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("the kernel accepted past the full queue")
        except socket.timeout:
            pass
        finally:
            probe.close()
        new = servers["new"]
        backends = {
            "old": {"pop3": "127.0.0.1:%d" % servers["old"].ports["pop3"],
                    "imap": "127.0.0.1:%d" % servers["old"].ports["imap"]},
            "new": {"pop3": "127.0.0.1:%d 127.0.0.1:%d"
                    % (port, new.ports["pop3"]),
                    "imap": "127.0.0.1:%d" % new.ports["imap"],
                    "connect_timeout": "1s"}}
        p = start_postern(conf(servers, workdir, "cat new\n", backends))
        assert pop3_server(p, "cat") == "new"
        p.wait_log(r"backend new address 127\.0\.0\.1:%d: no connection "
                   r"within connect_timeout \(1000 ms\)" % port)
    finally:
        for f in fillers:
            f.close()
        hole.close()


def test_a_refused_login_reaches_no_backend(start_postern, servers, workdir):
    # The access policy decides before the route: a denied user's
    # credentials go to neither server.
    c = conf(servers, workdir, "cat new\n* old\n")
    c['rule "No cat"'] = {"priority": "10", "action": "deny",
                          "usernames": "cat"}
    p = start_postern(c)
    before = {n: dovecot_logins(d, "cat") for n, d in servers.items()}
    i = helpers.LineClient(p.ports["imap"])
    assert i.readline().startswith(b"* OK")
    i.send(b"a LOGIN cat %s\r\n" % USERS["cat"].encode())
    assert i.readline().startswith(b"a NO")
    i.close()
    assert {n: dovecot_logins(d, "cat") for n, d in servers.items()} == \
        before
    assert "user cat logged in" not in p.log()
    assert pop3_server(p, "dan") == "old"


def run(binary, *args):
    import subprocess
    return subprocess.run([binary] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def test_check_and_dump_show_the_backends_and_the_map(
        start_postern, postern_bin, servers, workdir):
    p = start_postern(conf(servers, workdir, "cat new\n* old\n"),
                      start=False)
    r = run(postern_bin, "-T", "-c", p.path)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for name in ("old", "new"):
        assert re.search(r"BackendName +: %s\nPop3Addresses +: "
                         r"127\.0\.0\.1:%d\nImap4Addresses +: "
                         r"127\.0\.0\.1:%d\n"
                         % (name, servers[name].ports["pop3"],
                            servers[name].ports["imap"]), out), out
    assert re.search(r"RoutingMapEntries +: 2\n", out), out
    # A broken map: -t names the map's lines, and fails.
    write_map(workdir, "cat new\ncat old\nx\x01 new\ndan elsewhere\n")
    r = run(postern_bin, "-t", "-c", p.path)
    assert r.returncode == 1
    err = r.stderr.decode()
    routes = os.path.join(workdir, "routes")
    for line, msg in ((2, "'cat' is listed twice (first at line 1)"),
                      (3, "control character (byte 0x01) in line"),
                      (4, "unknown backend 'elsewhere'")):
        assert "[routing] map_file: %s:%d: %s\n" % (routes, line, msg) \
            in err, err


def test_a_group_rule_routes_where_the_map_is_silent(
        start_postern, servers, workdir):
    """[rule] route = new on member_of moves a whole group; the map still
    decides for the users it names, and everybody else stays put."""
    groups = os.path.join(workdir, "groups")
    with open(groups, "w") as f:
        f.write("Migration Wave 3: cat, dan, eve\n")
    c = conf(servers, workdir, "# exceptions to the waves\neve old\n")
    c["groups"] = {"file": groups}
    c['rule "wave3"'] = {"priority": "10", "action": "allow",
                         "member_of": "Migration Wave 3", "route": "new"}
    p = start_postern(c)
    want = {"cat": ("new", "rule:wave3"), "dan": ("new", "rule:wave3"),
            "eve": ("old", "map:2:user-part"),
            "amy@example.org": ("old", "default")}
    for user, (server, route) in want.items():
        s = imap_login(p, user)
        assert imap_server(s) == server, user
        s.logout()
        assert pop3_server(p, user) == server, user
        p.wait_log(r"user %s logged in \(backend %s 127\.0\.0\.1:\d+, "
                   r"route %s\)" % (re.escape(user), server, route),
                   count=2)
    for proto_dir in ("Imap4", "Pop3"):
        rows = helpers.wait_for(
            lambda: len(login_rows(workdir, proto_dir)) >= len(want)
            and login_rows(workdir, proto_dir), 10, "the login rows")
        for user, ctx in rows:
            server, route = want[user]
            assert ctx["Backend"] == server, (user, ctx)
            assert ctx["Route"] == route, (user, ctx)
    # test-rule tells the same route without a login.
    r = subprocess.run([p.binary, "test-rule", "-c", p.path, "--protocol",
                        "imap", "--client", "127.0.0.1", "--user", "dan"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^route +rule:wave3$", r.stdout, re.M), r.stdout
    assert re.search(r"^backend +new ", r.stdout, re.M), r.stdout


@pytest.mark.skipif(shutil.which("curl") is None or
                    shutil.which("fetchmail") is None,
                    reason="curl or fetchmail is not installed")
def test_real_clients_follow_both_routes(start_postern, servers, workdir,
                                         tmp_path):
    """curl (IMAP and POP3) and fetchmail (POP3), unchanged between the
    two users, read each user's mail on the server the map names."""
    p = start_postern(conf(servers, workdir, "cat new\n"))
    for user, server in (("cat", "new"), ("dan", "old")):
        other = "old" if server == "new" else "new"
        base = "imap://127.0.0.1:%d/INBOX" % p.ports["imap"]
        found = {}
        for name in (server, other):
            r = helpers.curl(base, "-X", "SEARCH SUBJECT lives-on-" + name,
                             user=user, password=USERS[user])
            assert r.returncode == 0, r.stderr.decode()
            m = re.match(rb"\* SEARCH ?([0-9 ]*)\r\n$", r.stdout)
            assert m, r.stdout
            found[name] = m.group(1).split()
        assert len(found[server]) == 1 and found[other] == [], found
        r = helpers.curl(base + ";MAILINDEX=" + found[server][0].decode(),
                         user=user, password=USERS[user])
        assert r.returncode == 0, r.stderr.decode()
        assert b"Subject: lives-on-%s\r\n" % server.encode() in r.stdout
        # POP3: the list, then every message; one names its server.
        pop = "pop3://127.0.0.1:%d/" % p.ports["pop3"]
        r = helpers.curl(pop, user=user, password=USERS[user])
        assert r.returncode == 0, r.stderr.decode()
        subjects = []
        for line in r.stdout.split(b"\r\n"):
            if not line:
                continue
            m = helpers.curl(pop + line.split()[0].decode(), user=user,
                             password=USERS[user])
            assert m.returncode == 0, m.stderr.decode()
            subjects += re.findall(rb"Subject: lives-on-(\w+)\r\n",
                                   m.stdout)
        assert subjects == [server.encode()], subjects

        home = tmp_path / ("fetchmail-" + user)
        out = home / "delivered"
        out.mkdir(parents=True)
        mda = home / "mda.sh"
        mda.write_text('#!/bin/sh\nexec cat > "$(mktemp %s/msg.XXXXXX)"\n'
                       % out)
        mda.chmod(0o755)
        rc = home / "fetchmailrc"
        rc.write_text('poll 127.0.0.1 service %d protocol pop3 timeout 60\n'
                      '  user "%s" password "%s"\n'
                      '  sslproto "" keep fetchall mda "%s"\n'
                      % (p.ports["pop3"], user, USERS[user], mda))
        rc.chmod(0o600)
        env = dict(os.environ, FETCHMAILHOME=str(home), HOME=str(home))
        f = subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog",
                            "--nodetach", "-v"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        assert f.returncode == 0, f.stdout.decode(errors="replace")
        got = b"".join(m.read_bytes() for m in out.iterdir())
        assert re.findall(rb"Subject: lives-on-(\w+)\n", got) == \
            [server.encode()], f.stdout.decode(errors="replace")
    p.wait_log(r"user cat logged in \(backend new .*route map:1:user-part\)",
               count=4)
    p.wait_log(r"user dan logged in \(backend old .*route default\)",
               count=4)
