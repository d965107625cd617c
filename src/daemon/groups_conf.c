/*
 * groups_conf: the [groups] section, the group sources, and the groups
 * file that a configuration snapshot holds.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "conf_table.h"
#include "groups.h"

/* The [groups] settings of the file being read. */
static struct groups_conf *
groups_load_conf(struct conf_loader *l)
{
	return &conf_loader_conf(l)->groups;
}

static const struct conf_enum ldap_nested_modes[] = {{"no", LDAP_NESTED_NO},
    {"in_chain", LDAP_NESTED_IN_CHAIN}, {"walk", LDAP_NESTED_WALK}, {NULL, 0}};

/* One or more ldap:// or ldaps:// URIs, separated by blanks. */
static int
p_ldap_uri(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	const char *p = v;
	int scheme = 0, s;
	size_t len;

	while (*p != '\0') {
		len = strcspn(p, " \t");
		if (len > 8 && strncasecmp(p, "ldaps://", 8) == 0)
			s = 2;
		else if (len > 7 && strncasecmp(p, "ldap://", 7) == 0)
			s = 1;
		else {
			conf_key_error(l, k,
			    "'%.*s' is not an ldap://host or ldaps://host URI",
			    (int)len, p);
			return -1;
		}
		if (scheme != 0 && s != scheme) {
			conf_key_error(l, k, "mixes ldap:// and ldaps:// URIs");
			return -1;
		}
		scheme = s;
		p += len;
		p += strspn(p, " \t");
	}
	return conf_key_string(l, k, v, dst);
}

