"""What an unauthenticated client may send: hostile commands before login
must end that client's session only, never the daemon or another
session, and nothing it sent after AUTHENTICATE/AUTH may reach a log."""

import re

from helpers import LineClient


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
