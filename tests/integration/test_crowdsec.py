"""CrowdSec's Exchange parsers and its exchange-bf scenario over postern's
protocol logs: a password spray through postern against Dovecot (wrong
passwords over IMAP and POP3, a login refused by postern's policy) must be
parsed, every failure with its client address and user, and must make the
scenario's bucket overflow, as it does on Exchange's own logs.

The definitions are the real ones, from Debian's crowdsec package
(usr/share/crowdsec/hub/), fetched with "apt-get download" and unpacked
with "dpkg-deb -x" without installing it (its post-install step wants the
internet).  POSTERN_CROWDSEC_HUB may name an unpacked hub directory
instead.  The grok base patterns the parsers use are built into CrowdSec's
binary; they are spelled out below as Python regular expressions, and the
parsers are first checked against the hub's own sample rows."""

import base64
import calendar
import glob
import os
import re
import socket
import subprocess
import threading
import time

import pytest
import yaml

import helpers
from test_protolog import ctx_value, log_conf, logdir, read_logs  # noqa: F401

HUB_FILES = {
    "imap": "parsers/s01-parse/crowdsecurity/exchange-imap-logs.yaml",
    "pop": "parsers/s01-parse/crowdsecurity/exchange-pop-logs.yaml",
    "bf": "scenarios/crowdsecurity/exchange-bf.yaml",
}
# What CrowdSec's acquisition labels each log directory with (the
# parsers' filters test evt.Parsed.program).
PROGRAM = {"IMAP4": "exchange-imap", "POP3": "exchange-pop"}
SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "data", "exchange-logs")

# The grok base patterns of logstash's grok-patterns file, as CrowdSec's
# grok library (grokky) builds them into the binary.  Go's regexp classes
# are ASCII-only: the patterns are compiled with re.ASCII.
_DEC_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_V4_TAIL = _DEC_OCTET + r"(\." + _DEC_OCTET + r"){3}"
_H16 = r"[0-9A-Fa-f]{1,4}"
GROK_BASE = {
    "INT": r"[+-]?(?:[0-9]+)",
    "WORD": r"\b\w+\b",
    "DATA": r".*?",
    "YEAR": r"(?:\d\d){1,2}",
    "MONTHNUM": r"0?[1-9]|1[0-2]",
    "MONTHDAY": r"(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9]",
    "HOUR": r"2[0123]|[01]?[0-9]",
    "MINUTE": r"[0-5][0-9]",
    "SECOND": r"(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?",
    "ISO8601_TIMEZONE": r"Z|[+-]%{HOUR}(?::?%{MINUTE})",
    "TIMESTAMP_ISO8601": r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?"
                         r"%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?",
    "IPV4": r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}"
            r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)",
    # RFC 4291 text forms, with an optional zone; the v4-mapped tails.
    "IPV6": (r"((({h}:){{7}}({h}|:))|(({h}:){{6}}(:{h}|{v4}|:))"
             r"|(({h}:){{5}}(((:{h}){{1,2}})|:{v4}|:))"
             r"|(({h}:){{4}}(((:{h}){{1,3}})|((:{h})?:{v4})|:))"
             r"|(({h}:){{3}}(((:{h}){{1,4}})|((:{h}){{0,2}}:{v4})|:))"
             r"|(({h}:){{2}}(((:{h}){{1,5}})|((:{h}){{0,3}}:{v4})|:))"
             r"|(({h}:){{1}}(((:{h}){{1,6}})|((:{h}){{0,4}}:{v4})|:))"
             r"|(:(((:{h}){{1,7}})|((:{h}){{0,5}}:{v4})|:)))(%.+)?"
             ).format(h=_H16, v4=_V4_TAIL),
    "IP": r"%{IPV6}|%{IPV4}",
    "HOSTNAME": r"\b[0-9A-Za-z][0-9A-Za-z-]{0,62}"
                r"(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*(\.?|\b)",
    "IPORHOST": r"%{IP}|%{HOSTNAME}",
}
_GROK_REF = re.compile(r"%\{(\w+)(?::(\w+))?\}")


