"""The systemd unit (contrib/postern.service.in), as far as a test can go
without systemd as process 1: systemd-analyze verify reads it, and postern
runs under the unit's own commands, capability bounding set,
no-new-privileges and umask (setpriv), in the log directory that the
unit's LogsDirectory= leaves at every start, with protocol logs on and a
user to change to."""

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

import pytest

import helpers
from helpers import LineClient, render_ini, wait_for
from test_notify import NotifySocket

UNIT_IN = os.path.join(helpers.TOP, "contrib", "postern.service.in")
SAMPLE_INI = os.path.join(helpers.TOP, "etc", "postern.ini")
# The unprivileged account the daemon changes to.
USER = "nobody"


def parse_unit(text):
    """{section: [(key, value), ...]} of a unit file: comments, repeated
    keys and lines continued with a backslash, as systemd reads them."""
    out, sec, pending = {}, None, ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            sec = line[1:-1]
            out.setdefault(sec, [])
            continue
        key, _, value = line.partition("=")
        out[sec].append((key.strip(), value.strip()))
    return out


def values(unit, key, section="Service"):
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit, key, default=None):
    v = values(unit, key)
    return v[-1] if v else default


def service_type(binary):
    """Type= as configure chooses it: notify when postern was built with
    libsystemd, exec otherwise."""
    out = subprocess.run([binary, "-V"], stdout=subprocess.PIPE,
                         timeout=30).stdout.decode()
    return "notify" if "systemd notify" in out else "exec"


def generate(binary, sysconfdir):
    """The unit as Makefile.am makes it, with these directories."""
    with open(UNIT_IN) as f:
        text = f.read()
    return text.replace("@sbindir@", os.path.dirname(binary)).replace(
        "@sysconfdir@", sysconfdir).replace("@SERVICE_TYPE@",
                                            service_type(binary))


def sample_log_locations():
    """The default log_file_location of each protocol, as the sample
    configuration shows them."""
    with open(SAMPLE_INI) as f:
        found = re.findall(r"^log_file_location\s*=\s*(\S+)\s*$", f.read(),
                           re.M)
    assert len(found) == 2, found
    return found


# --- what the unit says ----------------------------------------------------------

def test_unit_verifies(postern_bin):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    d = tempfile.mkdtemp(prefix="postern-unit.")
    try:
        path = os.path.join(d, "postern.service")
        with open(path, "w") as f:
            f.write(generate(postern_bin, "/etc"))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        out = r.stdout.decode(errors="replace")
        assert r.returncode == 0, out
        # Unknown or misspelt settings are only warnings.
        assert "postern.service" not in out, out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_unit_default_log_locations_are_writable():
    """Under ProtectSystem=strict only the unit's own directories can be
    written; the directory LogsDirectory= makes belongs to root, so the
    protocol logs must go to directories below it, which postern creates
    and gives to its user."""
    with open(UNIT_IN) as f:
        unit = parse_unit(f.read())
    assert one(unit, "ProtectSystem") == "strict"
    logs = [os.path.join("/var/log", n)
            for v in values(unit, "LogsDirectory") for n in v.split()]
    assert logs, "no LogsDirectory="
    for loc in sample_log_locations():
        assert any(os.path.dirname(loc) == d or
                   loc.startswith(d + "/") for d in logs), (loc, logs)
        assert loc not in logs, loc
    # Not required since postern opens its directories as root, but a
    # location that a reload names for the first time must be reachable.
    mode = int(one(unit, "LogsDirectoryMode", "0755"), 8)
    assert mode & 0o001, oct(mode)


# --- postern as the unit runs it ----------------------------------------------

def cap_list(unit):
    caps = []
    for v in values(unit, "CapabilityBoundingSet"):
        caps += [c for c in v.split()]
    assert caps and not any(c.startswith("~") for c in caps), caps
    return ["+" + c[len("CAP_"):].lower() for c in caps]


