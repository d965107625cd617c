"""The private Samba Active Directory domain controller of
contrib/samba-test.sh, for the integration tests: LDAP as AD answers it,
Kerberos, and NTLM through winbindd.

Samba listens on fixed ports (LDAP 389 and 636, the global catalog 3268
and 3269, the RPC endpoint mapper 135), so one DC serves a whole test run: the tests that use it are put in one xdist group
(run.sh distributes with --dist loadgroup), and the session fixture of
conftest.py starts it once.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import time

import helpers

SCRIPT = os.path.join(helpers.TOP, "contrib", "samba-test.sh")

# The directory, as in test_ldap.py's slapd: AD keeps nested groups as
# groups in the member attribute of the outer group, and a user's
# memberOf names only the groups it is a direct member of.
GROUPS = [
    ("Helpdesk", ["carol"]),
    ("POP3 Access", ["alice", "bob", "Helpdesk"]),
    ("Interns", ["frank"]),
    ("Staff", ["dave", "Interns"]),
    ("IMAP Access", ["alice", "Staff"]),
    ("Temps", ["mallory"]),
    ("Contractors", ["heidi", "Temps"]),
]

# The account postern binds with.
SERVICE_USER = "svc-postern"


# Dovecot (2.3) as a member of the domain.  Debian's Dovecot has no NTLM
# of its own: auth_use_winbind hands it to ntlm_auth, whose requests need
# winbindd's privileged pipe (root only here), and the DC's wrapper enters
# a mount namespace of its own; the keytab, too, is root's.  GSSAPI
# (dovecot-gssapi) accepts a ticket for any name in the keytab ("$ALL"),
# so imap/localhost and pop/localhost both work; libkrb5 in the auth
# process reads the domain's krb5.conf (KRB5_CONFIG), not the system's.
DOVECOT_CONF = """
auth_mechanisms = plain login ntlm gssapi
auth_use_winbind = yes
auth_winbind_helper_path = %(ntlm_auth)s
auth_krb5_keytab = %(keytab)s
auth_gssapi_hostname = "$ALL"
auth_username_format = %%Ln
auth_verbose = yes
import_environment = $import_environment KRB5_CONFIG=%(krb5_conf)s
service auth {
  user = root
}
"""


class KinitFailed(Exception):
    """The KDC gave no ticket (kinit's message says why)."""


class SambaMissing(Exception):
    """Samba cannot run here: not installed, not root, or one of its fixed
    ports taken."""


class SambaDC:
    """Provisions and starts a DC with the given users ({name: password})
    and GROUPS, plus the service account; records how long each step took
    in self.timing."""

    def __init__(self, users):
        self.dir = helpers.private_tmpdir("postern-samba.")
        self.users = dict(users)
        self.users[SERVICE_USER] = "svc-" + secrets.token_hex(8)
        groups = os.path.join(self.dir, "groups")
        with open(groups, "w") as f:
            for g, members in GROUPS:
                f.write("%s: %s\n" % (g, " ".join(members)))
        env = dict(os.environ)
        env["SAMBA_USERS"] = " ".join(
            "%s:%s" % kv for kv in self.users.items())
        t0 = time.monotonic()
        r = subprocess.run(["bash", SCRIPT, "start", self.dir, groups],
                           env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        self.timing = {"provision and start": time.monotonic() - t0}
        out = r.stdout.decode(errors="replace").strip()
        if r.returncode == 77:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise SambaMissing(out)
        if r.returncode != 0:
            log = self.log()
            self.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("samba-test.sh start failed:\n%s\n%s"
                               % (out, log[-4000:]))
        self.env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                self.env[k] = v
        with open(os.path.join(self.dir, "timing")) as f:
            self.timing["script"] = f.read().strip()
        self.base = self.env["SAMBA_BASE"]
        self.uri = self.env["SAMBA_LDAP_URI"]
        self.ca = self.env["SAMBA_CA"]
        self.domain = self.env["SAMBA_DOMAIN"]
        self.realm = self.env["SAMBA_REALM"]
        self.ntlm_auth = self.env["SAMBA_NTLM_AUTH"]
        self.keytab = self.env["SAMBA_KEYTAB"]
        self.krb5_conf = self.env["SAMBA_KRB5_CONF"]
        self.service_dn = "CN=%s,CN=Users,%s" % (SERVICE_USER, self.base)
        self.service_pwfile = os.path.join(self.dir, "service.pw")
        with open(self.service_pwfile, "w") as f:
            f.write(self.users[SERVICE_USER] + "\n")

    def dn(self, name):
        """The DN samba-tool gives a user or group of this domain."""
        return "CN=%s,CN=Users,%s" % (name, self.base)

    def ldapsearch(self, base, filt, *attrs, bind_dn=None, pwfile=None):
        """ldapsearch with StartTLS as the administrator (or bind_dn);
        returns its LDIF output (str)."""
        env = dict(os.environ, LDAPTLS_CACERT=self.ca)
        r = subprocess.run(
            ["ldapsearch", "-LLL", "-ZZ", "-x", "-o", "ldif-wrap=no",
             "-H", self.uri,
             "-D", bind_dn or self.env["SAMBA_ADMIN_DN"],
             "-y", pwfile or self.env["SAMBA_ADMIN_PWFILE"],
             "-b", base, filt] + list(attrs),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("ldapsearch: " + r.stderr.decode())
        return r.stdout.decode()

    def krb5_env(self, ccache=None):
        """The environment of a Kerberos client of this domain
        (KRB5_CONFIG) whose credential cache is the file ccache (default:
        a new empty one of its own, i.e. no ticket)."""
        if ccache is None:
            fd, ccache = tempfile.mkstemp(prefix="ccache.", dir=self.dir)
            os.close(fd)
            os.unlink(ccache)
        return dict(os.environ, KRB5_CONFIG=self.krb5_conf,
                    KRB5CCNAME="FILE:" + ccache)

    def kinit(self, user, password=None, ccache=None):
        """Gets user a ticket-granting ticket from the DC's KDC (password:
        default the user's own) into ccache (default: a new file); returns
        the environment for GSSAPI clients (curl, klist) that use it.
        Raises KinitFailed with kinit's message when the KDC refuses."""
        env = self.krb5_env(ccache)
        if password is None:
            password = self.users[user]
        r = subprocess.run(["kinit", "%s@%s" % (user, self.realm)],
                           input=(password + "\n").encode(), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        if r.returncode != 0:
            raise KinitFailed("kinit %s: %s" % (user, r.stdout.decode(
                errors="replace").strip()))
        return env

    def dovecot_conf(self):
        """Settings for helpers.Dovecot(extra_conf=...): a Dovecot that
        verifies NTLM through winbind against this domain and GSSAPI with
        the keytab of imap/localhost and pop/localhost, besides PLAIN and
        LOGIN against its own passwd-file.  The domain's names
        (alice@POSTERN.TEST, POSTERN\\alice from ntlm_auth as
        alice@POSTERN) become the local user alice (%Ln)."""
        return DOVECOT_CONF % {"ntlm_auth": self.ntlm_auth,
                               "keytab": self.keytab,
                               "krb5_conf": self.krb5_conf}

    def log(self):
        try:
            with open(os.path.join(self.dir, "samba.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        subprocess.run(["bash", SCRIPT, "stop", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
