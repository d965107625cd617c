#!/usr/bin/python3
"""Captures real NTLMSSP exchanges for tests/test_ntlm.c: Samba's ntlm_auth
as the client (ntlmssp-client-1) against ntlm_auth as the server
(squid-2.5-ntlmssp) through the winbindd of the private domain controller
of contrib/samba-test.sh, which verifies the Type 3.  Prints each message
of each exchange, base64, with the server's verdict.

Usage (as root, the DC started by contrib/samba-test.sh start DIR):
    capture.py DIR USER DOMAIN PASSWORD [oem]

With "oem" the server's Type 2 is altered to offer OEM instead of UNICODE
before the client sees it, so that the client writes its names in OEM;
the server then refuses the Type 3 (its challenge was changed), which
does not matter to a parser test.
"""
import base64
import struct
import subprocess
import sys


def helper(args):
    return subprocess.Popen(args, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)


def ask(p, line):
    p.stdin.write(line.encode() + b"\n")
    p.stdin.flush()
    return p.stdout.readline().decode().strip()


def main():
    d, user, domain, password = sys.argv[1:5]
    oem = sys.argv[5:] == ["oem"]
    client = helper(["ntlm_auth", "--helper-protocol=ntlmssp-client-1",
                     "--username=" + user, "--domain=" + domain,
                     "--password=" + password,
                     "--configfile=%s/etc/smb.conf" % d])
    server = helper([d + "/ntlm_auth", "--helper-protocol=squid-2.5-ntlmssp"])
    t1 = ask(client, "YR").split()[1]
    print("type1", t1)
    t2 = ask(server, "YR " + t1).split()[1]
    if oem:
        raw = bytearray(base64.b64decode(t2))
        flags = struct.unpack_from("<I", raw, 20)[0]
        struct.pack_into("<I", raw, 20, (flags & ~1) | 2)
        t2 = base64.b64encode(bytes(raw)).decode()
    print("type2", t2)
    t3 = ask(client, "TT " + t2).split()[1]
    print("type3", t3)
    print("server", ask(server, "KK " + t3))


main()
