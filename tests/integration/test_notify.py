"""systemd's readiness protocol (sd_notify(3)): postern tells the service
manager when it is ready, reloading and stopping, and keeps its watchdog
fed.  The test plays systemd's part: an AF_UNIX datagram socket named in
NOTIFY_SOCKET, that receives the sender's credentials as systemd does
(it accepts messages from the main process only)."""

import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import helpers
from helpers import LineClient
from test_stats import worker_stopped

USER = "nobody"


def notify_supported(binary):
    out = subprocess.run([binary, "-V"], stdout=subprocess.PIPE,
                         timeout=30).stdout.decode()
    return "systemd notify" in out


class NotifySocket:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="postern-notify.")
        # Reachable by the user postern becomes, as systemd's own is.
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def recv(self, timeout=20):
        """(sender pid, {field: value}) of the next message."""
        self.sock.settimeout(timeout)
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and \
                    kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", value[:12])[0]
        fields = {}
        for line in data.decode().split("\n"):
            if line:
                k, _, v = line.partition("=")
                fields[k] = v
        return pid, fields

    def expect(self, key, pid, timeout=20, skip=("WATCHDOG",)):
        """The next message that is not only a keep-alive; it must hold
        key=1 and come from pid."""
        while True:
            sender, fields = self.recv(timeout)
            if set(fields) <= set(skip):
                continue
            assert sender == pid, (sender, pid, fields)
            assert fields.get(key) == "1", (key, fields)
            return fields

    def skip_to(self, key, pid, timeout=20):
        """The next message from pid that holds key=1, passing over the
        others."""
        while True:
            sender, fields = self.recv(timeout)
            if sender == pid and fields.get(key) == "1":
                return fields

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify(postern_bin, monkeypatch):
    if not notify_supported(postern_bin):
        pytest.skip("postern was built without libsystemd "
                    "(Debian: libsystemd-dev)")
    n = NotifySocket()
    monkeypatch.setenv("NOTIFY_SOCKET", n.path)
    yield n
    n.close()


def greeting(port):
    c = LineClient(port)
    line = c.readline()
    c.close()
    return line


def run_cycle(p, notify):
    """READY=1 once the listeners accept, RELOADING=1 then READY=1 around
    a reload that is taken and one that is refused, STOPPING=1 at
    SIGTERM."""
    fields = notify.expect("READY", p.pid)
    assert "STATUS" in fields, fields
    # Ready means accepting: a client is greeted at once.
    assert greeting(p.ports["pop3"]).startswith(b"+OK")

    p.reload({"pop3": {"banner": "Reloaded."}})
    before = time.monotonic()
    fields = notify.expect("RELOADING", p.pid)
    # systemd 253 matches the reload by CLOCK_MONOTONIC in microseconds.
    usec = int(fields["MONOTONIC_USEC"])
    assert abs(usec / 1e6 - before) < 10, (usec, before)
    fields = notify.expect("READY", p.pid)
    assert "reloaded" in fields["STATUS"], fields
    assert greeting(p.ports["pop3"]) == b"+OK Reloaded.\r\n"

    p.reload(text="[pop3]\nlogin_type = Sometimes\n")
    notify.expect("RELOADING", p.pid)
    fields = notify.expect("READY", p.pid)
    assert "refused" in fields["STATUS"], fields
    assert greeting(p.ports["pop3"]) == b"+OK Reloaded.\r\n"

    p.proc.send_signal(signal.SIGTERM)
    fields = notify.expect("STOPPING", p.pid)
    assert "Stopping" in fields["STATUS"], fields
    assert p.proc.wait(30) == 0, p.log()
    p.stop()


def test_notify_ready_reload_stop(start_postern, notify):
    run_cycle(start_postern(), notify)


def test_notify_after_privilege_drop(start_postern, notify):
    """The notifications after the start come from a process that is no
    longer root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: postern changes to another user")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        pytest.skip("no user %s" % USER)
    p = start_postern({"postern": {"user": USER}}, start=False)
    os.chmod(p.dir, 0o755)
    os.chmod(p.path, 0o644)
    os.chmod(p.cert, 0o644)
    os.chmod(p.key, 0o644)
    os.chmod(os.path.dirname(p.key), 0o755)
    p.start()
    run_cycle(p, notify)


def test_notify_watchdog(start_postern, notify, monkeypatch):
    """WatchdogSec=: keep-alives come several times per interval."""
    monkeypatch.setenv("WATCHDOG_USEC", "600000")
    p = start_postern()
    notify.expect("READY", p.pid)
    start = time.monotonic()
    seen = 0
    while seen < 4:
        sender, fields = notify.recv(timeout=5)
        assert sender == p.pid
        if fields.get("WATCHDOG") == "1":
            seen += 1
    # Four keep-alives at a third of 600 ms each take about 800 ms.
    assert time.monotonic() - start < 2.5
    assert "does not answer" not in p.log()


def test_notify_watchdog_stuck_worker(start_postern, notify, monkeypatch):
    """WatchdogSec=: a worker thread that stops answering (stopped alone
    with ptrace(2), as a loop stuck in a computation would be) stops the
    keep-alives, so that systemd restarts the daemon; they come back once
    it answers again.

    The main thread looks every third of WATCHDOG_USEC (a turn) whether
    each worker answered the wake it sent the turn before, and sends
    WATCHDOG=1 only then.  A worker stopped between two turns may have
    answered the last wake before it stopped: one keep-alive more comes,
    at the next turn, then none.  The last one therefore comes within a
    turn of the stop."""
    usec = 600000
    turn = usec / 3 / 1e6
    slack = 0.4  # a loaded machine's late timer, and the reading thread
    monkeypatch.setenv("WATCHDOG_USEC", str(usec))
    p = start_postern()
    notify.expect("READY", p.pid)
    beats = []  # when each keep-alive came (time.monotonic())
    done = threading.Event()

    def listen():
        while not done.is_set():
            try:
                sender, fields = notify.recv(timeout=0.05)
            except socket.timeout:
                continue
            if sender == p.pid and fields.get("WATCHDOG") == "1":
                beats.append(time.monotonic())

    reader = threading.Thread(target=listen)
    reader.start()
    try:
        helpers.wait_for(lambda: len(beats) >= 3, 5, "keep-alives")
        with worker_stopped(p.pid, 1) as stopped:
            time.sleep(turn + slack + 10 * turn)
            after = [b - stopped for b in beats if b > stopped]
            # One may have been sent before the stop and read after it,
            # one more at the next turn; none later.
            assert len(after) <= 2, after
            assert all(a < turn + slack for a in after), after
            p.wait_log(r"worker 1 does not answer: no watchdog keep-alive "
                       r"this turn")
            assert "worker 0 does not answer" not in p.log()
        resumed = time.monotonic()
        helpers.wait_for(lambda: len([b for b in beats if b > resumed]) >= 3,
                         5, "the keep-alives to come back")
        back = [b - resumed for b in beats if b > resumed]
        # The first turn after the worker runs again finds its answer.
        assert back[0] < 2 * turn + slack, back
    finally:
        done.set()
        reader.join()


def test_no_notify_socket_no_messages(start_postern, postern_bin,
                                      monkeypatch):
    """Outside systemd postern runs as before."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    p = start_postern()
    assert greeting(p.ports["pop3"]).startswith(b"+OK")
    assert "cannot notify" not in p.log()
