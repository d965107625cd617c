"""Brute-force protection ([throttle]) against the real Dovecot.

Wrong passwords from one address get growing delays, then refusals that
never reach the backend (Dovecot's own log says which passwords it
checked); an exempt address is never delayed; the right password works
again once the ban is over; a reload keeps the counts.  The protocol log
postern wrote is then read by Debian's fail2ban-regex with the shipped
filter, which must match exactly the failed and throttled attempts.

Clients connect from addresses of their own in 127.0.0.0/8, which
postern forwards to Dovecot (XCLIENT, IMAP ID): Dovecot's own penalty
for failures is per address too, so the exempt address's timings are
the measure of what Dovecot alone adds to each failure.
"""

import collections
import glob
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import helpers

THROTTLED = "127.0.77.1"
EXEMPT = "127.0.77.2"
OTHER = "127.0.77.3"
# An address of its own: Dovecot's penalty for it starts afresh.
SLOW_BACKEND = "127.0.77.4"
FIRST_DELAY = 0.5
LIMIT = 5
BAN = 15

FILTER = os.path.join(helpers.TOP, "contrib", "fail2ban", "filter.d",
                      "postern.conf")
JAIL = os.path.join(helpers.TOP, "contrib", "fail2ban", "jail.d",
                    "postern.conf")


class SourceClient(helpers.LineClient):
    """A LineClient whose connection comes from the address src."""

    def __init__(self, port, src):
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=helpers.IO_TIMEOUT,
            source_address=(src, 0))
        self.buf = b""
        self.host = "127.0.0.1"


def pop3_try(port, src, user, password):
    """One POP3 login on a new connection: (answer, seconds it took)."""
    c = SourceClient(port, src)
    try:
        assert c.readline().startswith(b"+OK")
        assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
        t0 = time.monotonic()
        answer = c.cmd(b"PASS " + password.encode())
        took = time.monotonic() - t0
        c.send(b"QUIT\r\n")
        return answer, took
    finally:
        c.close()


def imap_try(port, src, user, password):
    c = SourceClient(port, src)
    try:
        assert c.readline().startswith(b"* OK")
        answer = c.cmd(b'a LOGIN %s "%s"' % (user.encode(),
                                            password.encode()))
        c.send(b"b LOGOUT\r\n")
        return answer
    finally:
        c.close()


def mismatches(dovecot, user, ip):
    """Passwords of user from ip that Dovecot checked and refused."""
    rx = re.compile(r"passwd-file\(%s,%s[,)].*Password mismatch"
                    % (re.escape(user), re.escape(ip)))
    return len(rx.findall(dovecot.log()))


def logins(dovecot, user, ip):
    rx = re.compile(r"Login: user=<%s>.*rip=%s," % (re.escape(user),
                                                   re.escape(ip)))
    return len(rx.findall(dovecot.log()))


def rows(logdir):
    out = []
    for path in sorted(glob.glob(os.path.join(logdir, "*.LOG"))):
        with open(path, errors="replace") as f:
            out += [l for l in f.read().splitlines() if not l.startswith("#")]
    return out


