"""Audit mode in the protocol log: a login that login_type_mode = audit or
an access rule with action = audit lets through is written with R=ok, no
ErrMsg (log tools such as CrowdSec read ErrMsg as a failure) and the
verdicts in postern's own keys, as postern-log(5) documents; and
postern-inventory still names that client as one that would break."""

import csv
import glob
import imaplib
import io
import json
import os
import poplib
import shutil
import socket
import subprocess

import pytest

import helpers


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-audit.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def rows_of(directory):
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*", "*.LOG"))):
        with open(path, newline="", encoding="utf-8") as f:
            text = "".join(l for l in f if not l.startswith("#"))
        out.extend(csv.DictReader(io.StringIO(text)))
    return out


def context(row):
    """The context field as {key: value}: Key=Value pairs joined by ';',
    a value in '"' (with '""' for a quote) when it holds ';' or ','."""
    out, text, i = {}, row["context"], 0
    while i < len(text):
        eq = text.index("=", i)
        key, i = text[i:eq], eq + 1
        if text.startswith('"', i):
            value, i = "", i + 1
            while True:
                q = text.index('"', i)
                value += text[i:q]
                if text.startswith('""', q):
                    value, i = value + '"', q + 2
                else:
                    i = q + 1
                    break
        else:
            end = text.find(";", i)
            end = len(text) if end == -1 else end
            value, i = text[i:end], end
        out[key] = value
        i += 1  # the ';'
    return out


class SourceIMAP(imaplib.IMAP4):
    def __init__(self, port, source):
        self._source = source
        super().__init__("127.0.0.1", port, timeout=20)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


class SourcePOP3(poplib.POP3):
    def __init__(self, port, source):
        self._source = source
        super().__init__("127.0.0.1", port, timeout=20)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


def login_row(rows, source, command):
    mine = [r for r in rows if r["cIp"].startswith(source + ":")
            and r["command"] == command]
    assert len(mine) == 1, rows
    return mine[0]


def test_audited_logins_are_successes_with_audit_keys(
        start_postern, dovecot, cert, postern_bin, logdir):
    inv = os.path.join(os.path.dirname(postern_bin), "postern-inventory")
    p = start_postern({
        "pop3": {"protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(logdir, "Pop3")},
        "imap": {"protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(logdir, "Imap4"),
                 "login_type": "SecureLogin",
                 "login_type_mode": "audit"},
        'rule "old scanners"': {"priority": "5", "action": "audit",
                                "client_ips": "127.0.0.74",
                                "usernames": "heidi"}})
    pw = dovecot.users["heidi"]
    # A device that logs in with cleartext LOGIN and no TLS.
    i = SourceIMAP(p.ports["imap"], "127.0.0.73")
    assert i.login("heidi", pw)[0] == "OK"
    i.logout()
    # A scanner that an audit rule would refuse.
    m = SourcePOP3(p.ports["pop3"], "127.0.0.74")
    m.user("heidi")
    assert m.pass_(pw).startswith(b"+OK")
    m.quit()
    # A phone over implicit TLS: nothing to audit.
    ctx = helpers.client_context(cert[0])
    t = imaplib.IMAP4_SSL("127.0.0.1", p.ports["imaps"], ssl_context=ctx,
                          timeout=20)
    t.login("heidi", pw)
    t.logout()
    assert p.stop() == 0
    rows = rows_of(logdir)

    row = login_row(rows, "127.0.0.73", "login")
    c = context(row)
    assert c["R"] == "ok", row
    assert "ErrMsg" not in c, row
    assert c["LoginTypeAudit"] == "WouldDeny:SecureLogin", row
    assert "AccessRuleAudit" not in c, row
    assert "ProxySuccess" in c["Msg"], row

    row = login_row(rows, "127.0.0.74", "pass")
    c = context(row)
    assert c["R"] == "ok", row
    assert "ErrMsg" not in c, row
    assert c["AccessRuleAudit"] == "WouldDeny:old scanners", row
    assert "LoginTypeAudit" not in c, row

    row = login_row(rows, "127.0.0.1", "login")
    c = context(row)
    assert "ErrMsg" not in c and "LoginTypeAudit" not in c, row
    # No row of these good sessions carries an ErrMsg at all.
    assert not [r for r in rows if "ErrMsg" in context(r)], rows

    if not os.access(inv, os.X_OK):
        pytest.skip("no postern-inventory next to " + postern_bin)
    out = subprocess.run([inv, "--format", "json", logdir],
                         stdout=subprocess.PIPE, check=True).stdout
    report = json.loads(out)
    by_client = {r["client"]: r for r in report["records"]}
    assert by_client["127.0.0.73"]["would_break"] is True
    assert by_client["127.0.0.73"]["cleartext_logins"] == 1
    assert by_client["127.0.0.73"]["logins_failed"] == 0
    assert by_client["127.0.0.74"]["logins_failed"] == 0
    assert by_client["127.0.0.1"]["would_break"] is False


def test_exempt_login_is_a_success_without_errmsg(start_postern, dovecot,
                                                  logdir):
    p = start_postern({
        "pop3": {"protocol_log_enabled": "yes",
                 "log_file_location": os.path.join(logdir, "Pop3"),
                 "login_type": "SecureLogin",
                 "login_type_exempt_ips": "127.0.0.75"}})
    m = SourcePOP3(p.ports["pop3"], "127.0.0.75")
    m.user("heidi")
    assert m.pass_(dovecot.users["heidi"]).startswith(b"+OK")
    m.quit()
    assert p.stop() == 0
    c = context(login_row(rows_of(logdir), "127.0.0.75", "pass"))
    assert c["R"] == "ok" and "ErrMsg" not in c, c
    assert c["LoginTypeAudit"] == "Exempt", c
    p.wait_log(r"LoginTypeExempt")
