#!/usr/bin/env python3
"""Writes the two postern configurations of the access-policy benchmark
(bench/RESULTS.md, "Access rules and 10,000 address ranges").

    policy-conf.py DIR

DIR/norules.ini: the shared harness's postern configuration, nothing else.
DIR/rules.ini: the same plus a groups file and 50 access rules, two of them
with 10,000 address ranges each, none of which refuses the harness's
clients (127.0.0.1, users userN): every rule is evaluated on every
connection and login, the worst case for the matcher.

norules.ini listens on 127.0.0.1:34143 (IMAP) and :34110 (POP3), rules.ini
on :34243 and :34210 (implicit TLS on 34993/34995 and 34293/34295), so both
can run side by side.  The backend is the harness's Dovecot
(127.0.0.1:11143 and :11110), the certificate the harness's.
"""

import ipaddress
import os
import sys

RUN = "/dev/shm/pbench"


def ranges(n):
    """n disjoint, non-adjacent address ranges nowhere near loopback (so
    that none merges with another): IPv4 CIDR blocks, IPv4 a-b ranges and
    IPv6 prefixes, a third of each."""
    out = []
    for i in range(n):
        hi, lo = divmod(i, 256)
        if i % 3 == 0:
            out.append("10.%d.%d.0/25" % (hi, lo))
        elif i % 3 == 1:
            a = ipaddress.IPv4Address("172.16.0.0") + i * 64
            out.append("%s-%s" % (a, a + 31))
        else:
            out.append("2001:db8:%x:%x::/64" % (hi, lo))
    return out


def folded(key, values, per_line=8):
    """key = v1, v2, ... continued on indented lines."""
    lines = []
    for i in range(0, len(values), per_line):
        lines.append(", ".join(values[i:i + per_line]))
    return "%s = %s\n" % (key, (",\n    ").join(lines))


def base(dirname, name, imap, pop3, imaps, pop3s):
    return """[postern]
workers = 1
log_level = warning
pid_file = {d}/{name}.pid
[tls]
certificate = {run}/tls/cert.pem
private_key = {run}/tls/key.pem
[pop3]
unencrypted_or_tls_bindings = 127.0.0.1:{pop3}
ssl_bindings = 127.0.0.1:{pop3s}
login_type = PlainTextLogin
backend = 127.0.0.1:11110
max_connections_per_user = 0
[imap]
unencrypted_or_tls_bindings = 127.0.0.1:{imap}
ssl_bindings = 127.0.0.1:{imaps}
login_type = PlainTextLogin
backend = 127.0.0.1:11143
max_connections_per_user = 0
""".format(d=dirname, name=name, imap=imap, pop3=pop3, imaps=imaps,
           pop3s=pop3s, run=RUN)


def rules(dirname):
    big = ranges(10000)
    out = ["[groups]\nfile = %s/groups\n" % dirname]
    # 1: a block list decided at connect time; the client is not in it.
    out.append('[rule "block list"]\npriority = 1\naction = deny\n'
               + folded("client_ips", big))
    prio = 10
    # 48 rules of several shapes whose conditions never all hold for
    # userN from 127.0.0.1 without TLS.
    for i in range(48):
        name = "r%02d" % i
        body = "priority = %d\n" % prio
        kind = i % 6
        if kind == 0:
            body += "action = deny\nusernames = svc-%d-*, *@partner%d.example\n" % (i, i)
        elif kind == 1:
            body += ("action = deny\nprotocols = pop3\n"
                     "client_ips = 192.0.2.%d, 198.51.100.0/24\n" % i)
        elif kind == 2:
            body += ("action = audit\nauthentication = tls\n"
                     "usernames = EXAMPLE\\legacy%d\n" % i)
        elif kind == 3:
            body += ("action = deny\nmember_of = Contractors %d\n"
                     "except_client_ips = 10.%d.0.0/16\n" % (i, i))
        elif kind == 4:
            body += ("action = deny\nprotocols = imap\n"
                     "usernames = user*\n"
                     "except_client_ips = 127.0.0.0/8, ::1\n")
        else:
            body += ("action = deny\nclient_ips = 203.0.113.%d-203.0.113.%d\n"
                     "except_usernames = admin%d\n" % (i, i + 1, i))
        out.append('[rule "%s"]\n%s' % (name, body))
        prio += 10
    # 50: "users only from the known networks": every login searches the
    # 10,000 ranges (plus loopback, where the harness's clients are).
    out.append('[rule "known networks only"]\npriority = %d\naction = deny\n'
               'usernames = user*\n' % prio
               + folded("except_client_ips", ["127.0.0.0/8"] + big))
    groups = "".join("Contractors %d: contractor%d-a, contractor%d-b\n"
                     % (i, i, i) for i in range(48))
    return "\n".join(out), groups


def main():
    d = os.path.abspath(sys.argv[1])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "norules.ini"), "w") as f:
        f.write(base(d, "norules", 34143, 34110, 34993, 34995))
    text, groups = rules(d)
    with open(os.path.join(d, "rules.ini"), "w") as f:
        f.write(base(d, "rules", 34243, 34210, 34293, 34295) + "\n" + text)
    with open(os.path.join(d, "groups"), "w") as f:
        f.write(groups)


if __name__ == "__main__":
    main()
