"""What an unauthenticated client may send: hostile commands before login
must end that client's session only, never the daemon or another
session, and nothing it sent after AUTHENTICATE/AUTH may reach a log."""

import base64
import re

from helpers import LineClient
# The protocol-log fixture and readers of the protocol-log tests.
from test_protolog import (all_files, ctx_value, log_conf, logdir,  # noqa
                           session_rows)


def tagged(c, tag):
    """Reads lines up to the tagged answer; returns (untagged, tagged)."""
    lines = []
    while True:
        line = c.readline()
        if line.startswith(tag + b" "):
            return lines, line
        lines.append(line)


def command(c, tag, line):
    """Sends "tag line" and returns its tagged answer."""
    c.send(tag + b" " + line + b"\r\n")
    return tagged(c, tag)[1]


def literals_filling(store, spare, lit_max=1024):
    """Non-synchronising literals of at most lit_max bytes whose bytes and
    NULs fill a parser store of the given size up to spare bytes."""
    out, used = b"", 0
    while store - used >= spare + 1:
        n = min(lit_max, store - used - spare - 1)
        out += b" {%d+}\r\n" % n + b"L" * n
        used += n + 1
    return out


def test_imap_store_overflow_before_login_ends_only_the_attacker(
        start_postern, dovecot):
    # One worker: the attacker lands in the logged-in session's process.
    p = start_postern({"postern": {"workers": "1"},
                       "imap": {"max_command_size": "10240"}})
    pw = dovecot.users["alice"]

    victim = LineClient(p.ports["imap"])
    victim.readline()
    t = command(victim, b"v1", b"LOGIN alice " + pw.encode())
    assert t.startswith(b"v1 OK"), t
    t = command(victim, b"v2", b"EXAMINE INBOX")
    assert t.startswith(b"v2 OK"), t

    # The store is max_command_size + 2 KiB: eleven {1024+} and one
    # {1011+} fill it to its last byte, and each of the 52 "" that follow
    # used to write its NUL one byte further past the end.
    attack = b"a X" + literals_filling(10240 + 2048, 1) + b' ""' * 52 + \
        b"\r\n"
    assert attack.count(b"{1024+}") == 11 and b"{1011+}" in attack
    attacker = LineClient(p.ports["imap"])
    attacker.readline()
    attacker.send(attack)
    answer = attacker.read_until_close(10)
    attacker.close()
    assert re.match(rb"a BAD [^\r\n]*\r\n\* BYE [^\r\n]*\r\n\Z", answer), \
        answer

    # The daemon and the logged-in session go on.
    assert p.proc.poll() is None, p.log()
    assert victim.cmd(b"v3 NOOP").startswith(b"v3 OK")
    victim.send(b"v4 FETCH 1 BODY.PEEK[]\r\n")
    m = re.match(rb"\* 1 FETCH \(BODY\[\] \{(\d+)\}\r\n",
                 victim.readline())
    assert m
    assert victim.read_exact(int(m.group(1))) == dovecot.message(1)
    _, t = tagged(victim, b"v4")
    assert t.startswith(b"v4 OK"), t
    t = command(victim, b"v5", b"SELECT INBOX")
    assert t.startswith(b"v5 OK"), t
    victim.send(b"v6 LOGOUT\r\n")
    assert b"v6 OK" in victim.read_until_close(10)
    victim.close()

    # A new client is served as before.
    c = LineClient(p.ports["imap"])
    assert c.readline().startswith(b"* OK")
    assert c.cmd(b"n NOOP").startswith(b"n OK")
    c.close()
    assert p.proc.poll() is None, p.log()


# --- SASL responses after a refused AUTHENTICATE / AUTH ----------------------

def b64(data):
    return base64.b64encode(data)


def assert_nowhere(paths, secrets):
    """None of the secrets (bytes) in any of the files."""
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        for s in secrets:
            assert s not in data, "%s holds %r" % (path, s)


def discarded(row, size):
    """A row for a response line that was read and dropped."""
    return (row["command"] == "InvalidCommand" and
            row["parameters"] == "*****" and
            int(row["rqsize"]) == size and int(row["rpsize"]) == 0 and
            ctx_value(row["context"], "ErrMsg") ==
            "SaslResponseAfterRefusal")


