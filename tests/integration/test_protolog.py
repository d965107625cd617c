"""Protocol logs through real Dovecot: scripted POP3 and IMAP sessions over
implicit TLS and STARTTLS checked row by row against the bytes the client
sent and received, the files read by Python's csv module, a log directory
that becomes read-only under running sessions, log_detail = proxy, reload,
the access policy's ErrMsg, and no password or SASL blob in any file."""

import base64
import csv
import glob
import io
import os
import pwd
import re
import shutil
import socket
import subprocess
import time

import pytest

import helpers
from helpers import LineClient, client_context, fresh_source, wait_for

FIELDS = ("dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"
          "command,parameters,context,puid")


class Counted(LineClient):
    """A LineClient that counts the application bytes in each direction."""

    def __init__(self, *args, **kw):
        self.sent = self.got = 0
        self.total_sent = self.total_got = 0
        super().__init__(*args, **kw)

    def send(self, data):
        super().send(data)
        self.sent += len(data)
        self.total_sent += len(data)

    def readline(self):
        line = super().readline()
        self.got += len(line)
        self.total_got += len(line)
        return line

    def read_exact(self, n):
        data = super().read_exact(n)
        self.got += n
        self.total_got += n
        return data

    def starttls(self, ctx):
        super().starttls(ctx)
        self.version = self.sock.version()

    def mark(self):
        r = (self.sent, self.got)
        self.sent = self.got = 0
        return r

    def cip(self):
        return "%s:%d" % self.sock.getsockname()[:2]


def log_conf(base, **extra):
    conf = {}
    for proto, sub in (("pop3", "Pop3"), ("imap", "Imap4")):
        conf[proto] = {"protocol_log_enabled": "yes",
                       "log_file_location": os.path.join(base, sub)}
        conf[proto].update(extra)
    return conf


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-protolog.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def read_logs(base, check=True):
    """Every row of every file under base, as dicts keyed by the header."""
    rows = []
    for path in sorted(glob.glob(os.path.join(base, "*", "*.LOG"))):
        with open(path, "rb") as f:
            raw = f.read()
        if not raw:
            # The writer creates a file, then writes its header in one
            # write: a reader may come in between.
            continue
        if check:
            name = os.path.basename(path)
            assert re.match(r"^(POP3|IMAP4)(\d{10}|\d{8})-\d+\.LOG$", name), name
            assert not raw.startswith(b"\xef\xbb\xbf")
            lines = raw.split(b"\r\n")
            assert lines[0].decode() == FIELDS
            assert lines[1].startswith(b"#Software: postern ")
            assert lines[2] == b"#Version: 15.0.0.0"
            kind = "IMAP4" if name.startswith("IMAP4") else "POP3"
            assert lines[3].decode() == "#Log-type: %s Log" % kind
            assert re.match(rb"^#Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                            lines[4])
            assert lines[5].decode() == "#Fields: " + FIELDS
            assert raw.endswith(b"\r\n")
            assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF in " + name
        # The first line is the header, as for Import-Csv; the five
        # comment lines that follow are skipped by their leading '#'.
        text = raw.decode("utf-8")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        assert reader.fieldnames == FIELDS.split(",")
        for r in reader:
            if r["dateTime"].startswith("#"):
                continue
            if check:
                assert None not in r and None not in r.values(), r
                assert len(r) == 13
            r["_file"] = path
            rows.append(r)
    return rows


def session_rows(base, cip, timeout=10):
    """The rows of the session from client address cip, once it closed."""
    def done():
        rs = [r for r in read_logs(base) if r["cIp"] == cip]
        if rs and any(r["command"] == "CloseSession" for r in rs):
            return sorted(rs, key=lambda r: int(r["seqNumber"]))
        return None
    return wait_for(done, timeout, "the rows of the session from " + cip)


def ctx_value(ctx, key):
    """The value of key in a context field, without its quotes (a quote
    inside a quoted value is doubled)."""
    m = re.search(r'(?:^|;)%s=("(?:[^"]|"")*"|[^;]*)' % re.escape(key), ctx)
    if m is None:
        return None
    v = m.group(1)
    return v[1:-1].replace('""', '"') if v.startswith('"') else v


def check_session(rows, want, sip, cip, tls=None):
    """Compares rows field by field with want: a list of (command,
    parameters, user, rqsize, rpsize, R or None); tls is a function of the
    row index giving the Tls value expected."""
    got = [r["command"] for r in rows]
    assert got == [w[0] for w in want] + ["CloseSession"], got
    sid = rows[0]["sessionId"]
    assert re.match(r"^[0-9A-F]{16}$", sid)
    for i, r in enumerate(rows):
        assert r["sessionId"] == sid
        assert int(r["seqNumber"]) == i, (i, r)
        assert r["sIp"] == sip and r["cIp"] == cip, r
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                        r["dateTime"])
        assert int(r["duration"]) >= 0
        assert r["puid"] == ""
        if tls is not None:
            assert ctx_value(r["context"], "Tls") == tls(i), (i, r)
    for i, (w, r) in enumerate(zip(want, rows)):
        cmd, params, user, rq, rp, res = w
        what = "row %d %s: %r" % (i, cmd, r)
        assert r["parameters"] == params, what
        assert r["user"] == user, what
        assert int(r["rqsize"]) == rq, what + " (client sent %d)" % rq
        assert int(r["rpsize"]) == rp, what + " (client got %d)" % rp
        if res is not None:
            assert ctx_value(r["context"], "R") == res, what
    close = rows[-1]
    assert (close["rqsize"], close["rpsize"]) == ("0", "0")
    assert close["duration"] == "0"


