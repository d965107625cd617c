"""Helpers for the integration tests: the private Dovecot, postern
processes with generated configurations, and small line-oriented clients.

Nothing here knows about pytest; conftest.py wires it into fixtures.
"""

import glob
import os
import re
import secrets
import shutil
import random
import signal
import socket
import ssl
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
DOVECOT_SCRIPT = os.path.join(TOP, "contrib", "dovecot-test.sh")

# Every blocking network call in the tests gives up after this long, so a
# hung daemon fails a test instead of the whole run.
IO_TIMEOUT = 30


# Ports for the daemons a test starts come from 10000-19999: below the
# kernel's ephemeral range (32768 and up), which outgoing connections and
# sockets bound to port 0 draw from and which could take a port between
# free_ports() and the daemon's bind; and below 20000, where
# contrib/samba-test.sh picks the test domain's KDC ports.  Each pytest-xdist
# worker takes a slice of its own, so two workers never hand out the same
# port.
_PORT_LOW, _PORT_HIGH = 10000, 20000


def _port_slice():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    try:
        index = int(worker.lstrip("gw")) % max(count, 1)
    except ValueError:
        index = 0
    width = (_PORT_HIGH - _PORT_LOW) // max(count, 1)
    low = _PORT_LOW + index * width
    # Start where the last run of this worker is unlikely to have left
    # sockets in TIME_WAIT.
    return low, width, iter(range(random.randrange(width), 10 ** 9))


_ports = None


def free_ports(n):
    """n distinct loopback ports that nothing listens on right now, from
    this test process's own slice below the ephemeral range."""
    global _ports
    if _ports is None:
        _ports = _port_slice()
    low, width, counter = _ports
    socks, ports = [], []
    try:
        for _ in range(width):
            if len(ports) == n:
                break
            port = low + next(counter) % width
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
    finally:
        for s in socks:
            s.close()
    if len(ports) < n:
        raise RuntimeError("no %d free ports in %d-%d"
                           % (n, low, low + width - 1))
    return ports


_fresh_sources = iter(range(1, 250 * 250))


def fresh_source():
    """A loopback address (127.201.x.y) that no other connection of this
    test process has come from.  Dovecot slows down every further failed
    login from an address it has seen fail (auth_penalty, up to 15 s for
    half a minute) and postern passes the client's address on, so a test
    that counts on Dovecot's answer in time must not inherit the failures
    of the tests before it.  Each test process has a Dovecot of its own."""
    n = next(_fresh_sources)
    return "127.201.%d.%d" % (n // 250, n % 250 + 1)


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate until it is true; fails with what (a string, or a
    function that gives one when the wait has failed) after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s"
                                 % (timeout, what() if callable(what)
                                    else what))
        time.sleep(interval)


