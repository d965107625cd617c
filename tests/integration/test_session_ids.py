"""Session ids and log directories across restarts and instances: a
restarted postern appends to the same hourly file without reusing any
session id, and a second postern refuses a protocol log directory that
the first one writes (at start, at reload and under -t)."""

import csv
import glob
import io
import os
import poplib
import shutil
import subprocess

import pytest

import helpers


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-ids.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def rows_of(directory):
    """(file, row) for every row of every file in directory."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*.LOG"))):
        with open(path, newline="", encoding="utf-8") as f:
            lines = [l for l in f if not l.startswith("#")]
        for r in csv.reader(io.StringIO("".join(lines))):
            if r and r[0] != "dateTime":
                out.append((os.path.basename(path), r))
    return out


def pop3_session(port, user, password):
    m = poplib.POP3("127.0.0.1", port, timeout=20)
    m.user(user)
    assert m.pass_(password).startswith(b"+OK")
    m.stat()
    m.quit()


def pop3_conf(directory):
    return {"pop3": {"protocol_log_enabled": "yes",
                     "log_file_location": directory}}


def test_restart_never_reuses_a_session_id(start_postern, dovecot, logdir):
    p = start_postern(pop3_conf(logdir))
    for _ in range(3):
        pop3_session(p.ports["pop3"], "heidi", dovecot.users["heidi"])
    assert p.stop() == 0
    # The daemon log is appended to: wait for the new "started".
    started = p.log().count("started")
    p.start()
    p.wait_log("started", count=started + 1)
    for _ in range(3):
        pop3_session(p.ports["pop3"], "heidi", dovecot.users["heidi"])
    assert p.stop() == 0

    rows = rows_of(logdir)
    opened = {}
    for name, r in rows:
        if r[9] == "OpenSession":
            opened.setdefault(r[1], []).append((name, r[0]))
    assert sum(map(len, opened.values())) == 6, opened
    twice = {k: v for k, v in opened.items() if len(v) > 1}
    assert not twice, "one id for two sessions: %r" % twice
    for _, r in rows:
        assert len(r[1]) == 16 and r[1] == r[1].upper(), r[1]
        int(r[1], 16)


def test_second_instance_refuses_the_directory(start_postern, dovecot,
                                               logdir, tmp_path):
    first = start_postern(pop3_conf(logdir))
    second = start_postern(pop3_conf(logdir), start=False)
    with pytest.raises(RuntimeError):
        second.start()
    assert second.stop() != 0
    log = second.log()
    assert logdir in log and "in use by another postern" in log, log
    assert "pid %d" % first.pid in log, log

    # postern -t on the second one's file says so, and still passes.
    t = subprocess.run([second.binary, "-t", "-c", second.path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert t.returncode == 0, t.stderr
    assert logdir in t.stderr and "in use by another postern" in t.stderr

    # The first one goes on logging into it.
    pop3_session(first.ports["pop3"], "heidi", dovecot.users["heidi"])
    assert first.stop() == 0
    assert any(r[9] == "OpenSession" for _, r in rows_of(logdir))


def test_reload_into_a_directory_in_use_is_refused(start_postern, dovecot,
                                                   logdir):
    first = start_postern(pop3_conf(logdir))
    other = helpers.private_tmpdir("postern-ids.")
    try:
        second = start_postern(pop3_conf(other))
        second.reload(pop3_conf(logdir))
        second.wait_log(r"reload: .*%s.*in use by another postern"
                        % logdir)
        second.wait_log(r"configuration refused")
        # The second one still writes its own directory, the first its.
        pop3_session(second.ports["pop3"], "heidi", dovecot.users["heidi"])
        pop3_session(first.ports["pop3"], "heidi", dovecot.users["heidi"])
        assert second.stop() == 0
        assert first.stop() == 0
        assert len(rows_of(other)) > 0
        ids_first = {r[1] for _, r in rows_of(logdir)}
        ids_other = {r[1] for _, r in rows_of(other)}
        assert ids_first and not ids_first & ids_other
    finally:
        shutil.rmtree(other, ignore_errors=True)