def assert_no_secrets(paths, users_pw):
    """No password, and no PLAIN blob of one, in any of the files."""
    needles = []
    for u, pw in users_pw:
        needles.append(pw.encode())
        for authz in (b"", u.encode()):
            needles.append(base64.b64encode(
                authz + b"\0" + u.encode() + b"\0" + pw.encode()))
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        for n in needles:
            assert n not in data, "%s holds a secret" % path


def all_files(base, p):
    out = [p.logpath]
    for d, _, files in os.walk(base):
        out += [os.path.join(d, f) for f in files]
    return out


def plain_blob(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())


# --- scripted sessions ---------------------------------------------------

def pop3_step(c, want, cmd, params, user, line, multi=False, res="ok"):
    c.send(line + b"\r\n")
    st = c.readline()
    if multi and st.startswith(b"+OK"):
        while c.readline() != b".\r\n":
            pass
    q, p = c.mark()
    want.append((cmd, params, user, q, p, res))
    return st


def pop3_script(c, pw, starttls_ctx=None, sasl=False):
    want = []
    c.readline()
    want.append(("OpenSession", "", "", *c.mark(), None))
    pop3_step(c, want, "capa", "", "", b"CAPA", multi=True)
    if starttls_ctx is not None:
        pop3_step(c, want, "stls", "", "", b"STLS")
        c.starttls(starttls_ctx)
        pop3_step(c, want, "capa", "", "", b"CAPA", multi=True)
    if sasl:
        st = pop3_step(c, want, "auth", " PLAIN", "alice",
                       b"AUTH PLAIN " + plain_blob("alice", pw))
    else:
        pop3_step(c, want, "user", " alice", "alice", b"USER alice")
        st = pop3_step(c, want, "pass", " *****", "alice",
                       b"PASS " + pw.encode())
    assert st.startswith(b"+OK"), st
    pop3_step(c, want, "stat", "", "alice", b"STAT")
    pop3_step(c, want, "list", "", "alice", b"LIST", multi=True)
    pop3_step(c, want, "retr", " 1", "alice", b"RETR 1", multi=True)
    pop3_step(c, want, "retr", " 99", "alice", b"RETR 99", multi=True,
              res=None)
    pop3_step(c, want, "quit", "", "alice", b"QUIT")
    c.close()
    return want


def imap_read_tagged(c, tag):
    while True:
        line = c.readline()
        m = re.search(rb"\{(\d+)\}\r\n$", line)
        if m:
            c.read_exact(int(m.group(1)))
            continue
        if line.startswith(tag + b" "):
            return line