def private_tmpdir(prefix):
    """A directory under /tmp that Dovecot's mail user can reach: pytest's
    own temporary directories sit below a private (0700) directory."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def make_cert(directory, name):
    """A self-signed certificate for localhost and 127.0.0.1; returns
    (certificate, key) paths."""
    crt = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "2", "-sha256", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", key, "-out", crt],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


class Dovecot:
    """The private Dovecot of contrib/dovecot-test.sh."""

    def __init__(self, users, big_size=5 * 1024 * 1024, extra_env=None,
                 tls_resume=False, extra_conf=None):
        """extra_env: more environment for the script; tls_resume:
        long-lived login processes that resume TLS sessions
        (DOVECOT_TLS_RESUME); extra_conf: Dovecot settings (text) that
        override the script's (DOVECOT_EXTRA_CONF)."""
        self.dir = private_tmpdir("postern-dovecot.")
        self.users = dict(users)
        p = free_ports(7)
        self.ports = {"pop3": p[0], "pop3s": p[1], "imap": p[2],
                      "imaps": p[3]}
        # Listeners that expect a PROXY header from 127.0.0.0/8.
        self.haproxy_ports = {"imap": p[4], "pop3": p[5], "imaps": p[6]}
        env = dict(os.environ)
        env["DOVECOT_HAPROXY"] = "%d %d %d" % (p[4], p[5], p[6])
        env["DOVECOT_USERS"] = " ".join(
            "%s:%s" % kv for kv in self.users.items())
        env["DOVECOT_BIG_SIZE"] = str(big_size)
        env.update(extra_env or {})
        env["DOVECOT_TLS_RESUME"] = "1" if tls_resume else "0"
        if extra_conf is not None:
            path = os.path.join(self.dir, "extra.conf")
            with open(path, "w") as f:
                f.write(extra_conf)
            env["DOVECOT_EXTRA_CONF"] = path
        r = subprocess.run(
            ["bash", DOVECOT_SCRIPT, "start", self.dir,
             str(p[0]), str(p[1]), str(p[2]), str(p[3])],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            log = self.log()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("dovecot-test.sh start failed:\n%s\n%s"
                               % (r.stdout.decode(errors="replace"), log))
        self.ca = os.path.join(self.dir, "ca.pem")

    def message(self, n):
        """The bytes message n (1, 2 or the large 3) was stored with."""
        with open(os.path.join(self.dir, "messages", "%d.eml" % n),
                  "rb") as f:
            return f.read()

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user, "Maildir")

    def deliver(self, user, data):
        """Puts a message straight into user's Maildir/new, as a local
        delivery agent would."""
        md = self.maildir(user)
        st = os.stat(md)
        name = "%d.P%dQ%s.postern" % (time.time(), os.getpid(),
                                      secrets.token_hex(4))
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, os.path.join(md, "new", name))

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10, count=1, since=0):
        """Waits until pattern (a regex) has matched count times in the log
        after its first since characters.  Dovecot's processes write their
        lines through its log process, so a line can land after the reply
        to the command that caused it."""
        rx = re.compile(pattern)
        wait_for(lambda: len(rx.findall(self.log()[since:])) >= count,
                 timeout, lambda: "%r in Dovecot's log:\n%s"
                 % (pattern, self.log()[-3000:]))

    def stop(self):
        subprocess.run(["bash", DOVECOT_SCRIPT, "stop", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def render_ini(sections):
    """INI text from {section: {key: value}}; a list value repeats the key."""
    out = []
    for sec, keys in sections.items():
        if keys is None:
            continue
        out.append("[%s]" % sec)
        for k, v in keys.items():
            if v is None:
                continue
            for item in (v if isinstance(v, list) else [v]):
                out.append("%s = %s" % (k, item))
        out.append("")
    return "\n".join(out)


class Postern:
    """One postern process with its own configuration file and log.

    conf: {section: {key: value}} merged over the defaults: both protocols
    on their own free loopback ports, PlainTextLogin, the private Dovecot
    as the cleartext backend.  A section given as None is left out.
    """

    def __init__(self, binary, dovecot, cert, conf=None, start=True):
        self.binary = binary
        self.dovecot = dovecot
        self.dir = tempfile.mkdtemp(prefix="postern-run.")
        self.path = os.path.join(self.dir, "postern.ini")
        self.logpath = os.path.join(self.dir, "postern.log")
        self.asan_prefix = os.path.join(self.dir, "sanitizer")
        self.cert, self.key = cert
        p = free_ports(4)
        self.ports = {"pop3": p[0], "pop3s": p[1], "imap": p[2],
                      "imaps": p[3]}
        self.conf = self.default_conf()
        self.update(conf or {})
        self.proc = None
        self.returncode = None
        if start:
            self.start()

    def default_conf(self):
        d = self.dovecot
        proto = {}
        for name in ("pop3", "imap"):
            proto[name] = {
                "unencrypted_or_tls_bindings":
                    "127.0.0.1:%d" % self.ports[name],
                "ssl_bindings": "127.0.0.1:%d" % self.ports[name + "s"],
                "login_type": "PlainTextLogin",
                "backend": "127.0.0.1:%d" % d.ports[name],
                "backend_tls": "none",
                "backend_timeout": "10s",
            }
        return {
            "postern": {"workers": "2", "shutdown_timeout": "5s",
                        "log_level": "info",
                        "pid_file": os.path.join(self.dir, "postern.pid")},
            "tls": {"certificate": self.cert, "private_key": self.key},
            # Off for the tests of everything else, which try wrong
            # passwords from 127.0.0.1 and time their answers;
            # test_throttle.py turns it on.
            "throttle": {"enabled": "no"},
            "pop3": proto["pop3"],
            "imap": proto["imap"],
        }

    def update(self, conf):
        """Merges conf into the configuration and writes the file."""
        for sec, keys in conf.items():
            if keys is None:
                self.conf[sec] = None
                continue
            if self.conf.get(sec) is None:
                self.conf[sec] = {}
            self.conf[sec].update(keys)
        self.write(render_ini(self.conf))

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text)

    def env(self):
        # Sanitizer reports go to files of their own: the daemon's log
        # stays parseable, and a report fails the test that caused it.
        env = dict(os.environ)
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                    "TSAN_OPTIONS"):
            opts = env.get(var, "")
            env[var] = (opts + ":" if opts else "") + \
                "log_path=" + self.asan_prefix
        return env

    def start(self):
        self.logfile = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "-c", self.path], stdin=subprocess.DEVNULL,
            stdout=self.logfile, stderr=self.logfile, env=self.env())
        # It has bound every port once it says it has started.
        deadline = time.monotonic() + 20
        while "started" not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError("postern exited with %d:\n%s"
                                   % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise RuntimeError("postern did not start:\n" + self.log())
            time.sleep(0.02)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.logpath, "r", errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10, count=1):
        """Waits until pattern (a regex) has matched count log lines."""
        rx = re.compile(pattern)
        return wait_for(
            lambda: len(rx.findall(self.log())) >= count, timeout,
            lambda: "%r in postern's log:\n%s" % (pattern, self.log()))

    def reload(self, conf=None, text=None):
        if text is not None:
            self.write(text)
        elif conf is not None:
            self.update(conf)
        self.proc.send_signal(signal.SIGHUP)

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the daemon; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self.logfile.close()
        return self.returncode

    def sanitizer_reports(self):
        out = []
        for path in sorted(glob.glob(self.asan_prefix + "*")):
            with open(path, errors="replace") as f:
                out.append(f.read())
        return out

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def client_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class LineClient:
    """A raw client for exact dialogues: every byte sent is exactly what
    the test wrote, and every line read is returned as bytes."""

    def __init__(self, port, tls_ctx=None, host="127.0.0.1",
                 timeout=IO_TIMEOUT, source=None):
        """source: the local address to connect from (fresh_source())."""
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=None if source is None else (source, 0))
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        self.host = host

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed; unread: %r" % self.buf)
        self.buf += data

    def readline(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, line):
        """Sends one line (CRLF added) and returns the first answer line."""
        self.send(line + b"\r\n")
        return self.readline()

    def read_until_close(self, timeout=IO_TIMEOUT):
        """Everything up to the server's close; fails if it stays open."""
        self.sock.settimeout(timeout)
        data, self.buf = self.buf, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                break
            except ssl.SSLError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def starttls(self, ctx):
        assert self.buf == b"", "unread bytes before TLS: %r" % self.buf
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def curl(*args, user=None, password=None, cafile=None, timeout=120):
    """Runs curl; returns the CompletedProcess (stdout as bytes)."""
    cmd = ["curl", "-sS", "--max-time", str(timeout)]
    if cafile:
        cmd += ["--cacert", cafile]
    if user is not None:
        cmd += ["-u", "%s:%s" % (user, password)]
    cmd += list(args)
    return subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout + 30)