@pytest.fixture
def logdir():
    d = helpers.private_tmpdir("postern-throttle-log.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def throttle_conf(logdir, **over):
    t = {"enabled": "yes", "failure_delay": "%dms" % (FIRST_DELAY * 1000),
         "max_failures_per_ip": str(LIMIT), "max_failures_per_user": "100",
         "window": "10m", "ban_time": "%ds" % BAN, "exempt_ips": EXEMPT}
    t.update(over)
    return {"throttle": t,
            "pop3": {"forward_client_address": "xclient",
                     "protocol_log_enabled": "yes",
                     "log_file_location": os.path.join(logdir, "pop")},
            "imap": {"forward_client_address": "id",
                     "protocol_log_enabled": "yes",
                     "log_file_location": os.path.join(logdir, "imap")}}


def test_pop3_delays_grow_then_the_address_is_refused_until_the_ban_ends(
        start_postern, dovecot, logdir):
    user, good = "frank", dovecot.users["frank"]
    p = start_postern(throttle_conf(logdir))
    port = p.ports["pop3"]
    # Dovecot delays each failure too (auth_failure_delay, and its own
    # penalty per address, which grows less when the password is the
    # same): at most a few seconds, below backend_timeout (10 s).  Every
    # attempt uses the same wrong password, so that Dovecot's part stays
    # small; postern's part is at least its delay, and past the fourth
    # failure more than Dovecot ever takes.
    delays = [FIRST_DELAY * 2 ** i for i in range(LIMIT)]
    assert min(FIRST_DELAY * 2 ** LIMIT, 15) >= 15

    # The exempt address: past the limit, and never refused nor delayed
    # (a delay of the sixth failure would be 15 s).
    base = []
    for i in range(LIMIT + 1):
        answer, took = pop3_try(port, EXEMPT, user, "wrong")
        assert answer.startswith(b"-ERR [AUTH]"), answer
        base.append(took)
    assert base[-1] < 10, base
    assert mismatches(dovecot, user, EXEMPT) == LIMIT + 1

    # The throttled address: each answer at least postern's delay, which
    # doubles, the last one longer than any of Dovecot's alone.
    took_all = []
    for i in range(LIMIT):
        answer, took = pop3_try(port, THROTTLED, user, "wrong")
        assert answer.startswith(b"-ERR [AUTH]"), answer
        took_all.append(took)
        # The answer comes the delay after the password; the ban began
        # when the backend refused it, which the log says below.
        answered = time.monotonic()
    for i, (t, d) in enumerate(zip(took_all, delays)):
        assert t >= d * 0.95, "failure %d answered in %.2fs, before the " \
            "delay of %.2fs (all: %r)" % (i + 1, t, d, took_all)
    assert took_all[-1] > max(base), (took_all, base)
    assert mismatches(dovecot, user, THROTTLED) == LIMIT
    last = r"user frank: login refused by the backend \(failures in " \
        r"the window: %d from the address.*answer in %d ms: the backend " \
        r"took (\d+)" % (LIMIT, delays[-1] * 1000)
    p.wait_log(last)
    backend_s = int(re.search(last, p.log()).group(1)) / 1000
    ban_end = answered - delays[-1] + backend_s + BAN

    # Banned: 15 more wrong passwords and the right one, all refused at
    # once with a wrong password's answer, none of them checked.
    for i in range(15):
        answer, took = pop3_try(port, THROTTLED, user, "more-%d" % i)
        assert answer.startswith(b"-ERR [AUTH]"), answer
        assert took < 1.0, "a refusal took %.2fs" % took
    answer, _ = pop3_try(port, THROTTLED, user, good)
    assert answer.startswith(b"-ERR [AUTH]"), answer
    assert mismatches(dovecot, user, THROTTLED) == LIMIT
    assert logins(dovecot, user, THROTTLED) == 0
    assert time.monotonic() < ban_end - 1, "the test was too slow"
    # Another address is not affected.
    answer, _ = pop3_try(port, OTHER, user, good)
    assert answer.startswith(b"+OK"), answer
    # Each refused attempt has its daemon-log line, none held back.
    p.wait_log(r"throttled: the client's address is banned for another",
               count=16)
    p.wait_log(r"user frank: too many failed logins: the client's address "
               r"refused for %d s" % BAN)

    # After the ban the right password works from there again.
    time.sleep(max(0.0, ban_end + 0.5 - time.monotonic()))
    answer, took = pop3_try(port, THROTTLED, user, good)
    assert answer.startswith(b"+OK"), answer
    helpers.wait_for(lambda: logins(dovecot, user, THROTTLED) == 1, 10,
                     "Dovecot's login of %s from %s" % (user, THROTTLED))

    p.stop()
    all_rows = rows(os.path.join(logdir, "pop"))
    throttled = [r for r in all_rows if "ErrMsg=Throttled" in r]
    assert len(throttled) == 16, "\n".join(all_rows)
    for r in throttled:
        assert ",%s:" % THROTTLED in r and "Reason=ClientBanned" in r, r
    failed = [r for r in all_rows if "ErrMsg=AuthFailed:LogonDenied" in r]
    assert len(failed) == LIMIT + 1 + LIMIT, "\n".join(all_rows)
    fail2ban_check(os.path.join(logdir, "pop"), {THROTTLED: LIMIT + 16,
                                                 EXEMPT: LIMIT + 1})


def fail2ban_check(directory, want):
    """fail2ban-regex with the shipped filter finds exactly want: the
    failed and throttled attempts per address, nothing else."""
    if shutil.which("fail2ban-regex") is None:
        pytest.skip("fail2ban-regex is not installed (package fail2ban)")
    logs = sorted(glob.glob(os.path.join(directory, "*.LOG")))
    assert logs
    got = collections.Counter()
    for path in logs:
        r = subprocess.run(["fail2ban-regex", "--out", "ip", path, FILTER],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        got.update(l.strip() for l in r.stdout.decode().splitlines()
                   if l.strip())
    assert got == collections.Counter(want), got


def test_imap_ban_is_per_user_too_and_survives_a_reload(
        start_postern, dovecot, logdir):
    user, good = "grace", dovecot.users["grace"]
    p = start_postern(throttle_conf(logdir, failure_delay="0",
                                    max_failures_per_ip="100",
                                    max_failures_per_user="3"))
    port = p.ports["imap"]
    # One guess from each of three addresses bans the user everywhere.
    for i, src in enumerate(("127.0.78.1", "127.0.78.2", "127.0.78.3")):
        answer = imap_try(port, src, user, "wrong-%d" % i)
        assert answer.startswith(b"a NO [AUTHENTICATIONFAILED]"), answer
    checked = sum(mismatches(dovecot, user, "127.0.78.%d" % i)
                  for i in (1, 2, 3))
    assert checked == 3
    # A reload keeps the counts (and the ban); the new limits apply.
    p.reload(throttle_conf(logdir, failure_delay="0",
                           max_failures_per_ip="100",
                           max_failures_per_user="4"))
    p.wait_log(r"reload: configuration .* loaded")
    answer = imap_try(port, "127.0.78.4", user, good)
    assert answer.startswith(b"a NO [AUTHENTICATIONFAILED]"), answer
    assert logins(dovecot, user, "127.0.78.4") == 0
    # Other users from the same addresses are served.
    answer = imap_try(port, "127.0.78.1", "heidi", dovecot.users["heidi"])
    assert answer.startswith(b"a OK"), answer
    # The exempt address is served even for a banned user.
    answer = imap_try(port, EXEMPT, user, good)
    assert answer.startswith(b"a OK"), answer
    p.wait_log(r"throttled: the user is banned for another")
    p.wait_log(r"user grace: too many failed logins: the user refused for")
    p.stop()
    throttled = [r for r in rows(os.path.join(logdir, "imap"))
                 if "ErrMsg=Throttled" in r]
    assert len(throttled) == 1 and "Reason=UserBanned" in throttled[0], \
        throttled
    fail2ban_check(os.path.join(logdir, "imap"),
                   {"127.0.78.%d" % i: 1 for i in (1, 2, 3, 4)})


def test_shipped_jail_loads_in_fail2ban(tmp_path):
    """The jail, on the default protocol-log directories, and the filter
    beside it load in fail2ban's own configuration (its Debian files,
    copied), which sets up the postern jail with the filter's regex."""
    with open(JAIL) as f:
        jail = f.read()
    assert "/var/log/postern/Pop3/POP3*.LOG" in jail
    assert "/var/log/postern/Imap4/IMAP4*.LOG" in jail
    if shutil.which("fail2ban-client") is None or \
            not os.path.isdir("/etc/fail2ban"):
        pytest.skip("fail2ban is not installed")
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    for name in os.listdir(conf / "jail.d"):
        os.unlink(conf / "jail.d" / name)
    shutil.copy(FILTER, conf / "filter.d" / "postern.conf")
    # fail2ban wants each log file to exist.
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "POP3x.LOG").write_text("")
    (logs / "IMAP4x.LOG").write_text("")
    (conf / "jail.d" / "postern.conf").write_text(
        jail.replace("/var/log/postern/Pop3/", str(logs) + "/")
        .replace("/var/log/postern/Imap4/", str(logs) + "/"))
    r = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert "['add', 'postern'" in out, out
    assert "ErrMsg=(?:AuthFailed:LogonDenied|Throttled)" in out, out
    for name in ("POP3x.LOG", "IMAP4x.LOG"):
        assert "'addlogpath', '%s'" % (logs / name) in out, out


def test_the_backends_own_delay_counts_toward_the_throttles(
        start_postern, dovecot, logdir):
    """Dovecot delays a failure itself (auth_failure_delay, 2 s): postern
    waits only what is left of its delay once the backend has answered,
    so that the client's answer comes failure_delay after the password
    rather than both delays after it."""
    delay = 4000
    p = start_postern(throttle_conf(logdir, failure_delay="%dms" % delay))
    answer, took = pop3_try(p.ports["pop3"], SLOW_BACKEND, "heidi", "wrong")
    assert answer.startswith(b"-ERR [AUTH]"), answer
    # The client waited failure_delay, not failure_delay plus Dovecot's.
    assert delay / 1000 * 0.95 <= took < delay / 1000 + 1.0, took
    p.wait_log(r"user heidi: login refused by the backend")
    m = re.search(r"user heidi: login refused by the backend \(failures in "
                  r"the window: 1 from the address, \d+ of the user; answer "
                  r"in %d ms: the backend took (\d+), postern waits (\d+)\)"
                  % delay, p.log())
    assert m, p.log()
    backend_ms, wait_ms = int(m.group(1)), int(m.group(2))
    # Dovecot's delay is real, and postern's is what remains of its own.
    assert backend_ms >= 1500, m.group(0)
    assert wait_ms == delay - backend_ms, m.group(0)


def test_shutdown_during_a_delay_ends_the_session(start_postern, dovecot,
                                                  logdir):
    """A session waiting out its delay is closed like any other: the
    shutdown's grace time ends it, and its timer goes with it."""
    conf = throttle_conf(logdir, failure_delay="15s")
    conf["postern"] = {"shutdown_timeout": "1s"}
    p = start_postern(conf)
    c = SourceClient(p.ports["pop3"], THROTTLED)
    try:
        assert c.readline().startswith(b"+OK")
        assert c.cmd(b"USER frank").startswith(b"+OK")
        c.send(b"PASS wrong\r\n")
        p.wait_log(r"user frank: login refused by the backend .*answer in "
                   r"15000 ms")
        t0 = time.monotonic()
        assert p.stop() == 0, p.log()
        assert time.monotonic() - t0 < 10, p.log()
        rest = c.read_until_close(timeout=10)
        assert b"Authentication failed" not in rest, rest
    finally:
        c.close()
