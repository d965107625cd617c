"""Several workers at once: concurrent POP3 and IMAP sessions spread over
four workers by SO_REUSEPORT, with the protocol log, group lookups, the
per-user counters and reloads (SIGHUP) that change the log level and the
protocol log's detail in the middle of it all.  Built
with --enable-tsan, the daemon reports any data race between its threads
to a file that fails the test (conftest.py)."""

import imaplib
import os
import poplib
import shutil
import threading

import pytest

import helpers
from test_protolog import log_conf, read_logs

USERS = ("grace", "heidi", "judy", "mallory")
ROUNDS = 6


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-protolog.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pop3_session(port, user, pw):
    m = poplib.POP3("127.0.0.1", port, timeout=helpers.IO_TIMEOUT)
    m.user(user)
    assert m.pass_(pw).startswith(b"+OK")
    m.stat()
    m.quit()


def imap_session(port, user, pw):
    i = imaplib.IMAP4("127.0.0.1", port, timeout=helpers.IO_TIMEOUT)
    i.login(user, pw)
    assert i.select("INBOX")[0] == "OK"
    assert i.noop()[0] == "OK"
    i.logout()


def test_workers_sessions_and_reloads_together(start_postern, dovecot,
                                               logdir, tmp_path):
    groups = tmp_path / "groups"
    groups.write_text("Mail: %s\n" % ", ".join(USERS))
    os.chmod(tmp_path, 0o755)
    os.chmod(groups, 0o644)
    conf = log_conf(logdir)
    for proto in ("pop3", "imap"):
        conf[proto].update({"required_group": "Mail",
                            "max_connections_per_user": "50"})
    conf["postern"] = {"workers": "4", "log_level": "debug"}
    conf["groups"] = {"file": str(groups)}
    p = start_postern(conf)
    errors = []
    done = threading.Event()
    reloading = threading.Event()

    def client(user):
        pw = dovecot.users[user]
        try:
            # The sessions start once the reloads have: on a fast machine
            # they all end within the first interval of the reloader's.
            assert reloading.wait(30), "no reload sent"
            for r in range(ROUNDS):
                pop3_session(p.ports["pop3"], user, pw)
                imap_session(p.ports["imap"], user, pw)
        except Exception as e:  # reported by the main thread
            errors.append("%s: %r" % (user, e))

    def reloader():
        # The log level, the snapshot and the protocol log's settings
        # change under running sessions: the first reload at once, then
        # every 0.1 s until the sessions are done.
        n = 0
        while True:
            detail = ("commands", "proxy")[n // 2 % 2]
            p.reload({"postern": {"log_level": ("info", "debug")[n % 2]},
                      "pop3": {"log_detail": detail},
                      "imap": {"log_detail": detail}})
            n += 1
            reloading.set()
            if done.wait(0.1):
                return

    threads = [threading.Thread(target=client, args=(u,)) for u in USERS]
    for t in threads:
        t.start()
    rl = threading.Thread(target=reloader)
    rl.start()
    for t in threads:
        t.join(300)
    done.set()
    rl.join(30)
    assert not errors, errors
    p.wait_log(r"reload: configuration .* loaded")
    assert p.stop() == 0
    # Every session left its rows, whichever worker it ran on.
    rows = read_logs(logdir)
    logins = [r for r in rows if r["command"] in ("pass", "login")
              and r["user"] in USERS]
    assert len(logins) == 2 * ROUNDS * len(USERS), len(logins)
    opened = {(os.path.dirname(r["_file"]), r["sessionId"]) for r in rows
              if r["command"] == "OpenSession"}
    closed = {(os.path.dirname(r["_file"]), r["sessionId"]) for r in rows
              if r["command"] == "CloseSession"}
    assert opened == closed
