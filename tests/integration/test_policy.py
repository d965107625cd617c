"""Access policy through postern with real clients: group requirements from
a groups file, connect-time rules, audit rules, login-type exemptions, and
a directory that cannot be reached."""

import imaplib
import os
import poplib
import socket
import ssl

import pytest

import helpers


def groups_file(tmp_path, text):
    path = tmp_path / "groups"
    path.write_text(text)
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    return str(path)


def connect_from(port, source, tls_ctx=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=20,
                                 source_address=(source, 0))
    if tls_ctx is not None:
        s = tls_ctx.wrap_socket(s, server_hostname="localhost")
    return s


def first_line(sock):
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_required_groups_per_protocol(start_postern, dovecot, tmp_path):
    gf = groups_file(tmp_path, "POP3 Access: alice\nIMAP Access: bob\n")
    p = start_postern({"groups": {"file": gf},
                       "pop3": {"required_group": "POP3 Access"},
                       "imap": {"required_group": "IMAP Access"}})
    pw = dovecot.users
    m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=20)
    m.user("alice")
    assert m.pass_(pw["alice"]).startswith(b"+OK")
    m.quit()
    m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=20)
    m.user("bob")
    with pytest.raises(poplib.error_proto) as e:
        m.pass_(pw["bob"])
    # The answer never names the group.
    assert e.value.args[0] == b"-ERR [AUTH] Access denied."
    m.quit()
    i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=20)
    with pytest.raises(imaplib.IMAP4.error) as e:
        i.login("alice", pw["alice"])
    assert b"[AUTHORIZATIONFAILED]" in e.value.args[0].encode() \
        if isinstance(e.value.args[0], str) else e.value.args[0]
    # The session goes on: another user may log in.
    assert i.login("bob", pw["bob"])[0] == "OK"
    i.logout()
    p.wait_log(r"user bob: NotInGroup:POP3 Access")
    p.wait_log(r"user alice: NotInGroup:IMAP Access")


def test_connect_time_rule_says_goodbye_before_any_password(
        start_postern, cert):
    p = start_postern({
        'rule "no lab"': {"priority": "10", "action": "deny",
                          "client_ips": "127.0.0.60-127.0.0.61"}})
    s = connect_from(p.ports["imap"], "127.0.0.60")
    assert first_line(s) == b"* BYE Access denied.\r\n"
    s.close()
    s = connect_from(p.ports["pop3"], "127.0.0.61")
    assert first_line(s) == b"-ERR [AUTH] Access denied.\r\n"
    s.close()
    # Over implicit TLS the goodbye comes after the handshake.
    s = connect_from(p.ports["imaps"], "127.0.0.60",
                     helpers.client_context(cert[0]))
    assert first_line(s) == b"* BYE Access denied.\r\n"
    s.close()
    # Anyone else is greeted.
    s = connect_from(p.ports["imap"], "127.0.0.62")
    assert first_line(s).startswith(b"* OK")
    s.close()
    p.wait_log(r"refused at connect: AccessRuleDenied:no lab", count=3)


def test_audit_rule_lets_the_login_through_and_says_so(start_postern,
                                                        dovecot):
    p = start_postern({
        'rule "would block"': {"priority": "5", "action": "audit",
                               "usernames": "car*"}})
    m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=20)
    m.user("carol")
    assert m.pass_(dovecot.users["carol"]).startswith(b"+OK")
    m.quit()
    p.wait_log(r"user carol: AuditAccessRuleDenied:would block")


def test_login_type_exemption_for_a_legacy_device(start_postern, dovecot):
    p = start_postern({"pop3": {"login_type": "SecureLogin",
                                "login_type_exempt_ips": "127.0.0.63"}})
    pw = dovecot.users["dave"]
    # The exempt scanner logs in without TLS.
    s = connect_from(p.ports["pop3"], "127.0.0.63")
    f = s.makefile("rwb")
    assert f.readline().startswith(b"+OK")
    f.write(b"CAPA\r\n")
    f.flush()
    capa = []
    while True:
        line = f.readline()
        capa.append(line)
        if line == b".\r\n":
            break
    assert b"USER\r\n" in capa
    f.write(b"USER dave\r\n")
    f.flush()
    assert f.readline().startswith(b"+OK")
    f.write(b"PASS " + pw.encode() + b"\r\n")
    f.flush()
    assert f.readline().startswith(b"+OK")
    s.close()
    # Anyone else must use TLS first.
    m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=20)
    with pytest.raises(poplib.error_proto):
        m.user("dave")
    m.quit()
    p.wait_log(r"allowed by login_type_exempt_ips")


def test_directory_down_is_a_temporary_failure(start_postern, dovecot):
    p = start_postern({"groups": {"ldap_uri": "ldap://127.0.0.1:9",
                                  "ldap_base": "dc=example,dc=org",
                                  "ldap_timeout": "2s"},
                       "pop3": {"required_group": "POP3 Access"},
                       "imap": {"required_group": "IMAP Access"}})
    m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=20)
    m.user("erin")
    with pytest.raises(poplib.error_proto) as e:
        m.pass_(dovecot.users["erin"])
    assert e.value.args[0].startswith(b"-ERR [SYS/TEMP]")
    # Never an allow, and the client may try again.
    assert m.user("erin").startswith(b"+OK")
    m.quit()
    i = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=20)
    with pytest.raises(imaplib.IMAP4.error) as e:
        i.login("erin", dovecot.users["erin"])
    assert "[UNAVAILABLE]" in str(e.value)
    i.logout()
    p.wait_log(r"user erin: GroupLookupFailed", count=2)


def test_sighup_reloads_groups_file_and_rules(start_postern, dovecot,
                                              tmp_path):
    gf = groups_file(tmp_path, "POP3 Access: alice\n")
    p = start_postern({"groups": {"file": gf},
                       "pop3": {"required_group": "POP3 Access"}})
    pw = dovecot.users

    def pop3_login(user):
        m = poplib.POP3("127.0.0.1", p.ports["pop3"], timeout=20)
        m.user(user)
        try:
            return m.pass_(pw[user])
        except poplib.error_proto as e:
            return e.args[0]
        finally:
            m.quit()

    assert pop3_login("frank").startswith(b"-ERR [AUTH]")
    # The administrator adds frank and, in the same reload, a rule.
    with open(gf, "w") as f:
        f.write("POP3 Access: alice, frank\n")
    p.reload({'rule "no alice"': {"priority": "1", "action": "deny",
                                  "usernames": "alice"}})
    p.wait_log(r"reload: configuration .* loaded")
    assert pop3_login("frank").startswith(b"+OK")
    assert pop3_login("alice").startswith(b"-ERR [AUTH]")