def imap_step(c, want, cmd, params, user, tag, text, res="ok"):
    c.send(tag + b" " + text + b"\r\n")
    st = imap_read_tagged(c, tag)
    q, p = c.mark()
    want.append((cmd, params, user, q, p, res))
    return st


def imap_script(c, pw, starttls_ctx=None, sasl=False):
    want = []
    c.readline()
    want.append(("OpenSession", "", "", *c.mark(), None))
    imap_step(c, want, "capability", "", "", b"a1", b"CAPABILITY")
    if starttls_ctx is not None:
        imap_step(c, want, "starttls", "", "", b"a2", b"STARTTLS")
        c.starttls(starttls_ctx)
        imap_step(c, want, "capability", "", "", b"a3", b"CAPABILITY")
    if sasl:
        c.send(b"a4 AUTHENTICATE PLAIN\r\n")
        assert c.readline().startswith(b"+")
        c.send(plain_blob("alice", pw) + b"\r\n")
        st = imap_read_tagged(c, b"a4")
        want.append(("authenticate", "PLAIN", "alice", *c.mark(), "ok"))
    else:
        st = imap_step(c, want, "login", "alice *****", "alice", b"a4",
                       b'LOGIN alice "' + pw.encode() + b'"')
    assert st.startswith(b"a4 OK"), st
    imap_step(c, want, "select", "INBOX", "alice", b"a5", b"SELECT INBOX")
    imap_step(c, want, "fetch", "1 (FLAGS BODY.PEEK[])", "alice", b"a6",
              b"FETCH 1 (FLAGS BODY.PEEK[])")
    imap_step(c, want, "uid+fetch", "1:* (UID RFC822.SIZE)", "alice", b"a7",
              b"UID FETCH 1:* (UID RFC822.SIZE)")
    st = imap_step(c, want, "select", "nosuchbox", "alice", b"a8",
                   b"SELECT nosuchbox", res=None)
    want[-1] = want[-1][:5] + (st.decode().rstrip("\r\n"),)
    imap_step(c, want, "logout", "", "alice", b"a9", b"LOGOUT")
    c.close()
    return want


@pytest.mark.parametrize("proto", ["pop3", "imap"])
@pytest.mark.parametrize("mode", ["implicit", "starttls"])
@pytest.mark.parametrize("sasl", [False, True], ids=["password", "sasl"])
def test_scripted_session_over_tls(start_postern, dovecot, cert, logdir,
                                   proto, mode, sasl):
    p = start_postern(log_conf(logdir))
    ctx = client_context(cert[0])
    pw = dovecot.users["alice"]
    if mode == "implicit":
        port = p.ports[proto + "s"]
        c = Counted(port, tls_ctx=ctx)
        version = c.sock.version()
    else:
        port = p.ports[proto]
        c = Counted(port)
    cip = c.cip()
    script = pop3_script if proto == "pop3" else imap_script
    want = script(c, pw, starttls_ctx=ctx if mode == "starttls" else None,
                  sasl=sasl)
    if mode == "starttls":
        version = c.version
    rows = session_rows(logdir, cip)

    if mode == "implicit":
        def tls(i):
            return "implicit:" + version
    else:
        # The rows up to the STARTTLS command's own were in the clear.
        def tls(i):
            return "none" if i <= 2 else "STARTTLS:" + version
    assert version.startswith("TLSv1.")
    check_session(rows, want, "127.0.0.1:%d" % port, cip, tls)
    # Every byte is in exactly one row.
    assert sum(int(r["rqsize"]) for r in rows) == c.total_sent
    assert sum(int(r["rpsize"]) for r in rows) == c.total_got
    login = [r for r in rows if r["command"] in
             ("pass", "auth", "login", "authenticate")][0]
    assert ctx_value(login["context"], "Msg") == \
        "Proxy:127.0.0.1:%d:Plaintext;ProxySuccess" % dovecot.ports[proto]
    assert ctx_value(login["context"], "ErrMsg") is None
    # Only the rows before login lack the user.
    i = rows.index(login)
    assert all(r["user"] == "" for r in rows[:i - (proto == "pop3"
                                                  and not sasl)])
    assert all(r["user"] == "alice" for r in rows[i:])
    if proto == "pop3":
        retr99 = [r for r in rows if r["parameters"] == " 99"][0]
        assert ctx_value(retr99["context"], "R").startswith("-ERR")
    assert_no_secrets(all_files(logdir, p), [("alice", pw)])