class UnitRun:
    """A private root standing for /, with the unit generated for it:
    <root>/etc/postern/postern.ini, <root>/var/log/..., <root>/run/...
    The unit's Exec lines run unchanged under setpriv with its bounding
    set and no-new-privileges, and with its umask."""

    def __init__(self, binary, dovecot):
        self.root = helpers.private_tmpdir("postern-svc.")
        self.binary = binary
        etc = os.path.join(self.root, "etc")
        self.confdir = os.path.join(etc, "postern")
        os.makedirs(self.confdir)
        os.chmod(etc, 0o755)
        os.chmod(self.confdir, 0o755)
        self.unit = parse_unit(generate(binary, etc))
        self.conf_path = os.path.join(self.confdir, "postern.ini")
        for cmd in self.commands("ExecStart"):
            assert cmd[-2:] == ["-c", self.conf_path], cmd
        # The key is readable by the user, as a reload needs.
        crt, key = helpers.make_cert(self.confdir, "postern")
        os.chmod(crt, 0o644)
        os.chown(key, 0, pwd.getpwnam(USER).pw_gid)
        os.chmod(key, 0o640)
        self.logfile = os.path.join(self.root, "postern.log")
        self.sanitizer = os.path.join(self.root, "sanitizer")
        os.mkdir(self.sanitizer)
        os.chmod(self.sanitizer, 0o733)
        p = helpers.free_ports(2)
        self.ports = {"pop3": p[0], "imap": p[1]}
        self.logdirs = [self.below(loc) for loc in sample_log_locations()]
        self.conf = {"postern": {"user": USER, "workers": "1",
                                 "shutdown_timeout": "2s"},
                     "tls": {"certificate": crt, "private_key": key}}
        run = [os.path.join("/run", n)
               for v in values(self.unit, "RuntimeDirectory")
               for n in v.split()]
        if run:
            self.conf["postern"]["pid_file"] = \
                self.below(os.path.join(run[0], "postern.pid"))
        for name, logdir in zip(("pop3", "imap"), self.logdirs):
            self.conf[name] = {
                "unencrypted_or_tls_bindings":
                    "127.0.0.1:%d" % self.ports[name],
                "ssl_bindings": "",
                "login_type": "PlainTextLogin",
                "backend": "127.0.0.1:%d" % dovecot.ports[name],
                "protocol_log_enabled": "yes",
                "log_file_location": logdir,
            }
        self.write_conf()
        self.proc = None
        # Type=notify: systemd's end of sd_notify(3).
        self.notify = None
        if one(self.unit, "Type") == "notify":
            self.notify = NotifySocket()

    def below(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def write_conf(self):
        with open(self.conf_path, "w") as f:
            f.write(render_ini(self.conf))
        os.chmod(self.conf_path, 0o644)

    def commands(self, key):
        return [v.split() for v in values(self.unit, key)]

    def prepare_directories(self):
        """What systemd does to LogsDirectory= and RuntimeDirectory= at
        each start when User= is not set: create them, owned by root,
        set their mode, and give the whole tree back to root when the
        top is owned by anyone else (systemd.exec(5))."""
        for key, top in (("LogsDirectory", "/var/log"),
                         ("RuntimeDirectory", "/run")):
            mode = int(one(self.unit, key + "Mode", "0755"), 8)
            for v in values(self.unit, key):
                for name in v.split():
                    d = self.below(os.path.join(top, name))
                    os.makedirs(d, exist_ok=True)
                    for parent in (self.below(top),
                                   os.path.dirname(self.below(top))):
                        os.chmod(parent, 0o755)
                    st = os.stat(d)
                    if st.st_uid != 0 or st.st_gid != 0:
                        for dirpath, dirs, files in os.walk(d):
                            for n in dirs + files:
                                os.lchown(os.path.join(dirpath, n), 0, 0)
                        os.chown(d, 0, 0)
                    os.chmod(d, mode)

    def sandbox(self):
        cmd = ["setpriv", "--bounding-set", ",".join(["-all"] +
                                                     cap_list(self.unit))]
        if one(self.unit, "NoNewPrivileges") == "yes":
            cmd.append("--no-new-privs")
        return cmd + ["--"]

    def env(self):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            opts = os.environ.get(var, "")
            env[var] = (opts + ":" if opts else "") + "log_path=" + \
                os.path.join(self.sanitizer, "report")
        if self.notify is not None:
            env["NOTIFY_SOCKET"] = self.notify.path
        return env

    def umask(self):
        mask = int(one(self.unit, "UMask", "0022"), 8)
        return lambda: os.umask(mask)

    def run(self, cmd):
        return subprocess.run(self.sandbox() + cmd, env=self.env(),
                              preexec_fn=self.umask(),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)

    def start(self):
        """ExecStartPre, then ExecStart; returns once postern started."""
        self.prepare_directories()
        for cmd in self.commands("ExecStartPre"):
            r = self.run(cmd)
            assert r.returncode == 0, (cmd, r.stdout.decode())
        (cmd,) = self.commands("ExecStart")
        out = open(self.logfile, "ab")
        since = out.tell()
        self.proc = subprocess.Popen(self.sandbox() + cmd, env=self.env(),
                                     preexec_fn=self.umask(),
                                     stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out)
        out.close()
        wait_for(lambda: b"started" in self.log_bytes()[since:] or
                 self.proc.poll() is not None, 20, "postern to start")
        assert self.proc.poll() is None, self.log()
        if self.notify is not None:
            self.notify.expect("READY", self.proc.pid)

    def reload_status(self):
        """ExecReload, each command in turn until one fails, as systemctl
        reload runs them: (exit status of the last one run, output)."""
        out = b""
        for cmd in self.commands("ExecReload"):
            cmd = [str(self.proc.pid) if a == "$MAINPID" else a
                   for a in cmd]
            r = self.run(cmd)
            out += r.stdout
            if r.returncode != 0:
                return r.returncode, out.decode(errors="replace")
        return 0, out.decode(errors="replace")

    def reload(self):
        rc, out = self.reload_status()
        assert rc == 0, out
        if self.notify is not None:
            self.notify.expect("RELOADING", self.proc.pid)
            self.notify.expect("READY", self.proc.pid)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        if self.notify is not None:
            self.notify.skip_to("STOPPING", self.proc.pid)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_bytes(self):
        with open(self.logfile, "rb") as f:
            return f.read()

    def log(self):
        return self.log_bytes().decode(errors="replace")

    def sanitizer_reports(self):
        return [open(p, errors="replace").read()
                for p in glob.glob(os.path.join(self.sanitizer, "*"))]

    def cleanup(self):
        self.stop()
        if self.notify is not None:
            self.notify.close()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def unit_run(postern_bin, dovecot):
    if os.geteuid() != 0:
        pytest.skip("needs root: the unit starts postern as root")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed (util-linux)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        pytest.skip("no user %s" % USER)
    u = UnitRun(postern_bin, dovecot)
    yield u
    u.cleanup()
    reports = u.sanitizer_reports()
    assert not reports, "\n".join(reports)


def pop3_session(port, dovecot, user="carol"):
    c = LineClient(port)
    greeting = c.readline()
    assert greeting.startswith(b"+OK"), greeting
    assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
    assert c.cmd(b"PASS " + dovecot.users[user].encode()).startswith(b"+OK")
    assert c.cmd(b"QUIT").startswith(b"+OK")
    c.close()
    return greeting


def logged_files(directory):
    """The protocol log files (not the instance's postern.lock)."""
    return [p for p in glob.glob(os.path.join(directory, "*.LOG"))
            if os.path.isfile(p) and os.path.getsize(p) > 0]


@pytest.mark.parametrize("logs_mode", [None, "0750"])
def test_unit_starts_reloads_and_restarts_with_protocol_logs(unit_run,
                                                             dovecot,
                                                             logs_mode):
    """As the unit stands, and with a drop-in's LogsDirectoryMode=0750
    (/var/log/postern root's and closed to the user, as Debian makes
    some log directories): postern reaches its directories through
    descriptors it opened as root, and leaves the one systemd manages as
    systemd made it."""
    u = unit_run
    user = pwd.getpwnam(USER)
    if logs_mode is not None:
        u.unit["Service"].append(("LogsDirectoryMode", logs_mode))
    u.start()
    top = os.path.dirname(u.logdirs[0])
    st = os.stat(top)
    mode = int(one(u.unit, "LogsDirectoryMode", "0755"), 8)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, mode)
    pop3_session(u.ports["pop3"], dovecot)
    pop = u.logdirs[0]
    wait_for(lambda: logged_files(pop), 15, "a POP3 protocol log in " + pop)
    for d in u.logdirs:
        st = os.stat(d)
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid), d
    for f in logged_files(pop) + [os.path.join(pop, "postern.lock")]:
        assert os.stat(f).st_uid == user.pw_uid, f
    with open(logged_files(pop)[0], errors="replace") as f:
        assert "carol" in f.read()
    pidfile = u.conf["postern"].get("pid_file")
    if pidfile:
        with open(pidfile) as f:
            assert int(f.read()) == u.proc.pid

    # systemctl reload: a new banner for new sessions.
    u.conf["pop3"]["banner"] = "Reloaded by the unit."
    u.write_conf()
    u.reload()
    wait_for(lambda: "reload: configuration" in u.log(), 15,
             "the reload in postern's log:\n" + u.log())
    assert pop3_session(u.ports["pop3"], dovecot) == \
        b"+OK Reloaded by the unit.\r\n"

    # systemctl restart: systemd goes over the directories again.
    assert u.stop() == 0, u.log()
    u.start()
    pop3_session(u.ports["pop3"], dovecot)
    assert u.stop() == 0, u.log()
    assert os.stat(pop).st_uid == user.pw_uid
    with open(sorted(logged_files(pop))[-1], errors="replace") as f:
        assert f.read().count("carol") >= 3