def grok_compile(pattern):
    """A grok pattern as a Python regex: %{NAME:field} becomes a named
    group, %{NAME} a plain group, as grokky substitutes them."""
    def expand(p, depth=0):
        assert depth < 10, "grok pattern loop"

        def sub(m):
            name, field = m.group(1), m.group(2)
            assert name in GROK_BASE, "grok pattern %s not spelled out" % name
            body = expand(GROK_BASE[name], depth + 1)
            if field:
                return "(?P<%s>%s)" % (field, body)
            return "(?:%s)" % body
        return _GROK_REF.sub(sub, p)
    return re.compile(expand(pattern), re.ASCII)


class Obj(dict):
    """A map that reads like an expr-lang object: evt.Meta.source_ip; a
    missing key is None, as in expr."""

    def __getattr__(self, k):
        return self.get(k)


def expr_eval(expression, evt):
    """Evaluates the small subset of CrowdSec's expr language the Exchange
    files use: comparisons of evt fields joined by && and ||."""
    assert re.fullmatch(r"[\w.\s'=!&|-]+", expression), \
        "expression not understood: " + expression
    py = expression.replace("&&", " and ").replace("||", " or ")
    return eval(py, {"__builtins__": {}}, {"evt": evt})


class Parser:
    """One s01-parse node: filter, grok on the raw line, statics."""

    def __init__(self, path):
        with open(path) as f:
            self.node = yaml.safe_load(f)
        assert self.node["grok"]["apply_on"] == "message"
        self.regex = grok_compile(self.node["grok"]["pattern"])

    def parse(self, line, program):
        evt = Obj(Parsed=Obj(program=program, message=line), Meta=Obj(),
                  StrTime=None)
        if not expr_eval(self.node["filter"], evt):
            return None
        m = self.regex.search(line)
        if m is None:
            return None
        evt.Parsed.update({k: v for k, v in m.groupdict().items()
                           if v is not None})
        for st in self.node.get("statics", []):
            v = st["value"] if "value" in st else expr_eval(
                st["expression"], evt)
            if "meta" in st:
                evt.Meta[st["meta"]] = v
            else:
                assert st["target"] == "evt.StrTime", st
                evt["StrTime"] = v
        return evt


def go_duration(s):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", s)
    assert m, "duration not understood: " + s
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[
        m.group(2)]


def iso_seconds(s):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", s)
    assert m, s
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) \
        + float(m.group(2) or 0)


def leaky_overflows(scenario, events):
    """The groups whose bucket overflows, and after how many events.

    CrowdSec's leaky bucket is a token bucket (Go's rate.Limiter): it
    starts full with capacity tokens, gains one every leakspeed, and an
    event that finds less than one token overflows it.  Events are taken
    at their own time (evt.StrTime), as CrowdSec does when it reads
    files."""
    assert scenario["type"] == "leaky"
    cap = int(scenario["capacity"])
    leak = go_duration(scenario["leakspeed"])
    buckets, over = {}, {}
    for evt in sorted(events, key=lambda e: iso_seconds(e["StrTime"])):
        if not expr_eval(scenario["filter"], evt):
            continue
        key = expr_eval(scenario["groupby"], evt)
        t = iso_seconds(evt["StrTime"])
        tokens, last, n = buckets.get(key, (float(cap), t, 0))
        tokens = min(float(cap), tokens + (t - last) / leak)
        n += 1
        if tokens >= 1:
            tokens -= 1
        elif key not in over:
            over[key] = n
        buckets[key] = (tokens, t, n)
    return over