def test_failed_logins_leave_no_secret(start_postern, dovecot, cert, logdir):
    """Wrong passwords, a LOGIN literal, SASL sent at the wrong time: none
    of it reaches a file."""
    p = start_postern(log_conf(logdir))
    ctx = client_context(cert[0])
    pw = dovecot.users["bob"]
    wrong = "wrong-" + pw
    # Each connection from an address of its own: Dovecot delays every
    # login from an address that failed before (auth_penalty, up to 15 s),
    # and the failures of the tests before this one would add up to more
    # than the pre-login time.
    c = Counted(p.ports["pop3s"], tls_ctx=ctx, source=fresh_source())
    c.readline()
    c.cmd(b"USER bob")
    assert c.cmd(b"PASS " + wrong.encode()).startswith(b"-ERR")
    assert c.cmd(b"AUTH PLAIN " + plain_blob("bob", wrong)).startswith(
        b"-ERR")
    # A blob on its own line is no command: logged masked.
    c.cmd(plain_blob("bob", pw))
    c.cmd(b"QUIT")
    pcip = c.cip()
    c.close()
    rows = session_rows(logdir, pcip)
    assert [r["command"] for r in rows] == [
        "OpenSession", "user", "pass", "auth", "InvalidCommand", "quit",
        "CloseSession"]
    assert rows[2]["parameters"] == " *****"
    assert ctx_value(rows[2]["context"], "ErrMsg") == "AuthFailed:LogonDenied"
    assert ctx_value(rows[2]["context"], "Reason") == "ProxyNotAuthenticated"
    assert rows[3]["parameters"] == " PLAIN"
    assert rows[4]["parameters"].endswith("*****")
    assert all(r["user"] in ("", "bob") for r in rows)
    c = Counted(p.ports["imap"], source=fresh_source())
    c.readline()
    c.send(b"x1 LOGIN bob {%d}\r\n" % len(wrong))
    assert c.readline().startswith(b"+")
    c.send(wrong.encode() + b"\r\n")
    assert imap_read_tagged(c, b"x1").startswith(b"x1 NO")
    c.send(b"x2 AUTHENTICATE PLAIN " + plain_blob("bob", wrong) + b"\r\n")
    assert imap_read_tagged(c, b"x2").startswith(b"x2 NO")
    c.send(b"x3 LOGIN bob \"" + pw.encode() + b"\"\r\n")
    assert imap_read_tagged(c, b"x3").startswith(b"x3 OK")
    c.send(b"x4 LOGOUT\r\n")
    imap_read_tagged(c, b"x4")
    cip = c.cip()
    c.close()
    rows = session_rows(logdir, cip)
    assert [r["command"] for r in rows] == [
        "OpenSession", "login", "authenticate", "login", "logout",
        "CloseSession"]
    assert rows[1]["parameters"] == "bob *****"
    assert ctx_value(rows[1]["context"], "ErrMsg") == "AuthFailed:LogonDenied"
    assert ctx_value(rows[1]["context"], "Reason") == "ProxyNotAuthenticated"
    assert rows[2]["parameters"] == "PLAIN"
    time.sleep(1.5)
    for r in read_logs(logdir):
        if r["command"] == "InvalidCommand":
            assert r["parameters"].endswith("*****")
    assert_no_secrets(all_files(logdir, p), [("bob", pw), ("bob", wrong)])


# --- the access policy ---------------------------------------------------

