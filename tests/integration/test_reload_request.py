"""postern -R PID: a reload whose outcome the asking command learns, for
the unit's ExecReload (systemctl reload fails when the daemon refused the
file)."""

import os
import pwd
import shutil
import socket
import subprocess

import pytest

from helpers import LineClient


def ask(binary, pid, user=None):
    cmd = [binary, "-R", str(pid)]
    if user is not None:
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", "--reuid", str(pw.pw_uid), "--regid",
               str(pw.pw_gid), "--clear-groups", "--"] + cmd
    return subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)


def greeting(port):
    c = LineClient(port)
    line = c.readline()
    c.close()
    return line


def test_reload_request_taken(start_postern, postern_bin):
    p = start_postern()
    p.update({"pop3": {"banner": "Taken."}})
    r = ask(postern_bin, p.pid)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    # The answer comes after the reload: new sessions see it at once.
    assert greeting(p.ports["pop3"]) == b"+OK Taken.\r\n"


def test_reload_request_refused_file(start_postern, postern_bin):
    p = start_postern()
    p.write("[pop3]\nlogin_type = Sometimes\n")
    r = ask(postern_bin, p.pid)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    # The daemon's reasons, file:line first, then the verdict.
    assert "%s:2: [pop3] login_type" % p.path in err, err
    assert "still runs with the previous one" in err, err
    assert greeting(p.ports["pop3"]).startswith(b"+OK")
    p.wait_log("configuration refused")


def test_reload_request_refused_port_in_use(start_postern, postern_bin):
    """A refusal that postern -t does not fail on: a new address that
    another server holds (-t only warns, since the running instance holds
    its own addresses)."""
    p = start_postern()
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    busy = holder.getsockname()[1]
    try:
        p.update({"pop3": {"banner": "Not taken.",
                           "unencrypted_or_tls_bindings":
                           "127.0.0.1:%d, 127.0.0.1:%d"
                           % (p.ports["pop3"], busy)}})
        t = subprocess.run([postern_bin, "-t", "-c", p.path],
                           stderr=subprocess.PIPE, timeout=60)
        assert t.returncode == 0, t.stderr
        r = ask(postern_bin, p.pid)
    finally:
        holder.close()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "127.0.0.1:%d" % busy in err, err
    assert greeting(p.ports["pop3"]) != b"+OK Not taken.\r\n"


def test_reload_request_no_postern(postern_bin):
    """A process that is not a postern: a clear failure, nothing sent."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        r = ask(postern_bin, sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert r.returncode == 1
    assert b"cannot ask process %d" % sleeper.pid in r.stderr, r.stderr


def test_reload_request_squatted_name(postern_bin):
    """Another process that took the name of pid's socket is not believed:
    it cannot fake an answer."""
    sleeper = subprocess.Popen(["sleep", "60"])
    squat = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    squat.bind(b"\0postern-reload/%d" % sleeper.pid)
    squat.listen(1)
    try:
        r = ask(postern_bin, sleeper.pid)
    finally:
        squat.close()
        sleeper.kill()
        sleeper.wait()
    assert r.returncode == 1
    assert b"belongs to process %d" % os.getpid() in r.stderr, r.stderr


def test_reload_request_other_user_refused(start_postern, postern_bin):
    """Only root and the daemon's own user may make it reload."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the request comes from another user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed (util-linux)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    p = start_postern()
    p.update({"pop3": {"banner": "Not taken."}})
    r = ask(postern_bin, p.pid, user="nobody")
    assert r.returncode == 1, r.stderr
    assert b"not allowed" in r.stderr, r.stderr
    p.wait_log("only root and the user postern runs as may ask")
    assert greeting(p.ports["pop3"]) != b"+OK Not taken.\r\n"


def test_reload_request_usage(postern_bin):
    for arg in ("abc", "0", "-5", "99999999999999999999"):
        r = subprocess.run([postern_bin, "-R", arg], stderr=subprocess.PIPE,
                           timeout=30)
        assert r.returncode == 2, arg
        assert b"not a process id" in r.stderr, r.stderr