def is_sanitized(binary):
    """True if the binary was built with AddressSanitizer or
    ThreadSanitizer: both make its memory use no measure of postern's."""
    r = subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return b"libasan" in r.stdout or b"libtsan" in r.stdout


SLAPD_SCRIPT = os.path.join(TOP, "contrib", "slapd-test.sh")


class SlapdMissing(Exception):
    """slapd, its tools or its modules are not installed."""


class Slapd:
    """The private OpenLDAP slapd of contrib/slapd-test.sh, loaded with
    the given LDIF text: StartTLS with a certificate from its own CA, the
    memberof overlay.  Raises SlapdMissing when it cannot run here."""

    def __init__(self, ldif):
        self.dir = tempfile.mkdtemp(prefix="postern-slapd.")
        os.chmod(self.dir, 0o755)
        path = os.path.join(self.dir, "test.ldif")
        with open(path, "w") as f:
            f.write(ldif)
        r = self._script("start", path)
        if r.returncode == 77:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise SlapdMissing(r.stdout.decode(errors="replace").strip())
        if r.returncode != 0:
            out = r.stdout.decode(errors="replace")
            self.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("slapd-test.sh start failed:\n" + out)
        self.env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                self.env[k] = v
        self.uri = self.env["SLAPD_URI"]
        self.ca = self.env["SLAPD_CA"]
        self.base = self.env["SLAPD_BASE"]

    def _script(self, *args):
        return subprocess.run(["sh", SLAPD_SCRIPT, args[0], self.dir]
                              + list(args[1:]), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)

    def modify(self, ldif):
        """Applies an LDIF change as the directory's administrator."""
        subprocess.run(
            ["ldapmodify", "-x", "-H", self.uri,
             "-D", self.env["SLAPD_ADMIN_DN"],
             "-y", self.env["SLAPD_ADMIN_PWFILE"]],
            input=ldif.encode(), check=True, stdout=subprocess.DEVNULL)

    def running(self):
        return os.path.exists(os.path.join(self.dir, "slapd.pid"))

    def stop(self):
        self._script("stop")

    def start(self):
        """Starts it again on the same ports with the same database."""
        r = self._script("start")
        if r.returncode != 0:
            raise RuntimeError("slapd-test.sh start failed:\n"
                               + r.stdout.decode(errors="replace"))

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