def test_imap_response_after_refused_authenticate_is_never_echoed_or_logged(
        start_postern, dovecot, logdir):
    conf = log_conf(logdir)
    conf["imap"]["login_type"] = "SecureLogin"
    p = start_postern(conf)
    pw = dovecot.users["carol"]
    blob = b64(b"\0carol\0" + pw.encode())
    token = b64(b"user=carol\x01auth=Bearer " + pw.encode() + b"\x01\x01")
    c = LineClient(p.ports["imap"])
    c.readline()

    # PLAIN without waiting for the "+": the response comes at once.
    c.send(b"a1 AUTHENTICATE PLAIN\r\n" + blob + b"\r\n")
    assert c.readline().startswith(b"a1 NO [PRIVACYREQUIRED]")
    # Nothing answers the response line: the next answer is a2's.
    assert c.cmd(b"a2 NOOP").startswith(b"a2 OK")
    # LOGIN sends two lines; an unpadded response is still no command.
    c.send(b"a3 AUTHENTICATE LOGIN\r\n" + b64(b"carol") + b"\r\n" +
           b64(pw.encode()).rstrip(b"=") + b"\r\n")
    assert c.readline().startswith(b"a3 NO [PRIVACYREQUIRED]")
    assert c.cmd(b"a4 NOOP").startswith(b"a4 OK")
    # A mechanism postern does not offer: the bearer token is refused
    # the same way.
    c.send(b"a5 AUTHENTICATE XOAUTH2\r\n" + token + b"\r\n")
    assert c.readline().startswith(b"a5 NO [CANNOT]")
    assert c.cmd(b"a6 NOOP").startswith(b"a6 OK")
    # A client that waits after the refusal loses no command.
    assert c.cmd(b"a7 AUTHENTICATE PLAIN").startswith(
        b"a7 NO [PRIVACYREQUIRED]")
    c.send(b"a8 LOGOUT\r\n")
    assert c.read_until_close(10) == \
        b"* BYE Logging out.\r\na8 OK Logout completed.\r\n"
    cip = "%s:%d" % c.sock.getsockname()[:2]
    c.close()

    rows = session_rows(logdir, cip)
    assert [r["command"] for r in rows] == [
        "OpenSession", "authenticate", "InvalidCommand", "noop",
        "authenticate", "InvalidCommand", "InvalidCommand", "noop",
        "authenticate", "InvalidCommand", "noop", "authenticate", "logout",
        "CloseSession"], rows
    assert discarded(rows[2], len(blob) + 2)
    assert discarded(rows[5], len(b64(b"carol")) + 2)
    assert discarded(rows[6], len(b64(pw.encode()).rstrip(b"=")) + 2)
    assert discarded(rows[9], len(token) + 2)
    assert p.proc.poll() is None
    assert_nowhere(all_files(logdir, p),
                   [pw.encode(), blob, token, b64(pw.encode()).rstrip(b"="),
                    b64(b"carol")])


def test_pop3_response_after_refused_auth_is_never_run_or_logged(
        start_postern, dovecot, logdir):
    conf = log_conf(logdir)
    conf["pop3"]["login_type"] = "SecureLogin"
    p = start_postern(conf)
    pw = dovecot.users["carol"]
    # Unpadded and made of letters, the response once passed for a word.
    blob = b64(b"\0carol\0" + pw.encode()).rstrip(b"=")
    c = LineClient(p.ports["pop3"])
    c.readline()

    c.send(b"AUTH PLAIN\r\n" + blob + b"\r\n")
    assert c.readline().startswith(b"-ERR [AUTH] Plaintext")
    # Nothing answers the response line: the next answer is CAPA's.
    assert c.cmd(b"CAPA") == b"+OK Capability list follows\r\n"
    while c.readline() != b".\r\n":
        pass
    c.send(b"AUTH LOGIN\r\n" + b64(b"carol") + b"\r\n" +
           b64(pw.encode()) + b"\r\n")
    assert c.readline().startswith(b"-ERR [AUTH] Plaintext")
    # A client that waits after the refusal loses no command.
    assert c.cmd(b"AUTH PLAIN").startswith(b"-ERR [AUTH] Plaintext")
    c.send(b"QUIT\r\n")
    assert c.read_until_close(10) == b"+OK Logging out.\r\n"
    cip = "%s:%d" % c.sock.getsockname()[:2]
    c.close()

    rows = session_rows(logdir, cip)
    assert [r["command"] for r in rows] == [
        "OpenSession", "auth", "InvalidCommand", "capa", "auth",
        "InvalidCommand", "InvalidCommand", "auth", "quit",
        "CloseSession"], rows
    assert discarded(rows[2], len(blob) + 2)
    assert discarded(rows[5], len(b64(b"carol")) + 2)
    assert discarded(rows[6], len(b64(pw.encode())) + 2)
    assert p.proc.poll() is None
    assert_nowhere(all_files(logdir, p),
                   [pw.encode(), blob, b64(pw.encode()), b64(b"carol")])


