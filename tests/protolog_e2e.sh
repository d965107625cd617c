#!/bin/bash
# protolog end to end: POP3 and IMAP4 sessions through postern to a private
# Dovecot, then the protocol-log files checked row by row against what the
# clients sent and received.  Exit 77 (skipped) without dovecot or python3.
#
# Run by "make check" from the build directory; POSTERN may name the binary.

set -u
POSTERN=${POSTERN:-./postern}
command -v dovecot >/dev/null 2>&1 || { echo "dovecot not installed"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed"; exit 77; }
[ -x "$POSTERN" ] || { echo "no $POSTERN"; exit 77; }

D=$(mktemp -d "${TMPDIR:-/tmp}/postern-e2e.XXXXXX")
chmod 755 "$D"
DOVECOT_PID=
POSTERN_PID=
cleanup() {
	[ -n "$POSTERN_PID" ] && kill "$POSTERN_PID" 2>/dev/null
	if [ -n "$DOVECOT_PID" ]; then
		kill "$DOVECOT_PID" 2>/dev/null
		sleep 0.3
	fi
	rm -rf "$D"
}
trap cleanup EXIT

# Free loopback ports: dovecot pop3, imap; postern pop3, imap.
read -r DPOP DIMAP PPOP PIMAP <<EOF
$(python3 -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
EOF

ALICE_PW='Al1ce-pw-Zq7wX'
BOB_PW='b0b-Secret-Vv9'

# --- a private Dovecot ---------------------------------------------------
MAILUID=$(id -u nobody 2>/dev/null || echo 65534)
MAILGID=$(id -g nobody 2>/dev/null || echo 65534)
mkdir -p "$D/dovecot/run" "$D/mail"
printf 'alice:{PLAIN}%s\nbob:{PLAIN}%s\n' "$ALICE_PW" "$BOB_PW" \
	>"$D/dovecot/passwd"
cat >"$D/dovecot/dovecot.conf" <<EOF
base_dir = $D/dovecot/run
state_dir = $D/dovecot/state
log_path = $D/dovecot/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/dovecot/passwd
}
userdb {
  driver = static
  args = uid=$MAILUID gid=$MAILGID home=$D/mail/%u
}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
service imap-login {
  inet_listener imap {
    port = $DIMAP
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $DPOP
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
service pop3-login {
  chroot =
}
EOF
for u in alice bob; do
	mkdir -p "$D/mail/$u/Maildir/new" "$D/mail/$u/Maildir/cur" \
		"$D/mail/$u/Maildir/tmp"
done
# Two messages: one with lines that must be dot-stuffed, one larger.
printf 'From: a@example.org\r\nSubject: one\r\n\r\nfirst line\r\n.\r\n..two dots\r\n.x\r\nend\r\n' \
	>"$D/mail/alice/Maildir/new/1.e2e"
python3 -c '
import sys
body = "".join("line %05d of a larger message, some text to fill it\r\n" % i
               for i in range(3000))
sys.stdout.write("From: b@example.org\r\nSubject: two\r\n\r\n" + body)' \
	>"$D/mail/alice/Maildir/new/2.e2e"
chown -R "$MAILUID:$MAILGID" "$D/mail"

dovecot -F -c "$D/dovecot/dovecot.conf" >"$D/dovecot/stdout" 2>&1 &
DOVECOT_PID=$!

wait_port() {
	for _ in $(seq 100); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
wait_port "$DPOP" && wait_port "$DIMAP" || {
	echo "dovecot did not start"; cat "$D/dovecot/stdout" "$D/dovecot/dovecot.log" 2>/dev/null
	exit 77
}

# --- postern -----------------------------------------------------------
cat >"$D/postern.ini" <<EOF
[postern]
workers = 2
log_level = info

# Its growing delays would hold bob's second wrong password past the
# clients' timeouts; this script checks the rows, test_throttle.py the
# throttle.
[throttle]
enabled = no

[pop3]
unencrypted_or_tls_bindings = 127.0.0.1:$PPOP
ssl_bindings =
backend = 127.0.0.1:$DPOP
login_type = PlainTextLogin
protocol_log_enabled = yes
log_file_location = $D/logs/Pop3

[imap]
unencrypted_or_tls_bindings = 127.0.0.1:$PIMAP
ssl_bindings =
backend = 127.0.0.1:$DIMAP
login_type = PlainTextLogin
protocol_log_enabled = yes
log_file_location = $D/logs/Imap4
EOF

fail() { echo "FAIL: $*"; cat "$D/postern.log" 2>/dev/null | tail -20; exit 1; }

# -t creates the log directories and checks them.
"$POSTERN" -t -c "$D/postern.ini" || fail "postern -t"
[ -d "$D/logs/Pop3" ] && [ -d "$D/logs/Imap4" ] || fail "-t did not create the log directories"
"$POSTERN" -T -c "$D/postern.ini" | grep -q '^ProtocolLogEnabled *: True' ||
	fail "-T does not show ProtocolLogEnabled"

# An unwritable directory is a configuration error with file:line.
if [ "$(id -u)" -ne 0 ]; then
	mkdir -p "$D/ro" && chmod 555 "$D/ro"
	sed "s|log_file_location = $D/logs/Pop3|log_file_location = $D/ro/x|" \
		"$D/postern.ini" >"$D/bad.ini"
	"$POSTERN" -t -c "$D/bad.ini" 2>"$D/bad.err" && fail "-t accepted an unwritable directory"
	grep -q "bad.ini:[0-9]*: \[pop3\] log_file_location" "$D/bad.err" ||
		fail "no file:line for an unwritable directory: $(cat "$D/bad.err")"
fi

"$POSTERN" -c "$D/postern.ini" >"$D/postern.log" 2>&1 &
POSTERN_PID=$!
wait_port "$PPOP" && wait_port "$PIMAP" || fail "postern did not start"

# --- the sessions, and the checks ------------------------------------------
export D PPOP PIMAP ALICE_PW BOB_PW POSTERN_PID
python3 - <<'PYEOF' || fail "sessions"
import json, os, socket, time

D = os.environ["D"]
out = {"pop3": [], "imap": []}

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), 5)
        self.buf = b""
        self.sent = 0
        self.got = 0

    def send(self, data):
        self.s.sendall(data)
        self.sent += len(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while b"\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\n") + 1
        l, self.buf = self.buf[:i], self.buf[i:]
        self.got += len(l)
        return l

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        self.got += n
        return d

    def mark(self):
        r = (self.sent, self.got)
        self.sent = self.got = 0
        return r

def pop3_session(user, pw, cmds):
    """Each command with the bytes it sent and received."""
    c = Conn(int(os.environ["PPOP"]))
    c.line()
    rec = [("OpenSession", 0, c.mark()[1])]
    for cmd, multi in cmds:
        c.send(cmd + b"\r\n")
        st = c.line()
        if multi and st.startswith(b"+OK"):
            while c.line() != b".\r\n":
                pass
        q, p = c.mark()
        name = cmd.split(b" ")[0].decode().lower()
        if name not in ("capa", "user", "pass", "stat", "list", "uidl",
                        "retr", "top", "noop", "quit", "dele"):
            name = "InvalidCommand"
        rec.append((name, q, p))
    c.s.close()
    return rec

out["pop3"].append(pop3_session("alice", os.environ["ALICE_PW"], [
    (b"CAPA", True), (b"USER alice", False),
    (b"PASS " + os.environ["ALICE_PW"].encode(), False),
    (b"STAT", False), (b"LIST", True), (b"UIDL", True), (b"LIST 1", False),
    (b"RETR 1", True), (b"RETR 2", True), (b"TOP 2 3", True),
    (b"RETR 9", True), (b"NOOP", False), (b"QUIT", False)]))
out["pop3"].append(pop3_session("bob", "wrong", [
    (b"USER bob", False), (b"PASS wrong-" + os.environ["BOB_PW"].encode(), False),
    (b"FOO bar", False), (b"QUIT", False)]))

# POP3 pipelining: three commands in one write.
c = Conn(int(os.environ["PPOP"]))
c.line()
c.send(b"USER alice\r\n"); c.line()
c.send(b"PASS " + os.environ["ALICE_PW"].encode() + b"\r\n"); c.line()
c.mark()
c.send(b"STAT\r\nRETR 1\r\nNOOP\r\n")
c.line()
while c.line() != b".\r\n":
    pass
c.line()
c.send(b"QUIT\r\n"); c.line()
c.s.close()

def imap_session():
    c = Conn(int(os.environ["PIMAP"]))
    c.line()
    rec = [("OpenSession", 0, c.mark()[1])]

    def cmd(tag, text, name, literal=None):
        if literal is None:
            c.send(b"%s %s\r\n" % (tag, text))
        else:
            c.send(b"%s %s {%d}\r\n" % (tag, text, len(literal)))
            assert c.line().startswith(b"+")
            c.send(literal + b"\r\n")
        while True:
            l = c.line()
            if l.startswith(tag + b" "):
                break
            if l.rstrip(b"\r\n").endswith(b"}") and b"{" in l:
                n = int(l.rstrip(b"\r\n").rsplit(b"{", 1)[1][:-1].rstrip(b"+"))
                c.exact(n)
        q, p = c.mark()
        rec.append((name, q, p, l.split(b" ")[1].decode()))

    cmd(b"a1", b"CAPABILITY", "capability")
    cmd(b"a2", b'ID ("name" "e2e-client" "version" "1.2")', "id")
    cmd(b"a3", b"LOGIN alice \"%s\"" % os.environ["ALICE_PW"].encode(), "login")
    cmd(b"a4", b"SELECT INBOX", "select")
    cmd(b"a5", b"FETCH 1:* (FLAGS BODY.PEEK[])", "fetch")
    cmd(b"a6", b"UID FETCH 1:* (UID RFC822.SIZE)", "uid+fetch")
    cmd(b"a7", b"APPEND INBOX", "append",
        literal=b"Subject: appended\r\n\r\nhello\r\n")
    cmd(b"a8", b"SELECT nosuchbox", "select")
    # IDLE, then DONE.
    c.send(b"a9 IDLE\r\n")
    assert c.line().startswith(b"+")
    q, p = c.mark()
    rec.append(("idle", q, p, "OK"))
    c.send(b"DONE\r\n")
    assert c.line().startswith(b"a9 OK")
    q, p = c.mark()
    rec.append(("done", q, p, "OK"))
    # Pipelined: two commands in one write, answers matched by tag.
    c.send(b"b1 NOOP\r\nb2 STATUS INBOX (MESSAGES)\r\n")
    while not c.line().startswith(b"b2 "):
        pass
    # Their bytes are checked in sum: the client cannot tell them apart.
    q, p = c.mark()
    rec.append(("noop", None, None, "OK"))
    rec.append(("status", q, p, "OK"))
    cmd(b"z", b"LOGOUT", "logout")
    c.s.close()
    return rec

out["imap"].append(imap_session())

# A failed IMAP login.
c = Conn(int(os.environ["PIMAP"]))
c.line()
c.send(b"x1 LOGIN bob {%d}\r\n" % len("nope-" + os.environ["BOB_PW"]))
c.line()
c.send(("nope-" + os.environ["BOB_PW"]).encode() + b"\r\n")
while not c.line().startswith(b"x1 "):
    pass
c.send(b"x2 LOGOUT\r\n")
while not c.line().startswith(b"x2 "):
    pass
c.s.close()

# Standard clients too.
import poplib, imaplib
p = poplib.POP3("127.0.0.1", int(os.environ["PPOP"]), timeout=5)
p.user("alice"); p.pass_(os.environ["ALICE_PW"]); p.stat(); p.retr(1); p.quit()
m = imaplib.IMAP4("127.0.0.1", int(os.environ["PIMAP"]), timeout=5)
m.login("alice", os.environ["ALICE_PW"]); m.select("INBOX")
m.fetch("1", "(BODY.PEEK[])"); m.logout()

with open(os.path.join(D, "expect.json"), "w") as f:
    json.dump(out, f)
PYEOF

# curl, when there is one.
if command -v curl >/dev/null 2>&1; then
	curl -s -u "alice:$ALICE_PW" "pop3://127.0.0.1:$PPOP/1" >/dev/null || fail "curl pop3"
	curl -s -u "alice:$ALICE_PW" "imap://127.0.0.1:$PIMAP/INBOX;UID=1" >/dev/null ||
		fail "curl imap"
fi

# Stopping flushes the rows.
kill -TERM "$POSTERN_PID"
wait "$POSTERN_PID"
rc=$?
POSTERN_PID=
[ "$rc" -eq 0 ] || fail "postern exited with status $rc"
# Built with --enable-sanitizers, the daemon reports here.
grep -E "Sanitizer|runtime error" "$D/postern.log" && fail "sanitizer report"

[ -n "${E2E_SHOW:-}" ] && cat "$D"/logs/*/*
python3 - <<'PYEOF' || fail "log checks"
import csv, glob, io, json, os, re, sys

D = os.environ["D"]
exp = json.load(open(os.path.join(D, "expect.json")))
FIELDS = ("dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"
          "command,parameters,context,puid")
errors = []

def check(cond, msg):
    if not cond:
        errors.append(msg)

def read(proto, logtype, prefix):
    # Besides the logs, only the running instance's lock file.
    files = sorted(f for f in glob.glob(os.path.join(D, "logs", proto, "*"))
                   if os.path.basename(f) != "postern.lock")
    check(len(files) >= 1, "%s: no files" % proto)
    rows = []
    for f in files:
        name = os.path.basename(f)
        check(re.match(r"^%s\d{10}-\d+\.LOG$" % prefix, name),
              "%s: file name %s" % (proto, name))
        raw = open(f, "rb").read()
        check(not raw.startswith(b"\xef\xbb\xbf"), "%s: BOM" % name)
        lines = raw.split(b"\r\n")
        check(lines[0].decode() == FIELDS, "%s: first line" % name)
        check(lines[1].startswith(b"#Software: "), "%s: #Software" % name)
        check(lines[2].startswith(b"#Version: "), "%s: #Version" % name)
        check(lines[3].decode() == "#Log-type: " + logtype, "%s: #Log-type" % name)
        check(re.match(rb"^#Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", lines[4]),
              "%s: #Date" % name)
        check(lines[5].decode() == "#Fields: " + FIELDS, "%s: #Fields" % name)
        check(raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b""),
              "%s: CRLF line ends" % name)
        # Python's csv reads every file with its first line as the header.
        for r in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
            if r["dateTime"].startswith("#"):
                continue
            check(None not in r and len(r) == 13, "%s: 13 fields: %r" % (name, r))
            rows.append(r)
    sessions = {}
    for r in rows:
        sessions.setdefault(r["sessionId"], []).append(r)
    for sid, rs in sessions.items():
        rs.sort(key=lambda r: int(r["seqNumber"]))
        check([int(r["seqNumber"]) for r in rs] == list(range(len(rs))),
              "%s %s: sequence numbers %r" % (proto, sid, [r["seqNumber"] for r in rs]))
        check(rs[0]["command"] == "OpenSession", "%s %s: first row" % (proto, sid))
        check(rs[-1]["command"] == "CloseSession", "%s %s: last row" % (proto, sid))
        check(re.match(r"^[0-9A-F]{16}$", sid), "session id %s" % sid)
        for r in rs:
            check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["dateTime"]),
                  "dateTime %s" % r["dateTime"])
            check("Tls=none" in r["context"], "%s: no Tls key: %r" % (proto, r))
    return sessions

def ctx(r):
    return r["context"]

def match(proto, sessions, want, user):
    """The session whose commands are want's, sizes compared exactly."""
    names = [w[0] for w in want] + ["CloseSession"]
    for sid, rs in sessions.items():
        if [r["command"] for r in rs] == names and rs[-2]["user"] == user:
            for i, (w, r) in enumerate(zip(want, rs)):
                if w[1] is None:
                    # Pipelined: only the sum with the next row is known.
                    w = (w[0], w[1], w[2])
                    nxt = rs[i + 1]
                    want[i + 1] = (want[i + 1][0],
                                   want[i + 1][1] - int(r["rqsize"]),
                                   want[i + 1][2] - int(r["rpsize"]))
                    continue
                check(int(r["rqsize"]) == w[1],
                      "%s %s %s: rqsize %s, client sent %d" % (proto, sid, w[0], r["rqsize"], w[1]))
                check(int(r["rpsize"]) == w[2],
                      "%s %s %s: rpsize %s, client got %d" % (proto, sid, w[0], r["rpsize"], w[2]))
            return rs
    errors.append("%s: no session with commands %r; have %r" % (
        proto, names, [[r["command"] for r in rs] for rs in sessions.values()]))
    return None

pop = read("Pop3", "POP3 Log", "POP3")
imap = read("Imap4", "IMAP4 Log", "IMAP4")

rs = match("pop3", pop, exp["pop3"][0], "alice")
if rs:
    by = {}
    for r in rs:
        by.setdefault(r["command"], []).append(r)
    check(by["capa"][0]["context"].startswith("R=ok"), "capa R")
    check(by["user"][0]["parameters"] == " alice", "user parameters %r" % by["user"][0]["parameters"])
    check(by["user"][0]["user"] == "alice", "user column on the user row")
    p = by["pass"][0]
    check(p["parameters"] == " *****", "pass parameters %r" % p["parameters"])
    port = os.environ.get("DPOP")
    check("Msg=\"Proxy:127.0.0.1:" in ctx(p) and "Plaintext;ProxySuccess\"" in ctx(p),
          "pass Msg: %r" % ctx(p))
    check(by["retr"][2]["context"].startswith("R=\"-ERR"), "retr 9 R: %r" % by["retr"][2]["context"])
    check(by["retr"][0]["parameters"] == " 1", "retr parameters")
    check(by["top"][0]["parameters"] == " 2 3", "top parameters")
    for r in rs[1:-1]:
        check(r["user"] == "alice" or r["command"] == "capa",
              "user column %r on %s" % (r["user"], r["command"]))
rs = match("pop3", pop, exp["pop3"][1], "bob")
if rs:
    p = rs[2]
    check("Reason=ProxyNotAuthenticated;" in ctx(p)
          and ctx(p).endswith(";ErrMsg=AuthFailed:LogonDenied"),
          "failed pass: %r" % ctx(p))
    check("ProxySuccess" not in ctx(p), "failed pass says ProxySuccess")
    check(rs[3]["command"] == "InvalidCommand" and rs[3]["parameters"] == "FOO *****",
          "invalid command row %r" % rs[3])
# The pipelined session: rows for STAT, RETR, NOOP in order.
found = False
for rs in pop.values():
    cmds = [r["command"] for r in rs]
    if cmds[:] == ["OpenSession", "user", "pass", "stat", "retr", "noop", "quit", "CloseSession"]:
        found = all(r["context"].startswith("R=ok") for r in rs[3:7])
check(found, "no pipelined POP3 session with ok rows")

rs = match("imap", imap, [tuple(w[:3]) for w in exp["imap"][0]], "alice")
if rs:
    by = {}
    for r in rs:
        by.setdefault(r["command"], []).append(r)
    l = by["login"][0]
    check(l["parameters"] == "alice *****", "login parameters %r" % l["parameters"])
    check("ProxySuccess" in ctx(l), "login Msg %r" % ctx(l))
    check("ClientName=e2e-client" in ctx(l) and "ClientVersion=1.2" in ctx(l),
          "login ClientName %r" % ctx(l))
    check(by["id"][0]["parameters"] == '"("name" "e2e-client" "version" "1.2")"'.strip('"')
          or by["id"][0]["parameters"] == '("name" "e2e-client" "version" "1.2")',
          "id parameters %r" % by["id"][0]["parameters"])
    check(by["select"][1]["context"].startswith("R=\"a8 NO"), "select NO R %r" % by["select"][1]["context"])
    check(by["append"][0]["parameters"].startswith("INBOX {"), "append parameters")
    check(by["fetch"][0]["context"].startswith("R=ok"), "fetch R")
    for name in ("idle", "done", "logout", "uid+fetch"):
        check(by[name][0]["context"].startswith("R=ok"), "%s R %r" % (name, by.get(name)))

# Pipelined IMAP commands matched to their tags.
ok = False
for rs in imap.values():
    cmds = [r["command"] for r in rs]
    if "noop" in cmds and "status" in cmds:
        i = cmds.index("noop")
        ok = cmds[i + 1] == "status" and rs[i]["context"].startswith("R=ok") \
            and rs[i + 1]["context"].startswith("R=ok")
check(ok, "pipelined noop/status rows")
# The failed IMAP login.
ok = False
for rs in imap.values():
    for r in rs:
        if r["command"] == "login" and r["user"] == "bob":
            ok = ("Reason=ProxyNotAuthenticated;" in ctx(r)
                  and ctx(r).endswith(";ErrMsg=AuthFailed:LogonDenied")
                  and r["parameters"] == "bob *****"
                  and ctx(r).startswith('R="x1 NO'))
check(ok, "failed IMAP login row")

# No password anywhere: not in the protocol logs, not in the daemon log.
secrets = [os.environ["ALICE_PW"], os.environ["BOB_PW"]]
for f in glob.glob(os.path.join(D, "logs", "*", "*")) + [os.path.join(D, "postern.log")]:
    data = open(f, "rb").read()
    for s in secrets:
        check(s.encode() not in data, "%s holds a password" % f)
    # The SASL PLAIN blobs of those passwords, as curl sends them.
    import base64
    for u, s in (("alice", secrets[0]),):
        check(base64.b64encode(b"\0" + u.encode() + b"\0" + s.encode()) not in data,
              "%s holds a SASL blob" % f)

if errors:
    print("\n".join(errors))
    sys.exit(1)
print("protolog e2e: %d POP3 and %d IMAP4 sessions checked" % (len(pop), len(imap)))
PYEOF
exit 0