def test_unit_reload_fails_when_the_daemon_refuses(unit_run, dovecot):
    """systemctl reload succeeds when the daemon took the file and fails,
    with the daemon's reasons, when it kept the previous one: also for a
    refusal that only the running daemon can see (a port that another
    process holds; "postern -t" only warns of that)."""
    u = unit_run
    u.start()
    u.conf["pop3"]["banner"] = "Taken."
    u.write_conf()
    rc, out = u.reload_status()
    assert rc == 0, out
    assert pop3_session(u.ports["pop3"], dovecot) == b"+OK Taken.\r\n"
    if u.notify is not None:
        u.notify.expect("RELOADING", u.proc.pid)
        u.notify.expect("READY", u.proc.pid)

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    busy = holder.getsockname()[1]
    try:
        u.conf["pop3"]["banner"] = "Not taken."
        u.conf["pop3"]["unencrypted_or_tls_bindings"] = \
            "127.0.0.1:%d, 127.0.0.1:%d" % (u.ports["pop3"], busy)
        u.write_conf()
        rc, out = u.reload_status()
        assert rc != 0, out
        assert "127.0.0.1:%d" % busy in out, out
        assert "previous" in out, out
    finally:
        holder.close()
    assert pop3_session(u.ports["pop3"], dovecot) == b"+OK Taken.\r\n"

    # A file that does not load at all.
    with open(u.conf_path, "w") as f:
        f.write("[pop3]\nlogin_type = Sometimes\n")
    rc, out = u.reload_status()
    assert rc != 0, out
    assert "login_type" in out, out
    assert pop3_session(u.ports["pop3"], dovecot) == b"+OK Taken.\r\n"
    assert u.stop() == 0, u.log()



