"""A renewed certificate and key picked up by a reload after the privileges
are dropped, while the key stays root's with mode 0600 (as certbot leaves
it under /etc/letsencrypt/live): postern's privileged helper reads the
files for the daemon, which runs as the user of [postern] by then."""

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import helpers

USER = "nobody"
NAME = "mail.example.org"


def make_pair(directory, stem, cn, san):
    crt = os.path.join(directory, stem + ".crt.pem")
    key = os.path.join(directory, stem + ".key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "2", "-sha256", "-subj", "/CN=" + cn,
         "-addext", "subjectAltName=" + san, "-keyout", key, "-out", crt],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(crt, 0o644)
    os.chmod(key, 0o600)
    return crt, key


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def served_cert(port, name=None):
    """The DER certificate a TLS client gets on port, asking for name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            return s.getpeercert(binary_form=True)


def link(target, path):
    """Points the symbolic link path at target at once, as certbot does."""
    tmp = path + ".new"
    os.symlink(target, tmp)
    os.rename(tmp, path)


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


@pytest.fixture
def le(start_postern):
    """A postern started as root with user nobody, its default and its
    [tls "NAME"] pair in a certbot layout: live/ links into archive/,
    both directories root's with mode 0700, keys 0600."""
    if os.geteuid() != 0:
        pytest.skip("needs root: postern changes to another user")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        pytest.skip("no user %s" % USER)
    top = helpers.private_tmpdir("postern-le.")
    archive = os.path.join(top, "archive")
    live = os.path.join(top, "live")
    os.mkdir(archive, 0o700)
    os.mkdir(live, 0o700)
    pairs = {"default": make_pair(archive, "default1", "postern-1",
                                  "DNS:localhost,IP:127.0.0.1"),
             "named": make_pair(archive, "named1", "named-1", "DNS:" + NAME)}
    paths = {}
    for which, (crt, key) in pairs.items():
        paths[which] = (os.path.join(live, which + ".crt.pem"),
                        os.path.join(live, which + ".key.pem"))
        link(crt, paths[which][0])
        link(key, paths[which][1])
    conf = {"postern": {"user": USER},
            "tls": {"certificate": paths["default"][0],
                    "private_key": paths["default"][1]},
            'tls "%s"' % NAME: {"certificate": paths["named"][0],
                                "private_key": paths["named"][1]}}
    p = start_postern(conf, start=False)
    # Where a sanitizer report of the unprivileged daemon can go.
    os.chmod(p.dir, 0o733)
    # The configuration where only root may change it (the helper reads
    # no file named by one that others may change), readable by the user.
    p.path = os.path.join(top, "postern.ini")
    p.update({})
    os.chmod(p.path, 0o644)
    p.start()
    yield {"p": p, "archive": archive, "live": live, "paths": paths,
           "pairs": pairs}
    shutil.rmtree(top, ignore_errors=True)


def renew(s, n, broken_key=False):
    """Writes pair n into archive/ and points live/ at it."""
    new = {}
    for which, cn, san in (("default", "postern-%d" % n,
                            "DNS:localhost,IP:127.0.0.1"),
                           ("named", "named-%d" % n, "DNS:" + NAME)):
        crt, key = make_pair(s["archive"], "%s%d" % (which, n), cn, san)
        if broken_key and which == "default":
            with open(key, "r+") as f:
                text = f.read()
                f.seek(0)
                f.truncate()
                f.write(text[:len(text) // 2])
        link(crt, s["paths"][which][0])
        link(key, s["paths"][which][1])
        new[which] = (crt, key)
    return new


def assert_root_only(path):
    st = os.stat(path)
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600, oct(st.st_mode)


def test_renewed_pair_taken_at_reload(le):
    s, p = le, le["p"]
    port = p.ports["pop3s"]
    assert served_cert(port) == der_of(s["pairs"]["default"][0])
    new = renew(s, 2)
    p.reload()
    p.wait_log("reload: configuration .* loaded")
    assert "reload: configuration refused" not in p.log(), p.log()
    assert served_cert(port) == der_of(new["default"][0])
    assert served_cert(port, NAME) == der_of(new["named"][0])
    assert served_cert(p.ports["imaps"], NAME) == der_of(new["named"][0])
    # Nothing was opened up for the user.
    for which in ("default", "named"):
        assert_root_only(new[which][1])
    assert os.stat(s["archive"]).st_mode & 0o777 == 0o700
    # The key's contents never reach the log.
    with open(new["default"][1]) as f:
        body = f.read().splitlines()[1]
    assert body not in p.log()


def make_chain(directory, stem):
    """A leaf for localhost signed by a CA of its own: the certificate file
    holds the leaf, then the CA, as certbot's fullchain.pem does."""
    ca_crt = os.path.join(directory, stem + ".ca.pem")
    ca_key = os.path.join(directory, stem + ".ca.key")
    csr = os.path.join(directory, stem + ".csr")
    leaf = os.path.join(directory, stem + ".leaf.pem")
    key = os.path.join(directory, stem + ".key.pem")
    ext = os.path.join(directory, stem + ".ext")
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
        "2", "-subj", "/CN=postern test CA " + stem, "-keyout", ca_key,
        "-out", ca_crt)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
        "/CN=" + stem, "-keyout", key, "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey",
        ca_key, "-CAcreateserial", "-days", "2", "-extfile", ext, "-out",
        leaf)
    full = os.path.join(directory, stem + ".fullchain.pem")
    with open(full, "w") as f:
        for part in (leaf, ca_crt):
            with open(part) as g:
                f.write(g.read())
    os.chmod(full, 0o644)
    os.chmod(key, 0o600)
    return full, leaf, ca_crt, key


