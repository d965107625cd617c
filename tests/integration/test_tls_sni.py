"""Certificates chosen by SNI: [tls "NAME"] sections beside the default
[tls] one, on implicit TLS and on STARTTLS, picked up by a reload, and
never bypassed by a session resumed under another name."""

import os
import re
import socket
import ssl
import subprocess
import tempfile

import pytest

EXACT = "mail.example.org"
WILDCARD = "*.example.org"


def make_named_cert(directory, stem, name):
    """A self-signed certificate for name; returns (certificate, key)."""
    crt = os.path.join(directory, stem + ".crt")
    key = os.path.join(directory, stem + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "2", "-sha256", "-subj", "/CN=" + stem,
         "-addext", "subjectAltName=DNS:" + name,
         "-keyout", key, "-out", crt],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="postern-sni.")
    return {"exact": make_named_cert(d, "exact", EXACT),
            "wild": make_named_cert(d, "wild", WILDCARD),
            "exact2": make_named_cert(d, "exact2", EXACT),
            "dir": d}


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def sni_conf(certs, exact="exact"):
    return {'tls "%s"' % EXACT: {"certificate": certs[exact][0],
                                 "private_key": certs[exact][1]},
            'tls "%s"' % WILDCARD: {"certificate": certs["wild"][0],
                                    "private_key": certs["wild"][1]}}


