"""postern -t run as root with a user: it warns of every file that a
reload reads again and that the user postern changes to cannot read (the
reload would be refused, since the privileges are dropped by then), and
of every protocol-log directory the user cannot write to; except the
certificates and keys, which the privileged helper reads for a
configuration that only root may change."""

import os
import pwd
import shutil
import subprocess

import pytest

import helpers
from helpers import render_ini

USER = "nobody"


@pytest.fixture
def setup(postern_bin, dovecot):
    if os.geteuid() != 0:
        pytest.skip("needs root: postern -t checks as the user of "
                    "[postern]")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        pytest.skip("no user %s" % USER)
    d = helpers.private_tmpdir("postern-files.")
    crt, key = helpers.make_cert(d, "postern")
    os.chmod(crt, 0o644)
    # As certbot leaves a renewed key: root's, mode 0600.
    os.chmod(key, 0o600)
    groups = os.path.join(d, "groups")
    with open(groups, "w") as f:
        f.write("Mail Users: carol\n")
    os.chmod(groups, 0o600)
    ports = helpers.free_ports(2)
    conf = {
        "postern": {"user": USER},
        "tls": {"certificate": crt, "private_key": key},
        "groups": {"file": groups},
    }
    for name, port in zip(("pop3", "imap"), ports):
        conf[name] = {"unencrypted_or_tls_bindings": "127.0.0.1:%d" % port,
                      "ssl_bindings": "",
                      "login_type": "PlainTextLogin",
                      "backend": "127.0.0.1:%d" % dovecot.ports[name]}
    path = os.path.join(d, "postern.ini")
    with open(path, "w") as f:
        f.write(render_ini(conf))
    os.chmod(path, 0o644)
    yield {"dir": d, "path": path, "crt": crt, "key": key,
           "groups": groups, "gid": pw.pw_gid}
    shutil.rmtree(d, ignore_errors=True)


def check(binary, path):
    r = subprocess.run([binary, "-t", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stderr.decode()


def line_of(path, needle):
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.startswith(needle):
                return i
    raise AssertionError(needle)


def test_check_warns_of_files_the_user_cannot_read(postern_bin, setup):
    s = setup
    os.chmod(s["crt"], 0o600)
    rc, err = check(postern_bin, s["path"])
    # Only a warning: the daemon starts, as root, with this file.
    assert rc == 0, err
    assert "configuration is valid" in err, err
    assert "[groups] file %s: not readable" % s["groups"] in err, err
    # The helper reads the 0600 certificate and key of root's.
    assert "[tls]" not in err, err
    assert "the configuration file" not in err, err
    assert "privileged helper" not in err, err

    # The usual fix: the file's group is the user's, mode 0640.
    os.chown(s["groups"], 0, s["gid"])
    os.chmod(s["groups"], 0o640)
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    assert "not readable" not in err, err
    assert "warning" not in err, err


def test_check_warns_of_keys_when_others_may_change_the_file(postern_bin,
                                                            setup):
    """A configuration that others than root may change gets no help: the
    user must then read the keys itself, and -t says so."""
    s = setup
    os.chmod(s["groups"], 0o644)
    os.chmod(s["path"], 0o664)
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    assert ("%s: warning: the configuration file %s may be changed by "
            "others than root: the privileged helper will not read the "
            "certificates and keys for a reload, which user %s must then "
            "read itself" % (s["path"], s["path"], USER)) in err, err
    key_line = line_of(s["path"], "private_key")
    assert ("%s:%d: warning: [tls] private_key %s: not readable by user "
            "%s" % (s["path"], key_line, s["key"], USER)) in err, err
    assert "[tls] certificate" not in err, err


def test_check_warns_of_a_log_directory_the_user_cannot_reach(postern_bin,
                                                              setup):
    s = setup
    os.chmod(s["groups"], 0o644)
    closed = os.path.join(s["dir"], "closed")
    os.mkdir(closed, 0o700)
    logs = os.path.join(closed, "logs")
    with open(s["path"], "a") as f:
        f.write("\n")
    text = open(s["path"]).read().replace(
        "[imap]\n", "[imap]\nprotocol_log_enabled = yes\n"
        "log_file_location = %s\n" % logs)
    with open(s["path"], "w") as f:
        f.write(text)
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    line = line_of(s["path"], "log_file_location")
    assert ("%s:%d: warning: [imap] log_file_location %s: user %s cannot "
            "create files in it (Permission denied)" % (s["path"], line,
                                                        logs, USER)) in err, \
        err
    # Once the user may pass, nothing is said.
    os.chmod(closed, 0o755)
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    assert "warning" not in err, err


def test_check_warns_of_an_unreachable_configuration(postern_bin, setup):
    """The directory on the way counts too: the file itself is 0644 but
    the user cannot enter its directory."""
    s = setup
    os.chmod(s["key"], 0o644)
    os.chmod(s["groups"], 0o644)
    os.chmod(s["dir"], 0o700)
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    assert ("%s: warning: the configuration file %s: not readable by user "
            "%s (Permission denied)" % (s["path"], s["path"], USER)) in err, \
        err


def test_check_without_user_warns_of_nothing(postern_bin, setup):
    s = setup
    with open(s["path"]) as f:
        text = f.read().replace("user = %s\n" % USER, "")
    with open(s["path"], "w") as f:
        f.write(text)
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    assert "not readable" not in err, err


def test_check_warns_of_every_named_sections_key(postern_bin, setup):
    """Each [tls "NAME"] section's files are read again too: none is named
    while the helper reads them; once the configuration may be changed by
    others, every one is, each with its line."""
    s = setup
    os.chmod(s["groups"], 0o644)
    keys = []
    with open(s["path"], "a") as f:
        for i in range(12):
            key = os.path.join(s["dir"], "n%d.key" % i)
            shutil.copy(s["key"], key)
            os.chmod(key, 0o600)
            keys.append(key)
            f.write('\n[tls "n%d.example.org"]\ncertificate = %s\n'
                    'private_key = %s\n' % (i, s["crt"], key))
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    assert "not readable" not in err, err
    os.chmod(s["path"], 0o646)
    rc, err = check(postern_bin, s["path"])
    assert rc == 0, err
    for i, key in enumerate(keys):
        line = line_of(s["path"], "private_key = %s" % key)
        assert ('%s:%d: warning: [tls "n%d.example.org"] private_key %s: '
                'not readable by user %s' % (s["path"], line, i, key, USER)) \
            in err, err
    assert err.count("not readable") == len(keys) + 1, err
    assert "[tls] private_key %s: not readable" % s["key"] in err, err
