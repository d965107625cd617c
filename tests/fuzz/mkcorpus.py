#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<harness>/ from the sessions
below, which follow what real clients send (Thunderbird, Outlook, Apple Mail,
curl, fetchmail, mbsync, Python's imaplib/poplib) and what Dovecot answers,
and from the real Exchange rows of tests/data/exchange-logs/.

Usage: python3 tests/fuzz/mkcorpus.py   (from the top of the tree)

Existing files are overwritten, other files (such as overflow-regression or
crashes added by hand) are left alone.  Each file is named after its content
hash, as libFuzzer names the inputs it keeps.
"""
import base64
import csv
import hashlib
import io
import os
import struct
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(TOP, "tests", "fuzz", "corpus")


def b64(s):
    return base64.b64encode(s).decode()


PLAIN = b64(b"\0alice@example.org\0PW-MARKER-s3cr3t")
PLAIN_AUTHZ = b64(b"alice\0alice\0PW-MARKER-s3cr3t")


def put(harness, data, settings=0, splits=()):
    """One seed: the fuzz.h header (settings, split sizes) and the stream."""
    if harness in ("proxyproto", "sasl", "conf", "protolog_row", "ntlm"):
        blob = data
    else:
        blob = bytes([settings, len(splits)]) + bytes(splits) + data
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def crlf(lines):
    return b"".join(l.encode() + b"\r\n" for l in lines)


# --- IMAP before login ----------------------------------------------------
IMAP_PRE = [
    # Thunderbird 115
    crlf(['1 capability',
          '2 ID ("name" "Thunderbird" "version" "115.6.0")',
          '3 authenticate PLAIN']) + PLAIN.encode() + b"\r\n",
    # Outlook 2016
    crlf(['A001 CAPABILITY', 'A002 STARTTLS']),
    crlf(['A001 CAPABILITY',
          'A002 LOGIN alice@example.org PW-MARKER-s3cr3t', 'A003 LOGOUT']),
    # Apple Mail
    crlf(['1.1 ID ("name" "Mac OS X Mail" "version" "16.0 (3731.700.6)" '
          '"os" "macOS" "os-version" "13.4 (22F66)" "vendor" "Apple Inc.")',
          '2.1 CAPABILITY', '3.1 AUTHENTICATE PLAIN ' + PLAIN]),
    # curl 7.88
    crlf(['A001 CAPABILITY',
          'A002 LOGIN "alice@example.org" "PW-MARKER-s3cr3t"']),
    crlf(['A001 CAPABILITY', 'A002 AUTHENTICATE PLAIN ' + PLAIN_AUTHZ]),
    # fetchmail 6.4
    crlf(['A0001 CAPABILITY', 'A0002 STARTTLS', 'A0003 CAPABILITY',
          'A0004 LOGIN "alice" "PW-MARKER-s3cr\\"et"']),
    # mbsync: literals, LITERAL+ and synchronising
    b'1 CAPABILITY\r\n2 LOGIN {5+}\r\nalice {16+}\r\nPW-MARKER-s3cr3t\r\n',
    b'1 LOGIN {5}\r\nalice {16}\r\nPW-MARKER-s3cr3t\r\n',
    b'1 LOGIN {0}\r\n {0+}\r\n\r\n',
    # SASL LOGIN, and a cancelled exchange (RFC 9051 6.2.2)
    crlf(['a1 AUTHENTICATE LOGIN', b64(b"alice"), b64(b"PW-MARKER-s3cr3t")]),
    crlf(['a1 AUTHENTICATE PLAIN', '*', 'a2 NOOP', 'a3 ENABLE UTF8=ACCEPT']),
    # Python imaplib
    crlf(['ABCD1 CAPABILITY', 'ABCD2 LOGIN alice "PW MARKER s3cr3t"']),
    # What scanners and broken clients send
    b'\r\n\r\n* CAPABILITY\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n',
    b'a (b) c\r\na NOOP (x (y (z (w (v)))))\r\na ID NIL\r\na ID ()\r\n',
    b'a LOGIN "unterminated\r\na LOGIN x\\y "a\\b"\r\n',
    b'a' * 70 + b' NOOP\r\n' + b'b ' + b'X' * 40 + b'\r\n',
    b'a X {4294967296}\r\na X {99999}\r\na X {1025+}\r\n',
    b'a X' + b' ""' * 70 + b'\r\n',
    b'a X' + b' {3+}\r\nabc' * 20 + b'\r\n',
]

# --- IMAP after login: the client's and the server's turns, in order ------
C, S = 0, 0x80


def turns(*ts):
    """imap_frame's stream: steps of a direction byte | length (<= 127)."""
    out = b""
    for d, data in ts:
        if isinstance(data, list):
            data = crlf(data)
        for i in range(0, len(data), 127):
            piece = data[i:i + 127]
            out += bytes([d | len(piece)]) + piece
    return out


MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nA008 COMPRESS DEFLATE\r\n"
IMAP_SESSIONS = [
    # Thunderbird: SELECT, FETCH with a literal in the answer, IDLE/DONE.
    turns((C, ['5 select "INBOX"']),
          (S, ['* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)',
               '* 3 EXISTS', '* OK [UIDVALIDITY 1700000000] UIDs valid',
               '5 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).']),
          (C, ['6 UID fetch 41 (UID RFC822.SIZE FLAGS BODY.PEEK[])']),
          (S, b'* 1 FETCH (UID 41 RFC822.SIZE 20 FLAGS (\\Seen) BODY[] {20}\r\n'
              b'6 OK fake tagged\r\n\r\n)\r\n6 OK Fetch completed.\r\n'),
          (C, ['7 IDLE']), (S, ['+ idling', '* 4 EXISTS']),
          (C, ['DONE']), (S, ['7 OK Idle completed.']),
          (C, ['8 logout']), (S, ['* BYE Logging out', '8 OK Logout completed.'])),
    # APPEND with a synchronising literal answered by "+"; the message
    # holds a line that looks like COMPRESS, which stays as it is.
    turns((C, b'10 APPEND "Sent" (\\Seen) {%d}\r\n' % len(MSG) + MSG + b'\r\n'),
          (S, ['+ OK']),
          (S, ['10 OK [APPENDUID 1700000000 42] Append completed.']),
          (C, ['11 COMPRESS DEFLATE']),
          (S, ['11 BAD Error in IMAP command COMPRESSXDEFLATE: Unknown command.'])),
    # An APPEND the server refuses before "+": the held bytes are a new
    # command.
    turns((C, b'12 APPEND Drafts {5}\r\nhello\r\n'),
          (S, ['12 NO [OVERQUOTA] Quota exceeded']),
          (S, ['* BAD Error in IMAP command HELLO: Unknown command.'])),
    # Capabilities: COMPRESS= and LITERAL+ made unknown; then the client
    # tries LITERAL+ all the same and the session ends.
    turns((C, ['1 CAPABILITY']),
          (S, ['* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ LITERAL- IDLE '
               'COMPRESS=DEFLATE NAMESPACE',
               '1 OK [CAPABILITY IMAP4rev1 LITERAL+ COMPRESS=DEFLATE] Done.']),
          (C, b'2 APPEND Drafts {5+}\r\nhello\r\n3 LOGIN a b\r\n'),
          (S, ['* 1 EXISTS'])),
    # LOGIN and AUTHENTICATE after login (refused by the server), a search
    # with a literal, lower-case compress.
    turns((C, ['13 LOGIN alice PW-MARKER-s3cr3t',
               '14 AUTHENTICATE PLAIN ' + PLAIN]),
          (S, ['13 BAD Already logged in', '14 BAD Already logged in']),
          (C, b'15 UID SEARCH CHARSET UTF-8 SUBJECT {6}\r\n'),
          (S, ['+ Ready for literal data']),
          (C, b'\xc3\xa9t\xc3\xa9\r\n16 compress deflate\r\n'),
          (S, ['* SEARCH 41', '15 OK Search completed.',
               '16 BAD Unknown command'])),
    # mbsync: pipelined commands, LIST, STATUS, an IDLE refused.
    turns((C, ['1 NAMESPACE', '2 LIST "" "*"',
               '4 STATUS "INBOX" (MESSAGES UNSEEN UIDNEXT)', '6 IDLE']),
          (S, ['* NAMESPACE (("" "/")) NIL NIL', '1 OK Namespace completed.',
               '* LIST (\\HasNoChildren) "/" INBOX', '* LIST () "/" {5}',
               'Sent\r', '2 OK List completed.',
               '* STATUS INBOX (MESSAGES 3 UNSEEN 0 UIDNEXT 43)',
               '4 OK Status completed.', '6 NO IDLE not allowed']),
          (C, ['7 NOOP']), (S, ['7 OK NOOP completed.'])),
]

# --- POP3 before login ----------------------------------------------------
POP3_PRE = [
    crlf(['CAPA', 'USER alice@example.org', 'PASS PW-MARKER-s3cr3t', 'QUIT']),
    crlf(['CAPA', 'AUTH PLAIN', PLAIN]),
    crlf(['CAPA', 'AUTH PLAIN ' + PLAIN]),
    crlf(['AUTH LOGIN', b64(b'alice'), b64(b'PW-MARKER-s3cr3t')]),
    crlf(['STLS', 'CAPA', 'USER alice', 'PASS PW MARKER with spaces']),
    crlf(['APOP alice c4c9334bac560ecc979e58001b3e22fb', 'NOOP']),
    crlf(['AUTH', 'XCLIENT ADDR=192.0.2.1', 'user', 'USER', 'PASS']),
    b'\r\n\n\rUSER a\nPASS b\n' + b'X' * 600 + b'\r\n',
    b'GET / HTTP/1.0\r\n\r\n',
]

# --- POP3 after login: client, then server --------------------------------
POP3_SESSIONS = [
    (crlf(['STAT', 'LIST', 'UIDL', 'RETR 1', 'DELE 1', 'QUIT']),
     crlf(['+OK 2 1234', '+OK 2 messages:', '1 600', '2 634', '.',
           '+OK', '1 000000a1', '2 000000a2', '.',
           '+OK 600 octets', 'Subject: hello', '', '..stuffed dot line',
           '.not the end', '.', '+OK Marked to be deleted.',
           '+OK Logging out.'])),
    (crlf(['CAPA', 'TOP 1 0', 'LIST 2', 'UIDL 9', 'RETR 2']),
     crlf(['+OK', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'USER',
           'SASL PLAIN LOGIN', '.', '+OK', 'From: a@b', '', '.',
           '+OK 2 634', '-ERR [SYS/TEMP] no such message',
           '-ERR no such message'])),
    (b'RETR 1\nRETR 2\r\nNOOP\r\n',
     b'+OK\n.\r\n+OK\r\nline\n.\r.\r\n.\n+OK\r\n'),
]

# --- PROXY protocol -------------------------------------------------------
V2 = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(cmd, fam, addrs, tlvs=b""):
    body = addrs + tlvs
    return V2 + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


PROXY = [
    b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 993\r\nA001 CAPABILITY\r\n",
    b"PROXY TCP6 2001:db8::10 2001:db8::1 56324 110\r\nCAPA\r\n",
    b"PROXY TCP6 ::ffff:192.0.2.10 ::ffff:198.51.100.1 1 65535\r\n",
    b"PROXY UNKNOWN\r\n",
    b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
    v2(1, 0x11, bytes([192, 0, 2, 10, 198, 51, 100, 1]) +
       struct.pack("!HH", 56324, 993)) + b"\x16\x03\x01",
    v2(1, 0x21, bytes(15) + b"\x01" + bytes(15) + b"\x02" +
       struct.pack("!HH", 1, 2)),
    v2(0, 0x00, b""),
    v2(1, 0x11, bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack("!HH", 1, 143),
       b"\x02\x00\x0bexample.org" + b"\x20\x00\x06\x01\x00\x00\x00\x00\x00"
       + b"\x04\x00\x00"),
    v2(1, 0x31, b"/run/haproxy.sock".ljust(108, b"\0") +
       b"/run/postern.sock".ljust(108, b"\0")),
    v2(1, 0x12, bytes(12)),
]

# --- SASL lines -----------------------------------------------------------
SASL = [PLAIN.encode(), PLAIN_AUTHZ.encode(), b64(b"alice").encode(),
        b64(b"PW-MARKER-s3cr3t").encode(), b"*", b"=", b"",
        b64(b"bob\0alice\0pw").encode(), b64(b"\0\0").encode(),
        b64(b"\0alice\0pw\r\nA2 LOGOUT").encode(), b"AHVzZXIAcGFzcw",
        b"AHVzZXIAcGFzcw==", b"PW-MARKER-s3cr3t", b"alice@example.org",
        # Decoded XOAUTH2 and OAUTHBEARER messages (the user hooks read
        # the input as one) and capability lists.
        b"user=alice@example.org\x01auth=Bearer ya29.TOKEN\x01\x01",
        b"auth=Bearer x\x01user=bob\x01\x01",
        b"n,a=alice@example.org,\x01host=mail\x01port=143\x01"
        b"auth=Bearer vF9dft4qmTc2Nvb3RlckBh\x01\x01",
        b"y,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01",
        b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
        b"IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER",
        b"SASL PLAIN NTLM GSSAPI XOAUTH2"]


def row_seed(fields):
    """The protolog_row layout: 40 bytes of numbers, then NUL strings."""
    def num(s):
        try:
            return int(s)
        except ValueError:
            return 0
    try:
        sid = int(fields[1], 16)
    except ValueError:
        sid = 0
    head = struct.pack("<QQIQ", 1673270219348, sid, num(fields[2]),
                       num(fields[6]))
    head += struct.pack("<Q", num(fields[7]))[:6]
    head += struct.pack("<Q", num(fields[8]))[:6]
    out = head
    for i in (3, 4, 5, 9, 10):
        out += fields[i].encode() + b"\0"
    ctx = fields[11] if len(fields) > 11 else ""
    keys = ["R", "Rows", "Recent", "TotalSize", "Search", "ClientIp", "Msg",
            "Unseen", "FolderCount", "ItemsDeleted", "CafeActivityId",
            "ErrMsg", "Tls", "ClientName", "ClientVersion", "PeerIp",
            "LoginTypeAudit"]
    for pair in ctx.split(";"):
        if "=" not in pair:
            continue
        k, v = pair.split("=", 1)
        if k in keys:
            out += bytes([keys.index(k)]) + v.strip('"').encode() + b"\0"
    return out


def main():
    for s in IMAP_PRE:
        put("imap_preauth", s, settings=0x40)
        put("imap_preauth", s, settings=0x00, splits=(1,))
        put("imap_preauth", s, settings=0x40, splits=(7, 3, 250))
    for s in IMAP_PRE[:13]:
        put("session", s, settings=1)
    for s in POP3_PRE:
        put("session", s, settings=0)
    put("session", crlf(['1 LOGOUT']), settings=1, splits=(1,))
    for s in IMAP_SESSIONS:
        put("imap_frame", s)
        put("imap_frame", s, splits=(1, 5, 3))
    for s in POP3_PRE:
        put("pop3_preauth", s, settings=0x80)
        put("pop3_preauth", s, settings=0, splits=(2, 9))
    for c, s in POP3_SESSIONS:
        put("pop3_frame", struct.pack("<H", len(c)) + c + s)
        put("pop3_frame", struct.pack("<H", len(c)) + c + s, splits=(1, 4))
    for s in PROXY:
        put("proxyproto", s)
    for s in SASL:
        put("sasl", s)
    # The real NTLMSSP messages of tests/data/ntlm/captured.txt, after the
    # harness's byte of buffer sizes: both full, then both small.
    with open(os.path.join(TOP, "tests", "data", "ntlm", "captured.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            raw = base64.b64decode(line.split()[1])
            put("ntlm", bytes([0x3f]) + raw)
            if line.startswith("T3"):
                put("ntlm", bytes([0x00]) + raw)
                put("ntlm", bytes([0x49]) + raw)
    with open(os.path.join(TOP, "etc", "postern.ini"), "rb") as f:
        put("conf", f.read())
    put("conf", b"[postern]\nworkers = 2\nlog_level = debug\n\n[imap]\n"
        b"max_command_size = 1024\nprotocol_log_enabled = no\n"
        b"unencrypted_or_tls_bindings = 127.0.0.1:1143\n"
        b"  [::1]:1143\nlogin_type = PlainTextLogin\n"
        b"backend = 127.0.0.1:143\n\n[pop3]\nenabled = no\n")
    put("conf", b"[tls]\ncertificate = /nonexistent.pem\nprivate_key =\n"
        b"[groups]\nfile = /nonexistent\n"
        b"[rule \"Outside the network\"]\npriority = 10\naction = deny\n"
        b"except_client_ips = 10.0.0.0/8, 2001:db8::/32\n"
        b"authentication = plaintext\nmember_of = staff\n")
    logs = os.path.join(TOP, "tests", "data", "exchange-logs")
    for name in sorted(os.listdir(logs)):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(logs, name), "rb") as f:
            data = f.read()
        put("exlog_scanners", data)
        put("exlog_scanners", data.replace(b"\n", b"\r\n"), splits=(31, 17))
        for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
            if len(row) >= 11 and not row[0].startswith("#"):
                put("protolog_row", row_seed(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
