"""TLS session resumption through postern: a session stays with the
protocol it was made for (each protocol has its own session cache, ticket
keys and session id context), so an IMAPS session is never resumed on
POP3S, while resumption within one protocol works."""

import socket
import ssl

import pytest

from helpers import client_context


def connect(port, ctx, session=None):
    """A TLS connection that has read the greeting (which also brings a
    TLS 1.3 ticket); returns (session, resumed)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    try:
        greeting = s.recv(4096)
        assert greeting.startswith((b"* OK", b"+OK")), greeting
        sess, resumed = s.session, s.session_reused
        # An orderly end: OpenSSL drops a TLS 1.2 session from the server's
        # cache when the connection breaks off without close_notify.
        s.unwrap()
        return sess, resumed
    finally:
        s.close()


@pytest.mark.parametrize("version,tickets", [
    (ssl.TLSVersion.TLSv1_3, True),
    (ssl.TLSVersion.TLSv1_2, True),
    (ssl.TLSVersion.TLSv1_2, False)])
def test_session_resumes_only_on_its_own_protocol(start_postern, cert,
                                                  version, tickets):
    p = start_postern()
    ctx = client_context(cert[0])
    ctx.minimum_version = ctx.maximum_version = version
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    sess, resumed = connect(p.ports["imaps"], ctx)
    assert not resumed
    if version == ssl.TLSVersion.TLSv1_2:
        assert sess.has_ticket == tickets
    _, resumed = connect(p.ports["pop3s"], ctx, sess)
    assert not resumed, "an IMAPS session was resumed on POP3S"
    _, resumed = connect(p.ports["imaps"], ctx, sess)
    assert resumed, "an IMAPS session was not resumed on IMAPS"
    sess, _ = connect(p.ports["pop3s"], ctx)
    _, resumed = connect(p.ports["imaps"], ctx, sess)
    assert not resumed, "a POP3S session was resumed on IMAPS"
    _, resumed = connect(p.ports["pop3s"], ctx, sess)
    assert resumed, "a POP3S session was not resumed on POP3S"