def served_chain(port):
    """The PEM certificates openssl s_client is sent on port, in order."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-showcerts"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20, text=True)
    out, certs = r.stdout, []
    while "-----BEGIN CERTIFICATE-----" in out:
        start = out.index("-----BEGIN CERTIFICATE-----")
        end = out.index("-----END CERTIFICATE-----", start) + 25
        certs.append(ssl.PEM_cert_to_DER_cert(out[start:end]))
        out = out[end:]
    return certs


def test_renewed_chain_served_whole(le):
    """The helper's copy of a full chain gives the leaf and, after it, the
    intermediate, as the file itself does."""
    s, p = le, le["p"]
    full, leaf, ca, key = make_chain(s["archive"], "chain2")
    link(full, s["paths"]["default"][0])
    link(key, s["paths"]["default"][1])
    p.reload()
    p.wait_log("reload: configuration .* loaded")
    assert served_chain(p.ports["pop3s"]) == [der_of(leaf), der_of(ca)]


def test_broken_renewed_key_refused(le):
    s, p = le, le["p"]
    port = p.ports["pop3s"]
    good = renew(s, 2)
    p.reload()
    p.wait_log("reload: configuration .* loaded")
    renew(s, 3, broken_key=True)
    p.reload()
    p.wait_log("reload: configuration refused")
    log = p.log()
    assert ("[tls] private_key: '%s' holds no PEM private key"
            % s["paths"]["default"][1]) in log, log
    # The previous pair still serves.
    assert served_cert(port) == der_of(good["default"][0])
    assert served_cert(port, NAME) == der_of(good["named"][0])


def test_unreadable_key_refused_with_its_reason(le):
    s, p = le, le["p"]
    os.unlink(s["paths"]["named"][1])
    p.reload()
    p.wait_log("reload: configuration refused")
    log = p.log()
    assert ('[tls "%s"] private_key: cannot open \'%s\': No such file'
            % (NAME, s["paths"]["named"][1])) in log, log
    assert served_cert(p.ports["pop3s"]) == der_of(s["pairs"]["default"][0])


def test_configuration_others_may_change_is_not_trusted(le):
    """A configuration in a directory that others may write to could be
    replaced by one naming any file as a key: the helper reads nothing for
    it, and the reload, as the user, cannot read the key."""
    s, p = le, le["p"]
    os.chmod(os.path.dirname(p.path), 0o777)
    p.reload()
    p.wait_log("reload: configuration refused")
    log = p.log()
    assert ("reload: the privileged helper reads no key: the directory %s "
            "may be changed by others than root; reading the certificates "
            "and keys as user %s" % (os.path.dirname(p.path), USER)) in log, \
        log
    assert ("[tls] private_key: cannot open '%s': Permission denied"
            % s["paths"]["default"][1]) in log, log
    # Trusted again, the helper reads for it again.
    os.chmod(os.path.dirname(p.path), 0o755)
    p.reload()
    p.wait_log("reload: configuration .* loaded")


def test_helper_holds_nothing_and_ends_with_the_daemon(le):
    p = le["p"]
    kids = children(p.pid)
    assert len(kids) == 1, kids
    helper = kids[0]
    with open("/proc/%d/status" % helper) as f:
        status = f.read()
    uid_line = [ln for ln in status.splitlines() if ln.startswith("Uid:")]
    assert uid_line[0].split()[1:] == ["0"] * 4, uid_line
    # Root's files need no capability; at most CAP_DAC_READ_SEARCH (2)
    # stays, for a key of another owner.
    for name in ("CapEff", "CapPrm"):
        caps = [ln for ln in status.splitlines() if ln.startswith(name)]
        assert int(caps[0].split()[1], 16) & ~(1 << 2) == 0, caps
    fds = sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % helper))
    # Standard input, output and error, and the daemon's socket: no
    # listening socket, no log directory, no pid file.
    assert fds == [0, 1, 2, 3], fds
    assert p.stop() == 0, p.log()
    helpers.wait_for(lambda: not os.path.exists("/proc/%d" % helper), 10,
                     "the helper to end with the daemon")


def test_helper_gone_is_reaped_and_the_reload_says_why(le):
    """A helper killed from outside: the next reload finds it gone, reaps
    it, says so, and tries the files as the user (who cannot read the
    key here, so the reload is refused and the old pair kept)."""
    s, p = le, le["p"]
    (helper,) = children(p.pid)
    os.kill(helper, 9)
    p.reload()
    p.wait_log("reload: configuration refused")
    log = p.log()
    assert ("reload: the privileged helper is gone (killed by signal 9); "
            "reading the certificates and keys as user %s" % USER) in log, log
    assert ("[tls] private_key: cannot open '%s': Permission denied"
            % s["paths"]["default"][1]) in log, log
    helpers.wait_for(lambda: not os.path.exists("/proc/%d" % helper), 10,
                     "the killed helper to be reaped")
    assert served_cert(p.ports["pop3s"]) == der_of(s["pairs"]["default"][0])
    # Asked no more: the next reload says nothing of it.
    p.reload()
    p.wait_log("reload: configuration refused", count=2)
    assert p.log().count("privileged helper") == 1, p.log()


def test_no_helper_when_the_user_is_root(start_postern):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    p = start_postern({"postern": {"user": "root"}})
    assert children(p.pid) == []


def test_no_helper_without_user(start_postern):
    p = start_postern()
    assert children(p.pid) == []
