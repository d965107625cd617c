"""A real sync tool through postern: mbsync (isync) mirrors a mailbox over
IMAP with STARTTLS, both ways."""

import os
import shutil
import subprocess

import pytest

import helpers


def test_mbsync_mirrors_a_mailbox_through_postern(start_postern, dovecot,
                                                   cert, tmp_path):
    mbsync = shutil.which("mbsync")
    if mbsync is None:
        pytest.skip("mbsync (isync) is not installed")
    p = start_postern({"imap": {"login_type": "SecureLogin"}})
    user = "grace"
    local = tmp_path / "Mail"
    local.mkdir()
    passfile = tmp_path / "pass"
    passfile.write_text(dovecot.users[user])
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        "IMAPAccount t\n"
        "Host localhost\n"
        "Port %d\n"
        "User %s\n"
        "PassCmd \"cat %s\"\n"
        "SSLType STARTTLS\n"
        "CertificateFile %s\n"
        "AuthMechs LOGIN PLAIN\n"
        "\n"
        "IMAPStore remote\n"
        "Account t\n"
        "\n"
        "MaildirStore local\n"
        "Path %s/\n"
        "Inbox %s/INBOX\n"
        "\n"
        "Channel c\n"
        "Far :remote:\n"
        "Near :local:\n"
        "Patterns INBOX\n"
        "Create Near\n"
        "Sync All\n"
        "SyncState *\n"
        % (p.ports["imap"], user, passfile, cert[0], local, local))

    def sync():
        r = subprocess.run([mbsync, "-c", str(rc), "-a"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        assert r.returncode == 0, r.stdout.decode(errors="replace")

    sync()
    got = sorted(os.listdir(local / "INBOX" / "cur") +
                 os.listdir(local / "INBOX" / "new"))
    assert len(got) == len(os.listdir(dovecot.maildir(user) + "/cur")) + \
        len(os.listdir(dovecot.maildir(user) + "/new"))
    bodies = []
    for sub in ("cur", "new"):
        for name in os.listdir(local / "INBOX" / sub):
            bodies.append((local / "INBOX" / sub / name).read_bytes())
    def canon(b):
        # Maildir files hold LF line ends; mbsync adds its X-TUID header.
        lines = b.replace(b"\r\n", b"\n").split(b"\n")
        return b"\n".join(x for x in lines if not x.startswith(b"X-TUID:"))

    got_bodies = [canon(b) for b in bodies]
    for n in (1, 2, 3):
        assert canon(dovecot.message(n)) in got_bodies, "message %d" % n
    # A message written locally reaches the server on the next sync.
    new = local / "INBOX" / "new" / "1.local:2,"
    new.write_bytes(b"From: near@example.org\nSubject: from mbsync\n\nhi\n")
    sync()
    found = False
    for sub in ("cur", "new"):
        d = os.path.join(dovecot.maildir(user), sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                if b"Subject: from mbsync" in f.read():
                    found = True
    assert found