@pytest.fixture(scope="session")
def crowdsec_hub(tmp_path_factory):
    hub = os.environ.get("POSTERN_CROWDSEC_HUB")
    if not hub:
        d = tmp_path_factory.mktemp("crowdsec-deb")
        try:
            r = subprocess.run(["apt-get", "download", "crowdsec"], cwd=d,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=600)
            out = r.stdout.decode(errors="replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            r, out = None, str(e)
        debs = glob.glob(os.path.join(str(d), "crowdsec_*.deb"))
        if r is None or r.returncode != 0 or not debs:
            pytest.skip("cannot fetch Debian's crowdsec package with "
                        "'apt-get download crowdsec' (set "
                        "POSTERN_CROWDSEC_HUB to an unpacked hub): "
                        + out.strip()[-300:])
        subprocess.run(["dpkg-deb", "-x", debs[0], str(d / "x")], check=True)
        hub = str(d / "x" / "usr" / "share" / "crowdsec" / "hub")
    for f in HUB_FILES.values():
        assert os.path.isfile(os.path.join(hub, f)), \
            "the crowdsec package has no " + f
    return hub


@pytest.fixture(scope="session")
def parsers(crowdsec_hub):
    return {k: Parser(os.path.join(crowdsec_hub, HUB_FILES[k]))
            for k in ("imap", "pop")}


@pytest.fixture(scope="session")
def scenario(crowdsec_hub):
    with open(os.path.join(crowdsec_hub, HUB_FILES["bf"])) as f:
        return yaml.safe_load(f)


def parse_line(parsers, line, program):
    evts = [p.parse(line, program) for p in parsers.values()]
    evts = [e for e in evts if e is not None]
    assert len(evts) <= 1
    return evts[0] if evts else None


def test_grok_translation_matches_hub_samples(parsers, scenario):
    """Every sample row the hub's own tests feed these parsers matches,
    with the fields Exchange wrote; the brute-force samples overflow."""
    n = 0
    for path in sorted(glob.glob(os.path.join(SAMPLES,
                                              "crowdsecurity-hub__*.log"))):
        program = "exchange-pop" if "pop" in path else "exchange-imap"
        events = []
        with open(path, encoding="utf-8") as f:
            for line in f.read().splitlines():
                if line.startswith("#") or not line:
                    continue
                if "examples" in path:
                    program = ("exchange-pop" if ",auth, " in line
                               else "exchange-imap")
                evt = parse_line(parsers, line, program)
                assert evt is not None, (path, line)
                fields = line.split(",")
                assert evt.Meta.source_ip == fields[4].rsplit(":", 1)[0]
                assert evt.Parsed.username == fields[5]
                assert evt.StrTime == fields[0]
                events.append(evt)
                n += 1
        if path.endswith("-bf.log"):
            assert leaky_overflows(scenario, events) == {
                "192.168.9.212": int(scenario["capacity"]) + 1}, path
    assert n == 19


def run_parallel(fns):
    errors = []

    def wrap(fn):
        try:
            fn()
        except Exception as e:  # reported below, with the others
            errors.append(e)
    ts = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors


class Client:
    """One connection from a given loopback source address."""

    def __init__(self, port, src):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20,
                                             source_address=(src, 0))
        self.f = self.sock.makefile("rb")
        self.f.readline()

    def cmd(self, line, tag=None):
        self.sock.sendall(line + b"\r\n")
        while True:
            ans = self.f.readline()
            if tag is None or ans.startswith(tag + b" ") or not ans:
                return ans

    def close(self):
        self.f.close()
        self.sock.close()


def blob(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())


