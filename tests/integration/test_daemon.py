"""The daemon's command line and signals: -t, -T, -V, SIGHUP, SIGTERM."""

import os
import poplib
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from helpers import LineClient, render_ini, wait_for


def run_postern(binary, *args):
    return subprocess.run([binary] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def pop3_login(port, dovecot, user):
    pop = poplib.POP3("127.0.0.1", port, timeout=30)
    pop.user(user)
    pop.pass_(dovecot.users[user])
    return pop


# --- -t, -T, -V ----------------------------------------------------------------

def test_check_valid_configuration(start_postern, postern_bin):
    p = start_postern(start=False)
    r = run_postern(postern_bin, "-t", "-c", p.path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode() == \
        "postern: %s: configuration is valid\n" % p.path


def line_of(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in the configuration" % needle)


@pytest.mark.parametrize("section,key,value,needle", [
    ("pop3", "no_such_key", "1", "no_such_key"),
    ("pop3", "login_type", "Sometimes", "login_type"),
    ("pop3", "max_command_size", "20", "max_command_size"),
    ("pop3", "pre_authenticated_connection_timeout", "soon",
     "pre_authenticated_connection_timeout"),
    ("no_such_section", "x", "1", "[no_such_section]"),
])
def test_check_broken_configuration(start_postern, postern_bin, section,
                                    key, value, needle):
    p = start_postern({section: {key: value}}, start=False)
    with open(p.path) as f:
        text = f.read()
    r = run_postern(postern_bin, "-t", "-c", p.path)
    assert r.returncode == 1
    err = r.stderr.decode()
    want = "%s:%d: " % (p.path, line_of(text, needle))
    assert err.startswith(want), err
    for line in err.splitlines():
        assert re.match(r"^%s:\d+: \S" % re.escape(p.path), line), line


def test_check_duplicate_binding(start_postern, postern_bin):
    p = start_postern(start=False)
    b = p.conf["pop3"]["unencrypted_or_tls_bindings"]
    p.update({"imap": {"unencrypted_or_tls_bindings": b}})
    with open(p.path) as f:
        text = f.read()
    r = run_postern(postern_bin, "-t", "-c", p.path)
    assert r.returncode == 1
    lines = [i for i, l in enumerate(text.splitlines(), 1) if b in l]
    assert r.stderr.decode().startswith("%s:%d: " % (p.path, lines[-1])), \
        r.stderr


def test_check_key_not_matching_certificate(start_postern, postern_bin,
                                            tmp_path):
    import helpers
    _, other_key = helpers.make_cert(str(tmp_path), "other")
    p = start_postern({"tls": {"private_key": other_key}}, start=False)
    with open(p.path) as f:
        text = f.read()
    r = run_postern(postern_bin, "-t", "-c", p.path)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert re.match(r"^%s:(%d|%d): " % (
        re.escape(p.path), line_of(text, "certificate ="),
        line_of(text, "private_key =")), err), err


def test_dump_settings(start_postern, postern_bin):
    p = start_postern({"pop3": {"banner": "Dump test banner.",
                                "login_type": "SecureLogin"},
                       "imap": {"max_command_size": "2048"}},
                      start=False)
    r = run_postern(postern_bin, "-T", "-c", p.path)
    assert r.returncode == 0, r.stderr
    blocks, cur = [], {}
    for line in r.stdout.decode().splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
            cur = {}
            continue
        # An empty value leaves "Name :".
        m = re.match(r"^([A-Za-z0-9]+) +:(?: (.*))?$", line)
        assert m, "not a 'Name : Value' line: %r" % line
        cur[m.group(1)] = m.group(2) or ""
    if cur:
        blocks.append(cur)
    by_proto = {b["ProtocolName"]: b for b in blocks if "ProtocolName" in b}
    pop3, imap = by_proto["POP3"], by_proto["IMAP4"]
    assert pop3["Banner"] == "Dump test banner."
    assert pop3["LoginType"] == "SecureLogin"
    assert pop3["MaxCommandSize"] == "512"
    assert pop3["UnencryptedOrTLSBindings"] == \
        "127.0.0.1:%d" % p.ports["pop3"]
    assert pop3["SSLBindings"] == "127.0.0.1:%d" % p.ports["pop3s"]
    assert pop3["ProxyTargetPort"] == str(p.dovecot.ports["pop3"])
    assert imap["LoginType"] == "PlainTextLogin"
    assert imap["MaxCommandSize"] == "2048"
    assert any(b.get("Workers") == "2" for b in blocks)


def test_version(postern_bin):
    r = run_postern(postern_bin, "-V")
    assert r.returncode == 0
    assert re.match(rb"^postern \d+\.\d+\.\d+ ", r.stdout)


def test_usage_error(postern_bin):
    r = run_postern(postern_bin, "-x")
    assert r.returncode == 2
    assert b"usage" in r.stderr


def test_pid_file(start_postern):
    p = start_postern()
    with open(p.conf["postern"]["pid_file"]) as f:
        assert int(f.read()) == p.pid


# --- SIGHUP ---------------------------------------------------------------------

def test_reload_broken_configuration_keeps_serving(start_postern, dovecot):
    p = start_postern({"pop3": {"banner": "Old banner."}})
    before = LineClient(p.ports["pop3"])
    assert before.readline() == b"+OK Old banner.\r\n"
    good = render_ini(p.conf)
    p.reload(text=good.replace("Old banner.", "New banner.") +
             "\n[pop3]\nlogin_type = Never\n")
    p.wait_log(r"reload: configuration refused")
    assert re.search(r"reload: .*login_type", p.log())
    assert p.proc.poll() is None
    # New sessions still get the old settings ...
    c = LineClient(p.ports["pop3"])
    assert c.readline() == b"+OK Old banner.\r\n"
    c.close()
    # ... and the session from before the reload goes on.
    assert before.cmd(b"USER alice").startswith(b"+OK")
    assert before.cmd(b"PASS " + dovecot.users["alice"].encode()) \
        .startswith(b"+OK")
    assert before.cmd(b"STAT").startswith(b"+OK 3 ")
    before.close()


def test_reload_new_banner_for_new_sessions_only(start_postern, dovecot):
    p = start_postern({"pop3": {"banner": "Before reload."}})
    logged_in = pop3_login(p.ports["pop3"], dovecot, "alice")
    preauth = LineClient(p.ports["pop3"])
    assert preauth.readline() == b"+OK Before reload.\r\n"

    p.reload({"pop3": {"banner": "After reload.",
                       "login_type": "SecureLogin"}})
    p.wait_log(r"reload: configuration .* loaded")

    c = LineClient(p.ports["pop3"])
    assert c.readline() == b"+OK After reload.\r\n"
    # The new login type applies to the new session ...
    assert c.cmd(b"USER alice").startswith(b"-ERR [AUTH]")
    c.close()
    # ... not to one that started before the reload,
    assert preauth.cmd(b"USER alice").startswith(b"+OK")
    assert preauth.cmd(b"PASS " + dovecot.users["alice"].encode()) \
        .startswith(b"+OK")
    assert preauth.cmd(b"STAT").startswith(b"+OK 3 ")
    preauth.close()
    # and a logged-in session keeps working.
    assert logged_in.stat()[0] == 3
    assert logged_in.retr(2)[0].startswith(b"+OK")
    logged_in.quit()


# --- SIGTERM / SIGINT ------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_is_graceful(start_postern, dovecot, sig):
    p = start_postern({"postern": {"shutdown_timeout": "3s"}})
    logged_in = LineClient(p.ports["pop3"])
    logged_in.readline()
    logged_in.cmd(b"USER bob")
    assert logged_in.cmd(b"PASS " + dovecot.users["bob"].encode()) \
        .startswith(b"+OK")
    preauth = LineClient(p.ports["pop3"])
    preauth.readline()

    t0 = time.monotonic()
    p.proc.send_signal(sig)
    # Clients that have not logged in are told at once (that their
    # connection is also closed at once is test_stop_closes_preauth_...).
    assert preauth.readline() == b"-ERR [SYS/TEMP] Server shutting down.\r\n"
    # No new sessions: once every worker has closed its listeners, a
    # connection is refused.  (One that races the signal may be accepted
    # and then left hanging until exit; that is retried here, not judged.)
    def refused():
        try:
            c = LineClient(p.ports["pop3"], timeout=2)
        except OSError:
            return True
        try:
            c.read_until_close(1)
        except OSError:
            pass
        c.close()
        return False
    wait_for(refused, 5, "new connections to be refused")
    # The logged-in session goes on during the grace time ...
    assert logged_in.cmd(b"STAT").startswith(b"+OK 3 ")
    # ... and is ended when it is over.
    logged_in.read_until_close(10)
    logged_in.close()
    assert p.proc.wait(10) == 0
    p.returncode = 0
    elapsed = time.monotonic() - t0
    assert 2.5 <= elapsed <= 8, elapsed
    assert "postern stopped" in p.log()
    preauth.close()


def closed_within(client, seconds):
    """True if the server closes client's connection within seconds."""
    client.sock.settimeout(seconds)
    try:
        while client.sock.recv(4096):
            pass
        return True
    except OSError as e:  # a timeout is an OSError too
        return not isinstance(e, TimeoutError)


def test_stop_closes_preauth_connections_promptly(start_postern, dovecot):
    p = start_postern({"postern": {"workers": "2",
                                   "shutdown_timeout": "6s"}})
    # A logged-in session keeps its worker busy for the grace time; the
    # 16 pre-auth sessions go to whichever of the 2 workers sharing the
    # listening socket accepts first, so some land on each as a rule.
    logged_in = LineClient(p.ports["pop3"])
    logged_in.readline()
    logged_in.cmd(b"USER bob")
    assert logged_in.cmd(b"PASS " + dovecot.users["bob"].encode()) \
        .startswith(b"+OK")
    preauth = [LineClient(p.ports["pop3"]) for _ in range(16)]
    for c in preauth:
        assert c.readline().startswith(b"+OK")
    p.proc.send_signal(signal.SIGTERM)
    for c in preauth:
        assert c.readline() == b"-ERR [SYS/TEMP] Server shutting down.\r\n"
    still_open = [c for c in preauth if not closed_within(c, 2)]
    for c in preauth:
        c.close()
    logged_in.close()
    assert p.proc.wait(15) == 0
    p.returncode = 0
    assert not still_open, "%d of 16 connections still open 2 s after " \
        "their goodbye" % len(still_open)


def test_stop_without_sessions_is_quick(start_postern):
    p = start_postern({"postern": {"shutdown_timeout": "20s"}})
    t0 = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - t0 < 5


# --- one instance per binding ------------------------------------------------------

def test_second_instance_on_same_bindings_refuses_to_start(start_postern,
                                                           postern_bin):
    first = start_postern({"pop3": {"banner": "First instance."}})
    second = start_postern({"pop3": {"banner": "Second instance."}},
                           start=False)
    # The second one is given exactly the first one's bindings.
    for name in ("pop3", "imap"):
        for key in ("unencrypted_or_tls_bindings", "ssl_bindings"):
            second.conf[name][key] = first.conf[name][key]
    second.update({})
    with open(second.path) as f:
        text = f.read()
    addr = first.conf["pop3"]["unencrypted_or_tls_bindings"]

    # The check warns that the ports are taken ...
    r = run_postern(postern_bin, "-t", "-c", second.path)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "%s:%d: warning: cannot listen on %s: Address already in use " \
        "(another postern" % (second.path, line_of(text, addr), addr) \
        in err, err
    assert "would refuse to start" in err, err

    # ... and the daemon refuses to start, naming the address.
    r = run_postern(postern_bin, "-c", second.path)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert re.search(r"^%s:%d: cannot listen on %s: Address already in use"
                     % (re.escape(second.path), line_of(text, addr),
                        re.escape(addr)), err, re.M), err

    # The first one keeps every connection.
    banners = []
    for _ in range(20):
        c = LineClient(first.ports["pop3"])
        banners.append(c.readline())
        c.close()
    assert banners == [b"+OK First instance.\r\n"] * 20, banners


# --- settings changed by SIGHUP ---------------------------------------------------

def test_reloaded_shutdown_timeout_applies_without_new_sessions(
        start_postern, dovecot):
    p = start_postern({"postern": {"shutdown_timeout": "30s"}})
    # Sessions on every worker, accepted before the reload; none after.
    held = [pop3_login(p.ports["pop3"], dovecot, u)
            for u in ("grace", "heidi", "judy", "mallory")]
    p.reload({"postern": {"shutdown_timeout": "1s"}})
    p.wait_log(r"reload: configuration .* loaded")
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    try:
        p.proc.wait(15)
    except subprocess.TimeoutExpired:
        pass
    elapsed = time.monotonic() - t0
    assert elapsed < 6, "stopped after %.1f s, not after the 1 s the " \
        "reload set" % elapsed
    assert p.proc.returncode == 0
    p.returncode = 0
    assert "grace time 1000 ms" in p.log()
    for c in held:
        c.sock.close()


def test_reload_names_settings_that_need_a_restart(start_postern):
    p = start_postern({"postern": {"workers": "2"}})
    p.reload({"postern": {"workers": "3", "shutdown_timeout": "2s"},
              "pop3": {"banner": "Reloaded."}})
    p.wait_log(r"reload: configuration .* loaded")
    log = p.log()
    assert re.search(r"reload: \[postern\] workers changed; it takes "
                     r"effect only after a restart", log), log
    assert "shutdown_timeout" not in log
    assert "banner" not in log


@pytest.mark.parametrize("proto,bye", [
    ("imap", b"* BYE [UNAVAILABLE] Service disabled.\r\n"),
    ("pop3", b"-ERR [SYS/PERM] Service disabled.\r\n"),
])
def test_protocol_disabled_by_reload_says_so(start_postern, cert, proto,
                                             bye):
    import helpers
    p = start_postern()
    p.reload({proto: {"enabled": "no"}})
    p.wait_log(r"reload: configuration .* loaded")
    assert re.search(r"reload: %s disabled" % ("IMAP4" if proto == "imap"
                                                else "POP3"), p.log())
    c = LineClient(p.ports[proto])
    assert c.read_until_close(10) == bye
    c.close()
    # Over implicit TLS no context is kept for the disabled protocol:
    # the connection ends before the handshake.
    with pytest.raises((ssl.SSLError, OSError)):
        LineClient(p.ports[proto + "s"],
                   tls_ctx=helpers.client_context(cert[0]))
    # The other protocol goes on.
    other = "pop3" if proto == "imap" else "imap"
    c = LineClient(p.ports[other])
    assert c.readline().startswith(b"+OK" if other == "pop3" else b"* OK")
    c.close()


def listening_inode(port):
    """The inode of the socket listening on 127.0.0.1:port, or None."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":  # LISTEN
                return fields[9]
    return None


def test_reload_rebinds_changed_bindings_only(start_postern):
    import helpers
    p = start_postern()
    old_pop3, imap = p.ports["pop3"], p.ports["imap"]
    imap_inode = listening_inode(imap)
    assert imap_inode is not None
    new_pop3, taken = helpers.free_ports(2)

    # A port another process listens on: the reload is refused whole.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", taken))
    blocker.listen()
    p.reload({"pop3": {"unencrypted_or_tls_bindings":
                       "127.0.0.1:%d" % taken}})
    p.wait_log(r"reload: configuration refused")
    assert re.search(r"reload: .*:\d+: cannot listen on 127\.0\.0\.1:%d: "
                     r"Address already in use" % taken, p.log()), p.log()
    blocker.close()
    c = LineClient(old_pop3)
    assert c.readline().startswith(b"+OK")
    c.close()

    p.reload({"pop3": {"unencrypted_or_tls_bindings":
                       "127.0.0.1:%d" % new_pop3}})
    p.wait_log(r"reload: configuration .* loaded")
    assert "reload: POP3 listening on 127.0.0.1:%d" % new_pop3 in p.log()
    assert "reload: POP3 no longer listening on 127.0.0.1:%d" % old_pop3 \
        in p.log()
    # The new binding serves, the removed one is closed ...
    c = LineClient(new_pop3)
    assert c.readline().startswith(b"+OK")
    c.close()
    wait_for(lambda: listening_inode(old_pop3) is None, 5,
             "the removed binding to close")
    with pytest.raises(ConnectionRefusedError):
        LineClient(old_pop3)
    # ... and an unchanged one is the same socket, still serving.
    assert listening_inode(imap) == imap_inode
    c = LineClient(imap)
    assert c.readline().startswith(b"* OK")
    c.close()
    # After the stop nothing listens any more.
    assert p.stop() == 0
    assert listening_inode(new_pop3) is None
    assert listening_inode(imap) is None


def _socket_of(pid, peer):
    """A duplicate of the socket of process pid whose peer is peer, taken
    with pidfd_getfd(2) (root, or the same user under ptrace rules)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    sys_pidfd_open, sys_pidfd_getfd = 434, 438
    pidfd = libc.syscall(sys_pidfd_open, pid, 0)
    if pidfd < 0:
        pytest.skip("pidfd_open: %s" % os.strerror(ctypes.get_errno()))
    try:
        for name in os.listdir("/proc/%d/fd" % pid):
            try:
                if not os.readlink("/proc/%d/fd/%s" % (pid, name)) \
                        .startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(sys_pidfd_getfd, pidfd, int(name), 0)
            if fd < 0:
                pytest.skip("pidfd_getfd: %s"
                            % os.strerror(ctypes.get_errno()))
            s = socket.socket(fileno=fd)
            try:
                if s.getpeername() == peer:
                    return s
            except OSError:
                pass
            s.close()
    finally:
        os.close(pidfd)
    raise AssertionError("no socket of postern has the peer %r" % (peer,))


@pytest.mark.parametrize("proto", ["pop3", "imap"])
def test_accepted_sockets_keep_alive_without_delay(start_postern, proto):
    """The client's socket has SO_KEEPALIVE (dead peers of idle sessions
    go) and TCP_NODELAY (answers are not held back), which postern sets
    once on the listening socket for the accepted ones to inherit."""
    p = start_postern()
    c = LineClient(p.ports[proto])
    c.readline()
    s = _socket_of(p.pid, c.sock.getsockname())
    try:
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        s.close()
        c.close()
