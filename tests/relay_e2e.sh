#!/bin/bash
# relay end to end: postern in front of a tiny fake POP3 backend, on plain
# and implicit-TLS client connections.
#
#  - a 50 MB message reaches a client that first does not read, then reads
#    slowly, then fast: byte for byte, while postern's RSS stays bounded
#    and the backend is held back (back-pressure);
#  - commands pipelined behind PASS are relayed after the login;
#  - the backend sends 8 MB and closes at once: the client still gets all
#    of it, then the end of the connection (flush, then close);
#  - the client sends QUIT and shuts down its sending side: the answer
#    still reaches it.
#
# Then again with an implicit-TLS backend (the fake one closes without
# close_notify) and the protocol log counting relayed bytes (log_detail =
# proxy), which also takes the direct pump.
#
# Exit 77 (skipped) without python3.  Run by "make check" from the build
# directory; POSTERN may name the binary.

set -u
POSTERN=${POSTERN:-./postern}
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed"; exit 77; }
[ -x "$POSTERN" ] || { echo "no $POSTERN"; exit 77; }

D=$(mktemp -d "${TMPDIR:-/tmp}/postern-relay.XXXXXX")
trap 'rm -rf "$D"' EXIT

TLS=yes
if ! command -v openssl >/dev/null 2>&1 ||
	! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
		-keyout "$D/key.pem" -out "$D/cert.pem" >/dev/null 2>&1; then
	echo "no openssl: the TLS half is skipped"
	TLS=no
fi

export D POSTERN TLS
python3 - <<'PYEOF'
import base64, hashlib, os, random, signal, socket, ssl, subprocess
import sys, threading, time

D = os.environ["D"]
POSTERN = os.environ["POSTERN"]
TLS = os.environ["TLS"] == "yes"

BIG = 50 * 1024 * 1024
BLAST = 8 * 1024 * 1024
# Back-pressure: postern may hold its buffers and the allocator's slack,
# never a sizeable part of the message.
RSS_GROWTH_MAX_KIB = 12 * 1024

