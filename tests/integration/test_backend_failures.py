"""Why a backend login failed, as the daemon log says it: each session
with its own reason, even when sessions of one worker fail one after the
other while another's login is still under way.  The backend is a
scripted listener on loopback that behaves differently per connection.
And a backend that is down during a burst of logins: the daemon log says
so a bounded number of times with a count, the protocol log has every
session."""

import concurrent.futures
import csv
import glob
import io
import os
import re
import shutil
import socket
import threading

import pytest

import helpers
from helpers import LineClient


class ScriptedBackend:
    """Accepts connections on a free loopback port; connection i is handed
    to behaviours[i] (a function of the socket) in a thread of its own."""

    def __init__(self, behaviours):
        self.behaviours = list(behaviours)
        self.accepted = []
        self.done = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        for behave in self.behaviours:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(c)
            threading.Thread(target=behave, args=(c,), daemon=True).start()

    def close(self):
        self.done.set()
        self.sock.close()
        for c in self.accepted:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def scripted():
    made = []

    def make(behaviours):
        b = ScriptedBackend(behaviours)
        made.append(b)
        return b
    yield make
    for b in made:
        b.close()


def start(start_postern, backend, timeout="2s"):
    # One worker: the sessions share a thread, as they would under load.
    return start_postern({
        "postern": {"workers": "1"},
        "imap": {"backend": "127.0.0.1:%d" % backend.port,
                 "backend_timeout": timeout}})


def login(p, tag=b"a"):
    c = LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    c.send(tag + b" LOGIN alice secret\r\n")
    return c


def reason(p, c, backend):
    """The reason the daemon log gives for client c's backend failure."""
    port = c.sock.getsockname()[1]
    rx = re.compile(r"IMAP4 [0-9A-F]{16} 127\.0\.0\.1:%d: backend "
                    r"127\.0\.0\.1:%d: (.*)" % (port, backend.port))
    m = helpers.wait_for(lambda: rx.search(p.log()), 10,
                         "the failure of client port %d:\n%s"
                         % (port, p.log()))
    return m.group(1)


def silent(c):
    """Never says a word."""


def hangs_up(c):
    c.close()


def test_timeout_and_close_each_logged_with_their_own_reason(
        start_postern, scripted):
    b = scripted([silent, hangs_up])
    p = start(start_postern, b)
    a = login(p)
    helpers.wait_for(lambda: len(b.accepted) == 1, 10,
                     "the first backend connection")
    # The second session fails while the first is still waiting.
    c = login(p)
    assert c.readline().startswith(b"a NO [UNAVAILABLE]")
    assert reason(p, c, b) == \
        "the backend closed the connection during login"
    assert a.readline().startswith(b"a NO [UNAVAILABLE]")
    assert reason(p, a, b) == "no login within backend_timeout (2000 ms)"
    a.close()
    c.close()


def test_bad_answer_and_close_each_logged_with_their_own_reason(
        start_postern, scripted):
    go = threading.Event()

    def garbles_later(c):
        go.wait(20)
        c.sendall(b"garbage\r\n")

    b = scripted([garbles_later, hangs_up])
    p = start(start_postern, b, timeout="20s")
    a = login(p)
    helpers.wait_for(lambda: len(b.accepted) == 1, 10,
                     "the first backend connection")
    c = login(p)
    assert c.readline().startswith(b"a NO [UNAVAILABLE]")
    assert reason(p, c, b) == \
        "the backend closed the connection during login"
    go.set()
    assert a.readline().startswith(b"a NO [UNAVAILABLE]")
    assert reason(p, a, b) == "unexpected answer during login"
    a.close()
    c.close()


SUPPRESSED = re.compile(r"\((\d+) similar messages? suppressed in the last "
                        r"(\d+) s\)$")


def test_backend_down_burst_is_logged_a_bounded_number_of_times(
        start_postern):
    logdir = helpers.private_tmpdir("postern-backend-down.")
    # Nothing listens there: the backend is down (connection refused),
    # as a stopped Dovecot is.
    down = helpers.free_ports(1)[0]
    backend = "127.0.0.1:%d" % down
    # At log_level = notice: info has a line per session by design
    # ("closing: backend unavailable"), warnings must not.
    p = start_postern({
        "postern": {"log_level": "notice"},
        "imap": {"backend": backend,
                 "protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(logdir, "Imap4")}})
    try:
        before = len(p.log().splitlines())
        n = 200

        def one(i):
            c = LineClient(p.ports["imap"])
            try:
                assert c.readline().startswith(b"* OK")
                c.send(b"a LOGIN alice secret\r\n")
                return c.readline()
            finally:
                c.close()

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            answers = list(ex.map(one, range(n)))
        assert all(a.startswith(b"a NO [UNAVAILABLE]") for a in answers), \
            set(answers)
        assert p.stop() == 0
        lines = p.log().splitlines()[before:]
        about = [l for l in lines if "backend " + backend in l]
        # Once when the burst began, maybe once more if it lasted over
        # the 10 s interval, and the count at exit; not once a session.
        assert 2 <= len(about) <= 6, "\n".join(about)
        # Every failure is written or counted, none lost.
        written = counted = 0
        for l in about:
            m = SUPPRESSED.search(l)
            if m is None:
                written += 1
                continue
            counted += int(m.group(1))
            if not re.search(r"IMAP4 [0-9A-F]{16} ", l):
                continue  # the count at exit, on a line of its own
            written += 1
        assert written + counted == n, "\n".join(about)
        assert any(SUPPRESSED.search(l) for l in about)
        # The whole log, not only these lines, stays small.
        assert len(lines) <= 20, "\n".join(lines)
        # The protocol log is not limited: every session has its row
        # with its error.
        sessions = set()
        for path in glob.glob(os.path.join(logdir, "Imap4", "*.LOG")):
            with open(path, newline="", encoding="utf-8") as f:
                text = "".join(l for l in f if not l.startswith("#"))
            for row in csv.DictReader(io.StringIO(text)):
                if "ErrMsg=BackendUnavailable" in row["context"]:
                    sessions.add(row["sessionId"])
        assert len(sessions) == n
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
