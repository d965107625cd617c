#!/usr/bin/env python3
"""The classic migration-guide job, in Python: the unique client addresses
in every POP3/IMAP4 protocol log under the given directories.

This is what published guides do with PowerShell (Get-ChildItem | Import-Csv |
Select-Object cIp -Unique) written with Python's csv module: read every
file whose name is a protocol log's, skip the header and '#' lines, take
the cIp column without its port.  It is the baseline postern-inventory is
measured against in bench/inventory-bench.sh.

Usage: unique_clients.py [--list] DIR... (prints the count; --list: then the addresses)
"""
import csv
import os
import re
import sys

NAME = re.compile(r"^(POP3BE|POP3|IMAP4BE|IMAP4)(\d{10}|\d{8}|\d{6}W[1-6]|\d{6})-(\d+)\.LOG$",
                  re.IGNORECASE)


def main(paths):
    """The set of client addresses in the logs under paths."""
    clients = set()
    for top in paths:
        for root, _dirs, files in os.walk(top):
            for name in files:
                if not NAME.match(name):
                    continue
                with open(os.path.join(root, name), newline="", encoding="utf-8",
                          errors="replace") as f:
                    for row in csv.reader(f):
                        if len(row) < 5 or row[0].startswith("#") or row[0] == "dateTime":
                            continue
                        addr = row[4]
                        if addr.startswith("["):
                            addr = addr[1:addr.find("]")]
                        else:
                            addr = addr.rsplit(":", 1)[0]
                        clients.add(addr)
    return clients


if __name__ == "__main__":
    args = sys.argv[1:]
    listing = "--list" in args
    args = [a for a in args if a != "--list"]
    found = main(args or ["."])
    print(len(found))
    if listing:
        for c in sorted(found):
            print(c)
