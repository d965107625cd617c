"""postern-inventory --by backend on the logs of a real migration: postern
routes users between two private Dovecots, "old" and "new", by a map file,
writes the Backend key on each login row, and the inventory lists who is on
which server, from where, and how they logged in."""

import csv
import imaplib
import io
import os
import poplib
import shutil
import subprocess

import pytest

import helpers

USERS = {"amy@example.org": "pw-amy-1", "cat": "pw-cat-3", "dan": "pw-dan-4"}


@pytest.fixture(scope="module")
def servers():
    if shutil.which("dovecot") is None:
        pytest.skip("dovecot is not installed")
    made = {}
    try:
        for name in ("old", "new"):
            made[name] = helpers.Dovecot(USERS)
        yield made
    finally:
        for d in made.values():
            d.stop()


@pytest.fixture
def workdir():
    d = helpers.private_tmpdir("postern-invbackend.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def inventory_bin(postern_bin):
    path = os.path.join(os.path.dirname(postern_bin), "postern-inventory")
    if not os.access(path, os.X_OK):
        pytest.skip("no postern-inventory next to " + postern_bin)
    return path


def test_by_backend_lists_who_is_on_which_server(start_postern, servers,
                                                 postern_bin, workdir):
    inv = inventory_bin(postern_bin)
    logs = os.path.join(workdir, "logs")
    # The daemon reads the map as its own user: a directory it can reach.
    routes = os.path.join(workdir, "routes")
    with open(routes, "w") as f:
        f.write("amy@example.org new\ncat new\n")
    c = {
        "pop3": {"backend": "old", "backend_tls": None,
                 "protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(logs, "Pop3")},
        "imap": {"backend": "old", "backend_tls": None,
                 "protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(logs, "Imap4")},
        "routing": {"map_file": routes},
    }
    for name, d in servers.items():
        c['backend "%s"' % name] = {"pop3": "127.0.0.1:%d" % d.ports["pop3"],
                                    "imap": "127.0.0.1:%d" % d.ports["imap"]}
    p = start_postern(c)

    # amy over IMAP and cat over POP3 are on the new server; dan, whom the
    # map does not name, is on the old one, over both, and once with a
    # wrong password, which the old server refuses.
    i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=helpers.IO_TIMEOUT)
    i.login("amy@example.org", USERS["amy@example.org"])
    i.logout()
    for user, password in (("cat", USERS["cat"]), ("dan", USERS["dan"])):
        m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=helpers.IO_TIMEOUT)
        m.user(user)
        m.pass_(password)
        m.quit()
    i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=helpers.IO_TIMEOUT)
    with pytest.raises(imaplib.IMAP4.error):
        i.login("dan", "wrong")
    i.logout()
    # A session that never logs in has no backend.
    i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=helpers.IO_TIMEOUT)
    i.capability()
    i.logout()
    assert p.stop() == 0

    out = subprocess.run([inv, "--by", "backend", "--format", "csv", logs],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=True, text=True).stdout
    rows = {r["backend"]: r for r in csv.DictReader(io.StringIO(out, newline=""))}
    assert set(rows) == {"old", "new"}, out
    new, old = rows["new"], rows["old"]
    assert new["users"] == "2" and new["users_sample"] == "amy@example.org;cat", new
    assert new["protocols"] == "pop3+imap4" and new["logins_ok"] == "2", new
    assert new["cleartext_logins"] == "2" and new["would_break"] == "yes", new
    assert new["clients_sample"] == "127.0.0.1", new
    assert old["users"] == "1" and old["users_sample"] == "dan", old
    assert old["sessions"] == "2" and old["logins_ok"] == "1", old
    assert old["logins_failed"] == "1", old

    text = subprocess.run([inv, "--by", "backend", logs],
                          stdout=subprocess.PIPE, check=True, text=True).stdout
    assert "Without a backend: 1 sessions" in text, text

    out = subprocess.run([inv, "--by", "backend,user", "--format", "csv",
                          logs],
                         stdout=subprocess.PIPE, check=True, text=True).stdout
    pairs = {(r["backend"], r["user"]) for r in
             csv.DictReader(io.StringIO(out, newline=""))}
    assert pairs == {("new", "amy@example.org"), ("new", "cat"),
                     ("old", "dan")}, out
