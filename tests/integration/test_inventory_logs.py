"""postern's own protocol logs, written by real sessions, read by
postern-inventory: the client that logs in without TLS is the one that
would break under SecureLogin; the one that uses TLS is not."""

import imaplib
import json
import os
import poplib
import socket
import subprocess

import pytest

import helpers


def inventory_bin(postern_bin):
    path = os.path.join(os.path.dirname(postern_bin), "postern-inventory")
    if not os.access(path, os.X_OK):
        pytest.skip("no postern-inventory next to " + postern_bin)
    return path


class SourcePOP3(poplib.POP3):
    """poplib from a source address of its own."""

    def __init__(self, host, port, source):
        self._source = source
        super().__init__(host, port, timeout=20)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


def test_inventory_reads_what_postern_wrote(start_postern, dovecot, cert,
                                            postern_bin, tmp_path):
    inv = inventory_bin(postern_bin)
    logs = tmp_path / "logs"
    p = start_postern({
        "pop3": {"protocol_log_enabled": "yes",
                 "log_file_location": str(logs / "Pop3"),
                 "login_type": "PlainTextLogin"},
        "imap": {"protocol_log_enabled": "yes",
                 "log_file_location": str(logs / "Imap4")}})
    # A scanner on 127.0.0.71 logs in without TLS and deletes its mail.
    m = SourcePOP3("127.0.0.1", p.ports["pop3"], "127.0.0.71")
    m.user("heidi")
    assert m.pass_(dovecot.users["heidi"]).startswith(b"+OK")
    m.stat()
    m.quit()
    # A phone on 127.0.0.1 uses IMAP over implicit TLS and says who it is.
    ctx = helpers.client_context(cert[0])
    i = imaplib.IMAP4_SSL("127.0.0.1", p.ports["imaps"], ssl_context=ctx,
                          timeout=20)
    i.xatom("ID", '("name" "TestPhone" "version" "4.2")')
    i.login("heidi", dovecot.users["heidi"])
    i.select("INBOX")
    i.logout()
    # The rows reach the files when postern stops (or soon after).
    assert p.stop() == 0
    files = [str(f) for f in logs.rglob("*.LOG")]
    assert len(files) == 2, files

    out = subprocess.run([inv, "--format", "json", str(logs)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=True).stdout
    report = json.loads(out)
    assert report["summary"]["rows_malformed"] == 0
    by_client = {r["client"]: r for r in report["records"]}
    scanner = by_client["127.0.0.71"]
    assert scanner["would_break"] is True
    assert scanner["cleartext_logins"] == 1
    assert "pop3" in scanner["protocols"]
    phone = by_client["127.0.0.1"]
    assert phone["would_break"] is False
    assert phone["implicit_tls_logins"] == 1
    # The would-break list comes first.
    assert report["records"][0]["client"] == "127.0.0.71"

    sw = subprocess.run([inv, "--format", "json", "--by", "software",
                         str(logs)], stdout=subprocess.PIPE, check=True)
    names = [r.get("software") for r in json.loads(sw.stdout)["records"]]
    assert any(n and "TestPhone" in n for n in names), names