/* Reads the bind password: the file's first line, without its newline. */
static int
p_password_file(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct groups_conf *gc = groups_load_conf(l);
	char buf[1024];
	size_t n;
	FILE *fp;

	if ((fp = fopen(v, "re")) == NULL) {
		conf_key_error(l, k, "cannot open '%s': %s", v,
		    strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || strlen(buf) != strcspn(buf, "\r\n")) {
		conf_key_error(l, k, "'%s' holds no password on its first line",
		    v);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	if (gc->ldap_bind_password != NULL) {
		OPENSSL_cleanse(gc->ldap_bind_password,
		    strlen(gc->ldap_bind_password));
		free(gc->ldap_bind_password);
	}
	gc->ldap_bind_password = conf_strdup(l, buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (gc->ldap_bind_password == NULL)
		return -1;
	return conf_key_string(l, k, v, dst);
}

static int
p_ldap_filter(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	char buf[1024];
	const char *p;
	int depth = 0;

	if (groups_ldap_filter(v, "x", buf, sizeof(buf)) == -1) {
		conf_key_error(l, k,
		    "'%s': only %%u, %%U and %%%% may follow a '%%' (or the "
		    "filter is too long)",
		    v);
		return -1;
	}
	for (p = v; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0)
			break;
	}
	if (v[0] != '(' || depth != 0) {
		conf_key_error(l, k,
		    "'%s' is not an LDAP filter in parentheses, as "
		    "(sAMAccountName=%%u)",
		    v);
		return -1;
	}
	if (strstr(v, "%u") == NULL && strstr(v, "%U") == NULL) {
		conf_key_error(l, k,
		    "'%s' does not use the user name (%%u or %%U)", v);
		return -1;
	}
	return conf_key_string(l, k, v, dst);
}

/* An attribute name (RFC 4512 descr) or numeric OID. */
static int
p_ldap_attr(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	const char *p;
	bool ok = isalpha((unsigned char)v[0]) || isdigit((unsigned char)v[0]);

	for (p = v; ok && *p != '\0'; p++)
		ok = isalnum((unsigned char)*p) || *p == '-' ||
		     (*p == '.' && isdigit((unsigned char)v[0]));
	if (!ok) {
		conf_key_error(l, k, "'%s' is not an attribute name", v);
		return -1;
	}
	return conf_key_string(l, k, v, dst);
}

#define GO(f) offsetof(struct groups_conf, f)

static const struct conf_key keys[] = {
    {"file", conf_key_abspath, GO(file), 0, 0, 0, NULL},
    {"ldap_uri", p_ldap_uri, GO(ldap_uri), 0, 0, 0, NULL},
    {"ldap_ca_file", conf_key_cafile, GO(ldap_ca_file), 0, 0, 0, NULL},
    {"ldap_starttls", conf_key_bool, GO(ldap_starttls), 0, 0, 0, NULL},
    {"ldap_tls_verify", conf_key_bool, GO(ldap_tls_verify), 0, 0, 0, NULL},
    {"ldap_bind_dn", conf_key_string, GO(ldap_bind_dn), 0, 0, 0, NULL},
    {"ldap_bind_password_file", p_password_file, GO(ldap_bind_password_file), 0,
	0, 0, NULL},
    {"ldap_base", conf_key_string, GO(ldap_base), 0, 0, 0, NULL},
    {"ldap_user_filter", p_ldap_filter, GO(ldap_user_filter), 0, 0, 0, NULL},
    {"ldap_group_attribute", p_ldap_attr, GO(ldap_group_attribute), 0, 0, 0,
	NULL},
    {"ldap_nested", conf_key_enum, GO(ldap_nested), 0, 0, 0, ldap_nested_modes},
    {"ldap_timeout", conf_key_duration, GO(ldap_timeout_ms), 100,
	5 * CONF_MIN_MS, 0, NULL},
    {"ldap_threads", conf_key_uint, GO(ldap_threads), 1, 64, 0, NULL},
    {"group_cache_ttl", conf_key_duration, GO(cache_ttl_ms), 0, CONF_DAY_MS, 0,
	NULL},
};

static void *
groups_base(struct conf *c, unsigned inst)
{
	(void)inst;
	return &c->groups;
}

static const struct conf_section sections[] = {{"groups", 1, NULL, NULL}};

static const struct conf_table tables[] = {
    {"groups", groups_base, keys, sizeof(keys) / sizeof(keys[0])}};

static int
groups_defaults(struct conf_loader *l, struct conf *c)
{
	struct groups_conf *gc = &c->groups;

	gc->ldap_starttls = true;
	gc->ldap_tls_verify = true;
	gc->ldap_nested = LDAP_NESTED_NO;
	gc->ldap_timeout_ms = 5 * CONF_SEC_MS;
	gc->ldap_threads = 4;
	gc->cache_ttl_ms = 5 * CONF_MIN_MS;
	if ((gc->ldap_user_filter = conf_strdup(l, "(sAMAccountName=%u)")) ==
		NULL ||
	    (gc->ldap_group_attribute = conf_strdup(l, "memberOf")) == NULL)
		return -1;
	return 0;
}

/* The file's errors, at the line of the file key. */
struct file_errors {
	struct conf_loader *l;
	const struct groups_conf *gc;
};

static void
groups_file_error(void *arg, int line, const char *msg)
{
	struct file_errors *fe = arg;
	int at = conf_key_line(fe->l, "groups", 0, "file");

	if (line > 0)
		conf_error(fe->l, at, "[groups] file: %s:%d: %s", fe->gc->file,
		    line, msg);
	else
		conf_error(fe->l, at, "[groups] file: %s: %s", fe->gc->file,
		    msg);
}

static void
groups_check(struct conf_loader *l, struct conf *c)
{
	struct groups_conf *gc = &c->groups;
	struct file_errors fe = {l, gc};
	int line;

	if (gc->file != NULL)
		gc->file_groups =
		    groups_file_load(gc->file, groups_file_error, &fe);
	if (gc->ldap_uri != NULL) {
		line = conf_key_line(l, "groups", 0, "ldap_uri");
		if (gc->ldap_base == NULL)
			conf_error(l, line,
			    "[groups] ldap_uri needs ldap_base (where users "
			    "are searched)");
		if (gc->ldap_bind_dn != NULL &&
		    conf_key_line(l, "groups", 0, "ldap_bind_password_file") ==
			0)
			conf_error(l,
			    conf_key_line(l, "groups", 0, "ldap_bind_dn"),
			    "[groups] ldap_bind_dn needs "
			    "ldap_bind_password_file");
		if (gc->ldap_bind_dn == NULL &&
		    conf_key_line(l, "groups", 0, "ldap_bind_password_file") !=
			0)
			conf_error(l,
			    conf_key_line(l, "groups", 0,
				"ldap_bind_password_file"),
			    "[groups] ldap_bind_password_file needs "
			    "ldap_bind_dn");
	}
}

static void
groups_conf_free(struct conf *c)
{
	struct groups_conf *gc = &c->groups;

	free(gc->file);
	groups_file_free(gc->file_groups);
	free(gc->ldap_uri);
	free(gc->ldap_ca_file);
	free(gc->ldap_bind_dn);
	free(gc->ldap_bind_password_file);
	if (gc->ldap_bind_password != NULL) {
		OPENSSL_cleanse(gc->ldap_bind_password,
		    strlen(gc->ldap_bind_password));
		free(gc->ldap_bind_password);
	}
	free(gc->ldap_base);
	free(gc->ldap_user_filter);
	free(gc->ldap_group_attribute);
}

/* Only when a group source is configured. */
static void
groups_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	const struct groups_conf *gc = &c->groups;

	(void)inst;
	if (gc->file == NULL && gc->ldap_uri == NULL)
		return;
	conf_dump_str(d, "GroupsFile", gc->file);
	conf_dump_str(d, "LdapUri", gc->ldap_uri);
	conf_dump_str(d, "LdapCaFile", gc->ldap_ca_file);
	conf_dump_bool(d, "LdapStartTls", gc->ldap_starttls);
	conf_dump_bool(d, "LdapTlsVerify", gc->ldap_tls_verify);
	conf_dump_str(d, "LdapBindDn", gc->ldap_bind_dn);
	conf_dump_str(d, "LdapBindPasswordFile", gc->ldap_bind_password_file);
	conf_dump_str(d, "LdapBase", gc->ldap_base);
	conf_dump_str(d, "LdapUserFilter", gc->ldap_user_filter);
	conf_dump_str(d, "LdapGroupAttribute", gc->ldap_group_attribute);
	conf_dump_str(d, "LdapNested",
	    conf_enum_name(ldap_nested_modes, (int)gc->ldap_nested));
	conf_fmt_timespan(gc->ldap_timeout_ms, conf_dump_row(d, "LdapTimeout"),
	    CONF_DUMP_VALUE);
	conf_dump_set(d, "LdapThreads", "%u", gc->ldap_threads);
	conf_fmt_timespan(gc->cache_ttl_ms, conf_dump_row(d, "GroupCacheTtl"),
	    CONF_DUMP_VALUE);
}

const struct conf_module groups_conf_module = {
    .name = "groups",
    .sections = sections,
    .nsections = 1,
    .tables = tables,
    .ntables = 1,
    .defaults = groups_defaults,
    .check = groups_check,
    .free = groups_conf_free,
    .dump = groups_dump,
};