def s_client_cert(port, name, starttls=None):
    """The DER certificate that openssl s_client gets when it asks for
    name (None: no SNI at all)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    cmd += ["-noservername"] if name is None else ["-servername", name]
    if starttls:
        cmd += ["-starttls", starttls]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20, text=True)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                  r.stdout, re.S)
    assert m, "no certificate from s_client:\n%s\n%s" % (r.stdout, r.stderr)
    return ssl.PEM_cert_to_DER_cert(m.group(0))


# (name sent, which certificate): exact names win over the wildcard, a
# wildcard is one label, case and a trailing dot do not matter.
CASES = [
    (EXACT, "exact"),
    ("MAIL.Example.ORG.", "exact"),
    ("pop.example.org", "wild"),
    ("Imap.Example.Org", "wild"),
    ("a.pop.example.org", "default"),
    ("example.org", "default"),
    ("mail.example.net", "default"),
    (None, "default"),
]


@pytest.mark.parametrize("listener,starttls", [
    ("imaps", None), ("pop3s", None), ("imap", "imap"), ("pop3", "pop3")])
def test_certificate_by_server_name(start_postern, cert, certs, listener,
                                    starttls):
    p = start_postern(sni_conf(certs))
    expect = {"exact": der_of(certs["exact"][0]),
              "wild": der_of(certs["wild"][0]),
              "default": der_of(cert[0])}
    for name, which in CASES:
        got = s_client_cert(p.ports[listener], name, starttls)
        assert got == expect[which], "SNI %r did not get the %s " \
            "certificate" % (name, which)


def test_reload_replaces_a_sections_certificate(start_postern, certs):
    p = start_postern(sni_conf(certs))
    assert s_client_cert(p.ports["imaps"], EXACT) == \
        der_of(certs["exact"][0])
    p.reload(sni_conf(certs, exact="exact2"))
    p.wait_log(r"reload: configuration .* loaded")
    assert s_client_cert(p.ports["imaps"], EXACT) == \
        der_of(certs["exact2"][0])
    assert s_client_cert(p.ports["pop3"], EXACT, "pop3") == \
        der_of(certs["exact2"][0])


def test_reload_with_a_broken_section_keeps_the_old_certificates(
        start_postern, certs):
    p = start_postern(sni_conf(certs))
    broken = os.path.join(certs["dir"], "broken.crt")
    with open(broken, "w") as f:
        f.write("not a certificate\n")
    p.reload({'tls "%s"' % EXACT: {"certificate": broken}})
    p.wait_log(r"reload: configuration refused")
    # The file and line of the broken key, and its section.
    assert re.search(r"reload: .*postern\.ini:\d+: \[tls \"%s\"\] "
                     r"certificate: '%s' is not a PEM certificate"
                     % (re.escape(EXACT), re.escape(broken)), p.log()), \
        p.log()
    assert s_client_cert(p.ports["imaps"], EXACT) == \
        der_of(certs["exact"][0])
    assert s_client_cert(p.ports["imaps"], "x.example.org") == \
        der_of(certs["wild"][0])


def client_ctx(version, tickets):
    """A client that takes any certificate: the tests compare it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def tls_connect(ctx, port, name, session=None):
    """A TLS connection asking for name; returns (session, resumed, DER
    certificate) once the greeting (and a TLS 1.3 ticket) is read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    s = ctx.wrap_socket(raw, server_hostname=name, session=session)
    try:
        greeting = s.recv(4096)
        assert greeting.startswith((b"* OK", b"+OK")), greeting
        out = s.session, s.session_reused, s.getpeercert(binary_form=True)
        s.unwrap()
        return out
    finally:
        s.close()


@pytest.mark.parametrize("version,tickets", [
    (ssl.TLSVersion.TLSv1_3, True),
    (ssl.TLSVersion.TLSv1_2, True),
    (ssl.TLSVersion.TLSv1_2, False)])
def test_session_is_not_resumed_under_another_name(start_postern, cert,
                                                   certs, version, tickets):
    p = start_postern(sni_conf(certs))
    port = p.ports["imaps"]
    ctx = client_ctx(version, tickets)
    sess, resumed, der = tls_connect(ctx, port, EXACT, None)
    assert not resumed and der == der_of(certs["exact"][0])
    # Another name, with the session of the first: a full handshake that
    # shows the other name's certificate.
    _, resumed, der = tls_connect(ctx, port, "pop.example.org", sess)
    assert not resumed, "a session was resumed under another name"
    assert der == der_of(certs["wild"][0])
    _, resumed, der = tls_connect(ctx, port, "localhost", sess)
    assert not resumed, "a named session was resumed without its name"
    assert der == der_of(cert[0])
    # The same name resumes.
    _, resumed, der = tls_connect(ctx, port, EXACT, sess)
    assert resumed, "a session was not resumed under its own name"


def test_named_chain_and_key_type_replace_the_defaults(start_postern,
                                                       certs):
    """A section's certificate file may hold its chain, which is sent;
    and its pair replaces the default whatever the key types: an RSA
    name beside an ECDSA default must not let the client's preference for
    ECDSA pick the default."""
    d = certs["dir"]
    ec_crt, ec_key = os.path.join(d, "ec.crt"), os.path.join(d, "ec.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
         "/CN=ec-default", "-keyout", ec_key, "-out", ec_crt],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ca_crt, ca_key = make_named_cert(d, "ca", "ca.example.org")
    leaf_key = os.path.join(d, "leaf.key")
    leaf_csr = os.path.join(d, "leaf.csr")
    leaf_crt = os.path.join(d, "leaf.crt")
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
         "-subj", "/CN=leaf", "-keyout", leaf_key, "-out", leaf_csr],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(
        ["openssl", "x509", "-req", "-in", leaf_csr, "-CA", ca_crt,
         "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
         "-out", leaf_crt],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chain = os.path.join(d, "leaf-chain.crt")
    with open(chain, "w") as f:
        for path in (leaf_crt, ca_crt):
            with open(path) as g:
                f.write(g.read())
    p = start_postern({"tls": {"certificate": ec_crt, "private_key": ec_key},
                       'tls "rsa.example.org"': {"certificate": chain,
                                                 "private_key": leaf_key}})
    for version in ("-tls1_2", "-tls1_3"):
        r = subprocess.run(
            ["openssl", "s_client", version, "-showcerts", "-connect",
             "127.0.0.1:%d" % p.ports["imaps"], "-servername",
             "rsa.example.org"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
            text=True)
        sent = re.findall(
            r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
            r.stdout, re.S)
        assert [ssl.PEM_cert_to_DER_cert(c) for c in sent] == \
            [der_of(leaf_crt), der_of(ca_crt)], r.stdout + r.stderr
    assert s_client_cert(p.ports["imaps"], None) == der_of(ec_crt)