def test_password_line_after_a_refused_login_user_name_is_discarded(
        start_postern, dovecot, logdir):
    """AUTH(ENTICATE) LOGIN whose user name is refused: the password line
    a pipelining client sent after it is no command either."""
    p = start_postern(log_conf(logdir))
    pw = dovecot.users["carol"]
    secret = b64(pw.encode())
    c = LineClient(p.ports["imap"])
    c.readline()
    for tag, name in ((b"b1", b"!!!!"), (b"b2", b64(b"\0"))):
        assert c.cmd(tag + b" AUTHENTICATE LOGIN") == b"+ VXNlcm5hbWU6\r\n"
        c.send(name + b"\r\n" + secret + b"\r\n")
        assert re.match(tag + rb" (BAD|NO) ", c.readline())
        assert c.cmd(b"n" + tag + b" NOOP").startswith(b"n" + tag + b" OK")
    assert c.cmd(b"z LOGOUT").startswith(b"* BYE")
    cip = "%s:%d" % c.sock.getsockname()[:2]
    c.close()
    rows = session_rows(logdir, cip)
    assert [r["command"] for r in rows] == [
        "OpenSession", "authenticate", "InvalidCommand", "noop",
        "authenticate", "InvalidCommand", "noop", "logout",
        "CloseSession"], rows
    assert discarded(rows[2], len(secret) + 2)
    assert discarded(rows[5], len(secret) + 2)

    c = LineClient(p.ports["pop3"])
    c.readline()
    assert c.cmd(b"AUTH LOGIN") == b"+ VXNlcm5hbWU6\r\n"
    c.send(b64(b"\0") + b"\r\n" + secret + b"\r\n")
    assert c.readline().startswith(b"-ERR [AUTH] Authentication failed.")
    assert c.cmd(b"CAPA") == b"+OK Capability list follows\r\n"
    while c.readline() != b".\r\n":
        pass
    c.send(b"QUIT\r\n")
    assert c.read_until_close(10) == b"+OK Logging out.\r\n"
    cip = "%s:%d" % c.sock.getsockname()[:2]
    c.close()
    rows = session_rows(logdir, cip)
    assert [r["command"] for r in rows] == [
        "OpenSession", "auth", "InvalidCommand", "capa", "quit",
        "CloseSession"], rows
    assert discarded(rows[2], len(secret) + 2)
    assert_nowhere(all_files(logdir, p), [pw.encode(), secret])


# --- ID values in the logs --------------------------------------------------

def test_imap_id_literal_cannot_forge_daemon_log_lines(start_postern):
    p = start_postern({"postern": {"log_level": "debug"}})
    forged = b"fake\r\n<0>postern: forged line"
    c = LineClient(p.ports["imap"])
    c.readline()
    c.send(b'i1 ID ("name" {%d+}\r\n' % len(forged) + forged +
           b' "version" "1")\r\n')
    assert c.readline().startswith(b"* ID ")
    assert c.readline() == b"i1 OK ID completed.\r\n"
    assert c.cmd(b"i2 LOGOUT").startswith(b"* BYE")
    c.close()
    p.wait_log(r"client says it is fake")
    assert not any(line.startswith("<0>")
                   for line in p.log().splitlines()), p.log()
    assert "client says it is fake??<0>postern: forged line 1" in p.log()