def test_password_spray_raises_exchange_bf(start_postern, dovecot, logdir,
                                          parsers, scenario, tmp_path):
    spray, other = "127.0.0.77", "127.0.0.78"
    gf = tmp_path / "groups"
    gf.write_text("POP3 Access: alice\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(gf, 0o644)
    conf = log_conf(logdir)
    conf["groups"] = {"file": str(gf)}
    conf["pop3"]["required_group"] = "POP3 Access"
    p = start_postern(conf)
    pw = dovecot.users

    def imap_login(user, secret, src=spray, want=b"NO"):
        c = Client(p.ports["imap"], src)
        ans = c.cmd(b"a1 LOGIN %s \"%s\"" % (user.encode(), secret.encode()),
                    b"a1")
        assert ans.startswith(b"a1 " + want), ans
        c.cmd(b"a2 LOGOUT", b"a2")
        c.close()

    def imap_auth(user, secret):
        c = Client(p.ports["imap"], spray)
        ans = c.cmd(b"a1 AUTHENTICATE PLAIN " + blob(user, secret), b"a1")
        assert ans.startswith(b"a1 NO"), ans
        c.close()

    def pop_pass(user, secret):
        c = Client(p.ports["pop3"], spray)
        assert c.cmd(b"USER " + user.encode()).startswith(b"+OK")
        ans = c.cmd(b"PASS " + secret.encode())
        assert ans.startswith(b"-ERR"), ans
        c.cmd(b"QUIT")
        c.close()

    def pop_auth(user, secret):
        c = Client(p.ports["pop3"], spray)
        ans = c.cmd(b"AUTH PLAIN " + blob(user, secret))
        assert ans.startswith(b"-ERR"), ans
        c.close()

    # A spray as it comes: many connections at once, one guess each.
    # bob's right password over POP3 is refused by the policy (he is not
    # in the group); the rest are wrong passwords refused by Dovecot.
    failures = [
        lambda: imap_login("alice", "Winter2026"),
        lambda: imap_login("bob", "Winter2026"),
        lambda: imap_auth("carol", "Winter2026"),
        lambda: pop_pass("alice", "Winter2026"),
        lambda: pop_auth("alice", "Summer2026"),
        lambda: pop_pass("bob", pw["bob"]),
        lambda: imap_login("dave", "Summer2026"),
    ]
    run_parallel(failures)
    # Logins that succeed are no failures, from the spraying address or
    # from another.
    imap_login("erin", pw["erin"], want=b"OK")
    imap_login("erin", pw["erin"], src=other, want=b"OK")

    def all_closed():
        rows = read_logs(logdir)
        closes = [r for r in rows if r["command"] == "CloseSession"]
        return rows if len(closes) == len(failures) + 2 else None
    rows = helpers.wait_for(all_closed, 15, "every session's last row")
    refused = [r for r in rows if r["command"] in
               ("login", "authenticate", "pass", "auth")
               and r["cIp"].startswith(spray + ":")
               and "ProxySuccess" not in r["context"]]
    assert len(refused) == len(failures), refused

    # The parsers over the files as written, line by line.
    events = {}
    for path in sorted(glob.glob(os.path.join(logdir, "*", "*.LOG"))):
        program = PROGRAM[re.match(r"IMAP4|POP3", os.path.basename(path))
                          .group(0)]
        with open(path, "rb") as f:
            for raw in f.read().decode("utf-8").split("\n"):
                line = raw.rstrip("\r")
                if not line or line.startswith("#") or \
                        line.startswith("dateTime,"):
                    continue
                evt = parse_line(parsers, line, program)
                if evt is not None:
                    f2 = line.split(",")
                    events[(f2[1], int(f2[2]))] = (evt, line)
    want = {(r["sessionId"], int(r["seqNumber"])): r for r in refused}
    assert set(events) == set(want), (sorted(events), sorted(want))
    for k, r in want.items():
        evt, line = events[k]
        assert evt.Meta.source_ip == spray, line
        assert evt.Meta.sub_type == "auth_fail" and \
            evt.Meta.service == "exchange"
        assert evt.Parsed.username == r["user"], line
        assert evt.StrTime == r["dateTime"]
    assert sorted(r["user"] for r in refused) == sorted(
        ["alice", "bob", "carol", "alice", "alice", "bob", "dave"])
    # Exchange's shape, postern's reason in a key of its own.
    for r in refused:
        ctx = r["context"]
        assert ctx.endswith(";ErrMsg=AuthFailed:LogonDenied"), ctx
        assert ('Msg="' in ctx and "AuthFailed:LogonDenied,User: %s\""
                % r["user"] in ctx), ctx
        assert ctx_value(ctx, "Reason") in ("ProxyNotAuthenticated",
                                            "NotInGroup:POP3 Access"), ctx

    # The scenario: the spraying address overflows its bucket, once it
    # has seen more than capacity failures within the leak time.
    over = leaky_overflows(scenario, [e for e, _ in events.values()])
    assert over == {spray: int(scenario["capacity"]) + 1}, over