def message(size, seed):
    """Base64 lines (never a leading dot), CRLF-terminated, size bytes."""
    raw = random.Random(seed).randbytes(size * 3 // 4 + 64)
    body = base64.encodebytes(raw).replace(b"\n", b"\r\n")[:size - 2]
    return body + b"\r\n"

BODY = message(BIG, 1)
BLAST_BODY = message(BLAST, 2)

def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports

BPORT, BTPORT, PPORT, SPORT = free_ports(4)

# --- the fake backend ------------------------------------------------------
progress = {"sent": 0}

def serve(conn, tls):
    if tls:
        try:
            conn = SCTX.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
    f = conn.makefile("rb")
    conn.sendall(b"+OK fake ready\r\n")
    while True:
        line = f.readline()
        if not line:
            break
        cmd = line.split(b" ", 1)[0].strip().upper()
        if cmd == b"CAPA":
            conn.sendall(b"+OK\r\nUSER\r\n.\r\n")
        elif cmd in (b"USER", b"XCLIENT", b"NOOP"):
            conn.sendall(b"+OK " + cmd.lower() + b"\r\n")
        elif cmd == b"PASS":
            conn.sendall(b"+OK logged in\r\n")
        elif cmd == b"RETR":
            conn.sendall(b"+OK %d octets\r\n" % len(BODY))
            progress["sent"] = 0
            for i in range(0, len(BODY), 256 * 1024):
                conn.sendall(BODY[i:i + 256 * 1024])
                progress["sent"] = i + 256 * 1024
            conn.sendall(b".\r\n")
        elif cmd == b"XBLAST":
            conn.sendall(BLAST_BODY)
            break
        elif cmd == b"QUIT":
            conn.sendall(b"+OK bye\r\n")
            break
        else:
            conn.sendall(b"-ERR unknown\r\n")
    conn.close()

if TLS:
    SCTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SCTX.load_cert_chain(f"{D}/cert.pem", f"{D}/key.pem")

def listen(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    return ls

def accept_loop(ls, tls):
    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(c, tls), daemon=True).start()

lsocks = [listen(BPORT)]
threading.Thread(target=accept_loop, args=(lsocks[0], False),
                 daemon=True).start()
if TLS:
    lsocks.append(listen(BTPORT))
    threading.Thread(target=accept_loop, args=(lsocks[1], True),
                     daemon=True).start()

# --- postern ----------------------------------------------------------------
daemon = None

def fail(msg):
    print("FAIL:", msg)
    if daemon is not None:
        daemon.terminate()
        daemon.wait(10)
        sys.stdout.write(open(f"{D}/postern.log").read()[-3000:])
    sys.exit(1)

def start(tls_backend):
    global daemon
    ini = f"""[postern]
workers = 1
log_level = info
[pop3]
unencrypted_or_tls_bindings = 127.0.0.1:{PPORT}
ssl_bindings = {"127.0.0.1:%d" % SPORT if TLS else ""}
login_type = PlainTextLogin
"""
    if TLS:
        ini = ini.replace("[pop3]", f"[tls]\ncertificate = {D}/cert.pem\n"
                          f"private_key = {D}/key.pem\n[pop3]")
    if tls_backend:
        ini += f"""backend = 127.0.0.1:{BTPORT}
backend_tls = implicit
backend_verify = no
protocol_log_enabled = yes
log_detail = proxy
log_file_location = {D}/logs
"""
    else:
        ini += f"backend = 127.0.0.1:{BPORT}\n"
    with open(f"{D}/postern.ini", "w") as fp:
        fp.write(ini)
    env = dict(os.environ)
    # Freed buffers would sit in AddressSanitizer's quarantine and look
    # like growth.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
    logf = open(f"{D}/postern.log", "a")
    daemon = subprocess.Popen([POSTERN, "-c", f"{D}/postern.ini"],
                              stdout=logf, stderr=subprocess.STDOUT, env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PPORT), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    fail("postern did not start")

def stop():
    global daemon
    time.sleep(0.5)
    if daemon.poll() is not None:
        fail(f"postern exited with {daemon.returncode}")
    daemon.send_signal(signal.SIGTERM)
    try:
        rc = daemon.wait(40)
    except subprocess.TimeoutExpired:
        fail("postern did not stop")
    if rc != 0:
        fail(f"postern exited with {rc}")
    daemon = None

def rss_kib():
    with open(f"/proc/{daemon.pid}/status") as fp:
        for l in fp:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    return 0

class Client:
    def __init__(self, tls):
        s = socket.create_connection(("127.0.0.1", SPORT if tls else PPORT),
                                     10)
        # A small receive buffer, so that the kernel holds little and
        # postern must stop reading the backend.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.buf = b""

    def recv(self, n=65536):
        d = self.s.recv(n)
        if not d:
            raise EOFError("connection closed")
        return d

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.recv()
        i = self.buf.index(b"\r\n") + 2
        l, self.buf = self.buf[:i], self.buf[i:]
        return l

    def exact(self, n):
        while len(self.buf) < n:
            self.buf += self.recv(min(1 << 20, n - len(self.buf)))
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def login(self, extra=b""):
        if not self.line().startswith(b"+OK"):
            fail("no greeting")
        self.s.sendall(b"USER alice\r\nPASS secret\r\n" + extra)
        for want in (b"+OK", b"+OK"):
            l = self.line()
            if not l.startswith(want):
                fail(f"login: {l!r}")

def run(tls, mode=None):
    mode = mode or ("tls" if tls else "plain")

    # Pipelined behind PASS: relayed once the backend took the login.
    c = Client(tls)
    c.login(b"NOOP\r\n")
    if c.line() != b"+OK noop\r\n":
        fail(f"{mode}: pipelined NOOP not relayed")
    c.s.close()

    # 50 MB: no reading, slow reading, fast reading.
    c = Client(tls)
    c.login()
    time.sleep(0.3)
    base = rss_kib()
    c.s.sendall(b"RETR 1\r\n")
    time.sleep(1.5)
    stalled = progress["sent"]
    peak = rss_kib()
    time.sleep(1.0)
    if progress["sent"] != stalled or stalled >= BIG // 2:
        fail(f"{mode}: the backend was not held back "
             f"({stalled} then {progress['sent']} of {BIG} bytes sent)")
    h = hashlib.sha256()
    got = 0
    head = c.line()
    if head != b"+OK %d octets\r\n" % BIG:
        fail(f"{mode}: RETR answer {head!r}")
    end = time.time() + 1.5
    while time.time() < end:
        d = c.exact(16 * 1024)
        h.update(d)
        got += len(d)
        peak = max(peak, rss_kib())
        time.sleep(0.01)
    while got < BIG:
        d = c.exact(min(1 << 20, BIG - got))
        h.update(d)
        got += len(d)
    peak = max(peak, rss_kib())
    if c.line() != b".\r\n":
        fail(f"{mode}: no end of the message")
    if h.hexdigest() != hashlib.sha256(BODY).hexdigest():
        fail(f"{mode}: the message changed on its way")
    if peak - base > RSS_GROWTH_MAX_KIB:
        fail(f"{mode}: postern grew by {peak - base} KiB for a "
             f"{BIG >> 20} MiB message")
    print(f"{mode}: 50 MiB exact; backend held at {stalled >> 10} KiB; "
          f"RSS +{peak - base} KiB")
    c.s.sendall(b"QUIT\r\n")
    if c.line() != b"+OK bye\r\n":
        fail(f"{mode}: QUIT")
    c.s.close()

    # The backend closes right after 8 MB: all of it still arrives.
    c = Client(tls)
    c.login()
    c.s.sendall(b"XBLAST\r\n")
    time.sleep(1.0)
    if c.exact(BLAST) != BLAST_BODY:
        fail(f"{mode}: the backend's last bytes changed or were lost")
    try:
        c.recv()
        fail(f"{mode}: more after the backend's last bytes")
    except (EOFError, ssl.SSLError, ConnectionResetError):
        pass
    c.s.close()

    # Half-closed client: its QUIT goes on, the answer comes back.
    c = Client(tls)
    c.login()
    c.s.sendall(b"QUIT\r\n")
    if tls:
        # TLS cannot half-close a stream; close_notify is the end.
        pass
    else:
        c.s.shutdown(socket.SHUT_WR)
    if c.line() != b"+OK bye\r\n":
        fail(f"{mode}: no answer to a QUIT from a half-closed client")
    c.s.close()

start(False)
run(False)
if TLS:
    run(True)
stop()
if TLS:
    start(True)
    run(True, "tls, tls backend")
    run(False, "plain, tls backend")
    stop()
for l in lsocks:
    l.close()
log = open(f"{D}/postern.log").read()
if "Sanitizer" in log or "runtime error" in log:
    fail("sanitizer report")
print("relay e2e: ok")
PYEOF