def test_policy_errmsg_in_rows(start_postern, dovecot, logdir, tmp_path):
    gf = tmp_path / "groups"
    gf.write_text("POP3 Access: alice\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(gf, 0o644)
    conf = log_conf(logdir)
    conf["groups"] = {"file": str(gf)}
    conf["pop3"]["required_group"] = "POP3 Access"
    conf['rule "no lab"'] = {"priority": "10", "action": "deny",
                             "client_ips": "127.0.0.60-127.0.0.61"}
    p = start_postern(conf)
    for proto in ("pop3", "imap"):
        s = socket.create_connection(
            ("127.0.0.1", p.ports[proto]), timeout=20,
            source_address=("127.0.0.60", 0))
        cip = "%s:%d" % s.getsockname()[:2]
        while s.recv(4096):
            pass
        s.close()
        rows = session_rows(logdir, cip)
        assert rows[0]["command"] == "OpenSession"
        assert rows[-1]["command"] == "CloseSession"
        assert any(ctx_value(r["context"], "ErrMsg") ==
                   "AccessRuleDenied:no lab" for r in rows), rows
    pw = dovecot.users["bob"]
    c = Counted(p.ports["pop3"])
    c.readline()
    c.cmd(b"USER bob")
    assert c.cmd(b"PASS " + pw.encode()).startswith(b"-ERR")
    c.cmd(b"QUIT")
    cip = c.cip()
    c.close()
    rows = session_rows(logdir, cip)
    passrow = [r for r in rows if r["command"] == "pass"][0]
    assert passrow["user"] == "bob"
    assert passrow["parameters"] == " *****"
    assert ctx_value(passrow["context"], "ErrMsg") == "AuthFailed:LogonDenied"
    assert ctx_value(passrow["context"], "Reason") == "NotInGroup:POP3 Access"
    assert "ProxySuccess" not in passrow["context"]
    assert_no_secrets(all_files(logdir, p), [("bob", pw)])


# --- log_detail = proxy ----------------------------------------------------

@pytest.mark.parametrize("proto", ["pop3", "imap"])
def test_proxy_detail(start_postern, dovecot, logdir, proto):
    p = start_postern(log_conf(logdir, log_detail="proxy"))
    pw = dovecot.users["alice"]
    c = Counted(p.ports[proto])
    c.readline()
    if proto == "pop3":
        c.cmd(b"USER alice")
        assert c.cmd(b"PASS " + pw.encode()).startswith(b"+OK")
        pre = c.total_sent, c.total_got
        c.send(b"RETR 1\r\n")
        c.readline()
        while c.readline() != b".\r\n":
            pass
        c.cmd(b"QUIT")
        logincmd = "pass"
    else:
        c.send(b'a1 LOGIN alice "' + pw.encode() + b'"\r\n')
        assert imap_read_tagged(c, b"a1").startswith(b"a1 OK")
        pre = c.total_sent, c.total_got
        for tag, text in ((b"a2", b"SELECT INBOX"),
                          (b"a3", b"FETCH 1:2 (BODY.PEEK[])"),
                          (b"a4", b"LOGOUT")):
            c.send(tag + b" " + text + b"\r\n")
            imap_read_tagged(c, tag)
        logincmd = "login"
    # The server closes after QUIT/LOGOUT: read to the end so every
    # relayed byte is counted.
    rest = c.read_until_close()
    cip = c.cip()
    c.close()
    rows = session_rows(logdir, cip)
    cmds = [r["command"] for r in rows]
    i = cmds.index(logincmd)
    assert set(cmds[i + 1:-1]) == {"proxy"}, cmds
    proxy = rows[i + 1:-1]
    enc = "127.0.0.1:%d:Plaintext" % dovecot.ports[proto]
    for r in proxy:
        assert r["parameters"] == enc
        assert r["duration"] == "0"
        assert r["user"] == "alice"
    assert sum(int(r["rqsize"]) for r in proxy) == c.total_sent - pre[0]
    assert sum(int(r["rpsize"]) for r in proxy) == \
        c.total_got + len(rest) - pre[1]
    assert sum(int(r["rpsize"]) for r in proxy) > len(dovecot.message(1))


# --- reload ----------------------------------------------------------------

def pop3_login_session(p, pw):
    c = Counted(p.ports["pop3"])
    c.readline()
    c.cmd(b"USER alice")
    assert c.cmd(b"PASS " + pw.encode()).startswith(b"+OK")
    c.cmd(b"QUIT")
    cip = c.cip()
    c.close()
    return cip


def test_reload_switches_logging(start_postern, dovecot, logdir):
    a, b = os.path.join(logdir, "a"), os.path.join(logdir, "b")
    os.mkdir(a)
    os.mkdir(b)
    p = start_postern()
    pw = dovecot.users["alice"]
    reloads = [0]

    def reload(conf):
        p.reload(conf)
        reloads[0] += 1
        p.wait_log(r"reload: configuration .* loaded", count=reloads[0])

    off = pop3_login_session(p, pw)
    reload(log_conf(a))
    on_a = pop3_login_session(p, pw)
    rows = session_rows(a, on_a)
    assert [r["command"] for r in rows][-3:] == ["pass", "quit",
                                                  "CloseSession"]
    reload(log_conf(b))
    on_b = pop3_login_session(p, pw)
    session_rows(b, on_b)
    reload({"pop3": {"protocol_log_enabled": "no"},
            "imap": {"protocol_log_enabled": "no"}})
    off2 = pop3_login_session(p, pw)
    # Rows reach their file within a second.
    time.sleep(2)
    ra, rb = read_logs(a), read_logs(b)
    assert {r["cIp"] for r in ra} == {on_a}
    assert {r["cIp"] for r in rb} == {on_b}
    assert off not in {r["cIp"] for r in ra + rb}
    assert off2 not in {r["cIp"] for r in ra + rb}
    reload(log_conf(a))
    again = pop3_login_session(p, pw)
    session_rows(a, again)
    assert_no_secrets(all_files(logdir, p), [("alice", pw)])


# --- a log directory that becomes read-only --------------------------------

def test_read_only_directory(start_postern, dovecot, logdir):
    """Sessions go on while nothing can be written; the daemon log says
    rows were lost, and how many once writing works again."""
    conf = log_conf(logdir, log_per_file_size_quota="4096",
                    log_file_rollover_settings="Hourly")
    root = os.geteuid() == 0
    if root:
        # root writes anywhere: let permissions bite on an ordinary user.
        conf["postern"] = {"user": "nobody"}
    p = start_postern(conf, start=False)
    os.chmod(logdir, 0o755)
    if root:
        # Where a sanitizer report of the unprivileged daemon can go.
        os.chmod(p.dir, 0o733)
    p.start()
    pw = dovecot.users["alice"]
    msg1 = dovecot.message(1)
    pop = os.path.join(logdir, "Pop3")

    def session():
        c = Counted(p.ports["pop3"])
        c.readline()
        c.cmd(b"USER alice")
        assert c.cmd(b"PASS " + pw.encode()).startswith(b"+OK")
        c.send(b"RETR 1\r\n")
        assert c.readline().startswith(b"+OK")
        body = b""
        while True:
            line = c.readline()
            if line == b".\r\n":
                break
            body += line[1:] if line.startswith(b"..") else line
        assert body == msg1
        assert c.cmd(b"QUIT").startswith(b"+OK")
        cip = c.cip()
        c.close()
        return cip

    first = session()
    session_rows(logdir, first)
    if root:
        assert os.stat(pop).st_uid == pwd.getpwnam("nobody").pw_uid
    os.chmod(pop, 0o555)
    for f in glob.glob(os.path.join(pop, "*")):
        os.chmod(f, 0o444)
    try:
        # Enough rows to pass the per-file quota: a new file is needed
        # and cannot be created.
        during = [session() for _ in range(12)]
        p.wait_log(r"POP3 protocol log: cannot open %s/POP3\d+-\d+\.LOG: "
                   r"Permission denied" % re.escape(pop))
        # IMAP, whose directory stayed writable, is unaffected.
        c = Counted(p.ports["imap"])
        c.readline()
        c.send(b'a1 LOGIN alice "' + pw.encode() + b'"\r\n')
        assert imap_read_tagged(c, b"a1").startswith(b"a1 OK")
        c.send(b"a2 LOGOUT\r\n")
        imap_read_tagged(c, b"a2")
        icip = c.cip()
        c.close()
        session_rows(logdir, icip)
    finally:
        os.chmod(pop, 0o755)
    after = session()
    p.wait_log(r"POP3 protocol log: writing again to %s/POP3\d+-\d+\.LOG; "
               r"\d+ rows lost since the last report, \d+ in all"
               % re.escape(pop))
    session_rows(logdir, after)
    # What the warning told and what the notice adds.
    lost = sum(int(n) for n in re.findall(
        r"POP3 protocol log: .*?(\d+) rows lost since the last report",
        p.log()))
    rows = read_logs(logdir)
    assert lost > 0
    # The count is exact: each session of the outage has six rows
    # (OpenSession, user, pass, retr, quit, CloseSession), and those not
    # in a file are the ones lost.
    kept = sum(1 for r in rows if r["cIp"] in during)
    assert kept < 6 * len(during)
    assert lost == 6 * len(during) - kept
    for cip in (first, after):
        assert [r["command"] for r in rows if r["cIp"] == cip] == [
            "OpenSession", "user", "pass", "retr", "quit", "CloseSession"]
    # Nothing half-written: every file still parses (read_logs checks).
    assert_no_secrets(all_files(logdir, p), [("alice", pw)])


# --- a full disk -------------------------------------------------------------------

def fill(path):
    """Writes path until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == 28, e  # ENOSPC


def preauth_sessions(port, n):
    """n short POP3 sessions: greeting, CAPA, QUIT, each closed by the
    server; the same rows each time."""
    for _ in range(n):
        c = LineClient(port)
        assert c.readline().startswith(b"+OK")
        assert c.cmd(b"CAPA").startswith(b"+OK")
        while c.readline() != b".\r\n":
            pass
        assert c.cmd(b"QUIT").startswith(b"+OK")
        c.read_until_close(10)
        c.close()


def count_rows(base):
    return len(read_logs(base, check=False))


def test_rows_lost_to_a_full_disk_are_all_reported(start_postern, logdir):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the log directory needs "
                    "root")
    mnt = os.path.join(logdir, "Pop3")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755",
                        "tmpfs", mnt], stderr=subprocess.PIPE)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.decode())
    try:
        p = start_postern({"pop3": {"protocol_log_enabled": "yes",
                                    "log_file_location": mnt},
                           "imap": {"protocol_log_enabled": "no"}})
        port = p.ports["pop3"]
        filler = os.path.join(mnt, "filler")
        # Room: how many rows one session writes.
        preauth_sessions(port, 4)
        per = wait_for(lambda: count_rows(logdir) // 4 if
                       count_rows(logdir) % 4 == 0 and
                       count_rows(logdir) > 0 else None,
                       10, "the rows of 4 sessions")
        time.sleep(0.5)
        assert count_rows(logdir) == 4 * per
        sessions = 4
        # Full, room again, full again, and the stop.
        fill(filler)
        preauth_sessions(port, 30)
        sessions += 30
        time.sleep(0.5)
        assert count_rows(logdir) < sessions * per, "no row was lost"
        os.unlink(filler)
        time.sleep(0.3)
        preauth_sessions(port, 10)
        sessions += 10
        time.sleep(0.5)
        kept = count_rows(logdir)
        fill(filler)
        preauth_sessions(port, 30)
        sessions += 30
        time.sleep(0.5)
        assert count_rows(logdir) < kept + 30 * per, "no row was lost"
        assert p.stop() == 0
        missing = sessions * per - count_rows(logdir)
        log = p.log()
        counts = [int(n) for n in re.findall(
            r"POP3 protocol log: .*?(\d+) rows lost since the last "
            r"report, \d+ in all", log)]
        alls = re.findall(r"POP3 protocol log: at exit: \d+ rows lost "
                          r"since the last report, (\d+) in all", log)
        assert "No space left on device" in log, log
        assert "dropped" not in log, log
        assert sum(counts) == missing, (missing, counts, log)
        assert alls == [str(missing)], log
    finally:
        subprocess.run(["umount", "-l", mnt])