def stls_cert(port):
    """The DER certificate that POP3 STLS on port presents."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = LineClient(port)
    try:
        assert c.readline().startswith(b"+OK")
        assert c.cmd(b"STLS").startswith(b"+OK")
        c.starttls(ctx)
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def test_unit_reload_takes_a_renewed_root_only_key(unit_run, dovecot):
    """With the unit's capability bounding set and no-new-privileges, a
    renewed certificate and key of root's with mode 0600, as certbot
    leaves them, are taken by systemctl reload: the privileged helper
    reads them for the daemon, which runs as the user by then."""
    u = unit_run
    crt, key = u.conf["tls"]["certificate"], u.conf["tls"]["private_key"]
    os.chown(key, 0, 0)
    os.chmod(key, 0o600)
    u.start()
    assert "warning" not in u.log(), u.log()
    with open(crt) as f:
        assert stls_cert(u.ports["pop3"]) == ssl.PEM_cert_to_DER_cert(f.read())
    new = os.path.join(u.root, "renewed")
    os.mkdir(new, 0o700)
    ncrt, nkey = helpers.make_cert(new, "postern")
    os.chmod(nkey, 0o600)
    os.rename(ncrt, crt)
    os.rename(nkey, key)
    u.reload()
    wait_for(lambda: "reload: configuration" in u.log(), 15,
             "the reload in postern's log:\n" + u.log())
    with open(crt) as f:
        assert stls_cert(u.ports["pop3"]) == ssl.PEM_cert_to_DER_cert(f.read())
    st = os.stat(key)
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600, oct(st.st_mode)
    assert u.stop() == 0, u.log()
