/*
 * policy_conf: the access policy's settings: [rule "<name>"] sections,
 * and the protocols' login_type_exempt_ips and required_group.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addrset.h"
#include "conf.h"
#include "conf_table.h"
#include "groups.h"
#include "policy.h"
#include "proto.h"

#define LIMIT_MAX 1000000
/* Longest rule name; it appears in log rows as AccessRuleDenied:<name>. */
#define RULE_NAME_MAX POLICY_RULE_NAME_MAX
#define GROUP_NAME_MAX 1024

/* The lines of each member_of and except_member_of value of a rule. */
struct rule_lines {
	int *glines[2]; /* member_of, except_member_of */
	size_t nglines[2];
};

/* While a file is read: parallel to c->rules until the check sorts it. */
struct policy_load {
	struct rule_lines *rl;
	size_t n, cap;
};

static const struct conf_enum rule_actions[] = {{"allow", RULE_ALLOW},
    {"deny", RULE_DENY}, {"audit", RULE_AUDIT}, {NULL, 0}};

#define RO(f) offsetof(struct rule, f)

static int
strlist_push(struct conf_loader *l, struct strlist *sl, const char *s)
{
	char **v;

	if ((v = reallocarray(sl->v, sl->n + 1, sizeof(*v))) == NULL) {
		conf_oom(l);
		return -1;
	}
	sl->v = v;
	if ((sl->v[sl->n] = conf_strdup(l, s)) == NULL)
		return -1;
	sl->n++;
	return 0;
}

static void
strlist_free(struct strlist *sl)
{
	size_t i;

	for (i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	sl->v = NULL;
	sl->n = 0;
}

/* A protocol by its section's name or by Exchange's: pop3, imap, imap4. */
static int
protocol_item(struct conf_loader *l, const struct conf_key *k, const char *s,
    void *dst)
{
	char list[64];
	size_t n = 0;
	int p;

	for (p = 0; p < PROTO_COUNT; p++) {
		const struct proto *d = proto_get(p);

		if (strcasecmp(s, d->section) == 0 ||
		    strcasecmp(s, d->name) == 0) {
			*(unsigned *)dst |= 1u << p;
			return 0;
		}
	}
	list[0] = '\0';
	for (p = 0; p < PROTO_COUNT && n < sizeof(list); p++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    p == 0 ? "" : " or ", proto_get(p)->section);
	conf_key_error(l, k, "'%s' is not %s", s, list);
	return -1;
}

static int
user_item(struct conf_loader *l, const struct conf_key *k, const char *s,
    void *dst)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			conf_key_error(l, k,
			    "'%s' is not a user name pattern (no blanks or "
			    "control characters)",
			    s);
			return -1;
		}
	}
	return strlist_push(l, dst, s);
}

static int
auth_item(struct conf_loader *l, const struct conf_key *k, const char *s,
    void *dst)
{
	if (strcasecmp(s, "cleartext_without_tls") == 0)
		*(unsigned *)dst |= RULE_AUTH_CLEARTEXT_WITHOUT_TLS;
	else if (strcasecmp(s, "tls") == 0)
		*(unsigned *)dst |= RULE_AUTH_TLS;
	else {
		conf_key_error(l, k, "'%s' is not cleartext_without_tls or tls",
		    s);
		return -1;
	}
	return 0;
}

static int
p_protocols(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	return conf_for_items(l, k, v, "", protocol_item, dst);
}

static int
p_usernames(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	return conf_for_items(l, k, v, "", user_item, dst);
}

static int
p_auth(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	return conf_for_items(l, k, v, "", auth_item, dst);
}

/* A group name: a name or a DN, one per value, so commas are allowed. */
static int
check_group(struct conf_loader *l, const struct conf_key *k, const char *v)
{
	const char *p;

	if (*v == '\0') {
		conf_key_error(l, k, "empty group name");
		return -1;
	}
	if (strlen(v) >= GROUP_NAME_MAX) {
		conf_key_error(l, k, "group name longer than %d characters",
		    GROUP_NAME_MAX - 1);
		return -1;
	}
	for (p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f) {
			conf_key_error(l, k, "control character in group name");
			return -1;
		}
	}
	return 0;
}

static int
p_group(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	if (check_group(l, k, v) == -1)
		return -1;
	return conf_key_string(l, k, v, dst);
}

static int
p_groups(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	struct policy_load *st = conf_state(l, &policy_conf_module);
	struct rule_lines *rs = &st->rl[conf_instance(l)];
	int which = k->offset == RO(except.member_of) ? 1 : 0, *lines;

	if (check_group(l, k, v) == -1 || strlist_push(l, dst, v) == -1)
		return -1;
	lines = reallocarray(rs->glines[which], rs->nglines[which] + 1,
	    sizeof(*lines));
	if (lines == NULL) {
		conf_oom(l);
		return -1;
	}
	lines[rs->nglines[which]++] = conf_lineno(l);
	rs->glines[which] = lines;
	return 0;
}

static const struct conf_key rule_keys[] = {
    {"priority", conf_key_uint, RO(priority), 0, LIMIT_MAX, 0, NULL},
    {"action", conf_key_enum, RO(action), 0, 0, 0, rule_actions},
    {"enabled", conf_key_bool, RO(enabled), 0, 0, 0, NULL},
    {"protocols", p_protocols, RO(cond.protocols), 0, 0, CONF_LIST, NULL},
    {"client_ips", conf_key_addrset, RO(cond.client_ips), 0, 0, CONF_LIST,
	NULL},
    {"usernames", p_usernames, RO(cond.usernames), 0, 0, CONF_LIST, NULL},
    {"member_of", p_groups, RO(cond.member_of), 0, 0, CONF_LIST, NULL},
    {"authentication", p_auth, RO(cond.authentication), 0, 0, CONF_LIST, NULL},
    {"except_protocols", p_protocols, RO(except.protocols), 0, 0, CONF_LIST,
	NULL},
    {"except_client_ips", conf_key_addrset, RO(except.client_ips), 0, 0,
	CONF_LIST, NULL},
    {"except_usernames", p_usernames, RO(except.usernames), 0, 0, CONF_LIST,
	NULL},
    {"except_member_of", p_groups, RO(except.member_of), 0, 0, CONF_LIST, NULL},
    {"except_authentication", p_auth, RO(except.authentication), 0, 0,
	CONF_LIST, NULL},
    {"route", conf_key_string, RO(route), 0, 0, 0, NULL},
};

#define PO(f) offsetof(struct proto_conf, f)

static const struct conf_enum gssapi_without_group[] = {{"refuse", 0},
    {"allow", 1}, {NULL, 0}};

/* The access policy's keys of each protocol section. */
static const struct conf_key proto_keys[] = {
    {"login_type_exempt_ips", conf_key_addrset, PO(login_type_exempt_ips), 0, 0,
	CONF_LIST, NULL},
    {"required_group", p_group, PO(required_group), 0, 0, 0, NULL},
    {"gssapi_without_group", conf_key_enum, PO(gssapi_without_group), 0, 0, 0,
	gssapi_without_group},
};

static void *
rule_base(struct conf *c, unsigned inst)
{
	return &c->rules[inst];
}

static void *
proto_base(struct conf *c, unsigned inst)
{
	return &c->proto[inst];
}

/* A [rule "<name>"] header; rest is what follows "rule". */
static int
rule_open(struct conf_loader *l, const char *rest, char *label, size_t size)
{
	struct policy_load *st = conf_state(l, &policy_conf_module);
	struct conf *c = conf_loader_conf(l);
	const char *p, *q, *x;
	struct rule_lines *rl;
	struct rule *v, *r;
	size_t len, i;

	if ((p = conf_section_label(l, rest, "rule", "name", &len)) == NULL)
		return -1;
	q = p + len;
	if (len == 0 || len > RULE_NAME_MAX || p[0] == ' ' ||
	    p[len - 1] == ' ') {
		conf_error(l, conf_lineno(l),
		    "rule name must be 1-%d characters without blanks at "
		    "either end",
		    RULE_NAME_MAX);
		return -1;
	}
	for (x = p; x < q; x++) {
		if (*x < 0x20 || *x > 0x7e || *x == '\\' || *x == ';' ||
		    *x == ']') {
			conf_error(l, conf_lineno(l),
			    "rule name must be printable ASCII without '\\', "
			    "';' or ']'");
			return -1;
		}
	}
	for (i = 0; i < c->nrules; i++) {
		if (strlen(c->rules[i].name) == len &&
		    strncasecmp(c->rules[i].name, p, len) == 0) {
			conf_error(l, conf_lineno(l),
			    "duplicate rule \"%.*s\" (first at line %d)",
			    (int)len, p, c->rules[i].line);
			return -1;
		}
	}
	if (c->nrules == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 8;

		if ((v = reallocarray(c->rules, cap, sizeof(*v))) == NULL) {
			conf_oom(l);
			return -1;
		}
		c->rules = v;
		if ((rl = reallocarray(st->rl, cap, sizeof(*rl))) == NULL) {
			conf_oom(l);
			return -1;
		}
		st->rl = rl;
		st->cap = cap;
	}
	r = &c->rules[c->nrules];
	memset(r, 0, sizeof(*r));
	memset(&st->rl[c->nrules], 0, sizeof(*st->rl));
	if ((r->name = strndup(p, len)) == NULL) {
		conf_oom(l);
		return -1;
	}
	r->line = conf_lineno(l);
	r->enabled = true;
	r->route_index = -1;
	snprintf(label, size, "rule \"%s\"", r->name);
	st->n = c->nrules + 1;
	return (int)c->nrules++;
}

static const struct conf_section sections[] = {{"rule", 0, NULL, rule_open}};

static const struct conf_table tables[] = {
    {"rule", rule_base, rule_keys, sizeof(rule_keys) / sizeof(rule_keys[0])},
    {"protocol", proto_base, proto_keys,
	sizeof(proto_keys) / sizeof(proto_keys[0])},
};

static int
policy_defaults(struct conf_loader *l, struct conf *c)
{
	static atomic_uint_fast64_t serials;

	(void)l;
	c->serial = atomic_fetch_add(&serials, 1) + 1;
	return 0;
}

/* The line where rule i first set key, 0 if never. */
static int
rule_key_line(const struct conf_loader *l, size_t i, const char *key)
{
	return conf_key_line(l, "rule", (unsigned)i, key);
}

/* A group named in the configuration must exist somewhere. */
static void
check_group_ref(struct conf_loader *l, const struct conf *c, int line,
    const char *where, const char *key, const char *group)
{
	const struct groups_conf *gc = &c->groups;

	if (gc->file == NULL && gc->ldap_uri == NULL)
		conf_error(l, line,
		    "[%s] %s: group '%s' needs a group source: set file or "
		    "ldap_uri in [groups]",
		    where, key, group);
	else if (gc->ldap_uri == NULL && gc->file_groups != NULL &&
		 !groups_file_has_group(gc->file_groups, group))
		conf_error(l, line,
		    "[%s] %s: group '%s' is not in the groups file %s", where,
		    key, group, gc->file);
}

/* A condition written with no value matches nothing: refuse it. */
static void
check_empty(struct conf_loader *l, const struct rule *r, size_t i,
    const char *key, bool empty)
{
	int line = rule_key_line(l, i, key);

	/* A value already refused has been reported. */
	if (line != 0 && empty && !conf_has_error_at(l, line))
		conf_error(l, line,
		    "[rule \"%s\"] %s: no value (remove the key to leave the "
		    "condition out)",
		    r->name, key);
}

static void
check_rule_match(struct conf_loader *l, const struct rule *r, size_t i,
    const struct rule_match *m, bool except)
{
	char key[32];

#define CHECK(name, empty)                                                     \
	(snprintf(key, sizeof(key), "%s%s", except ? "except_" : "", name),    \
	    check_empty(l, r, i, key, empty))
	CHECK("protocols", m->protocols == 0);
	CHECK("client_ips",
	    m->client_ips == NULL || addrset_count(m->client_ips) == 0);
	CHECK("usernames", m->usernames.n == 0);
	CHECK("authentication", m->authentication == 0);
#undef CHECK
	if (m->client_ips != NULL)
		addrset_finish(m->client_ips);
}

/*
 * A rule's route: a [backend "<name>"] (the routing module has read them
 * by now) or "default", the protocol's own.  Only an allow rule routes:
 * a deny sends nobody anywhere, and an audit rule is a deny being tried
 * out, whose logins must go where they went before.  A backend without
 * the addresses of a protocol the rule lets through would fail every
 * such login, so it is refused here as the map refuses it.
 */
static void
check_rule_route(struct conf_loader *l, const struct conf *c, struct rule *r,
    size_t i)
{
	const struct routing_conf *rc = &c->routing;
	int line = rule_key_line(l, i, "route");
	const struct backend *b = NULL;
	size_t j;
	unsigned p;

	if (r->route == NULL || conf_has_error_at(l, line))
		return;
	if (r->action != RULE_ALLOW) {
		conf_error(l, line,
		    "[rule \"%s\"] route: only an allow rule routes (action "
		    "is %s)",
		    r->name, conf_enum_name(rule_actions, (int)r->action));
		return;
	}
	if (strcasecmp(r->route, BACKEND_DEFAULT_NAME) == 0) {
		r->route_index = (int)rc->nnamed;
		return;
	}
	for (j = 0; j < rc->nnamed && b == NULL; j++)
		if (strcasecmp(rc->named[j]->name, r->route) == 0)
			b = rc->named[j];
	if (b == NULL) {
		conf_error(l, line,
		    "[rule \"%s\"] route: no [backend \"%s\"] section (nor "
		    "\"%s\", the protocol's own backend)",
		    r->name, r->route, BACKEND_DEFAULT_NAME);
		return;
	}
	for (p = 0; p < PROTO_COUNT; p++) {
		if (!c->proto[p].enabled || b->pool[p].n > 0 ||
		    (r->cond.protocols != 0 &&
			!(r->cond.protocols & (1u << p))))
			continue;
		conf_error(l, line,
		    "[rule \"%s\"] route: backend '%s' has no %s addresses, "
		    "and the rule lets %s logins through (set %s in [backend "
		    "\"%s\"], line %d, or protocols in the rule)",
		    r->name, r->route, proto_get((enum proto_id)p)->section,
		    proto_get((enum proto_id)p)->section,
		    proto_get((enum proto_id)p)->section, b->name, b->line);
		return;
	}
	r->route_index = (int)(j - 1);
}

static int
rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->priority < y->priority ? -1 : x->priority > y->priority;
}

static void
policy_check(struct conf_loader *l, struct conf *c)
{
	struct policy_load *st = conf_state(l, &policy_conf_module);
	const struct rule_lines *rl;
	const struct rule *r;
	struct proto_conf *pc;
	char where[RULE_NAME_MAX + 8];
	size_t i, j, w;
	unsigned p;

	for (i = 0; i < c->nrules; i++) {
		r = &c->rules[i];
		rl = &st->rl[i];
		check_rule_route(l, c, &c->rules[i], i);
		snprintf(where, sizeof(where), "rule \"%s\"", r->name);
		if (rule_key_line(l, i, "priority") == 0)
			conf_error(l, r->line, "[rule \"%s\"] has no priority",
			    r->name);
		if (rule_key_line(l, i, "action") == 0)
			conf_error(l, r->line,
			    "[rule \"%s\"] has no action (allow, deny or "
			    "audit)",
			    r->name);
		check_rule_match(l, r, i, &r->cond, false);
		check_rule_match(l, r, i, &r->except, true);
		for (w = 0; w < 2; w++) {
			const struct strlist *sl =
			    w ? &r->except.member_of : &r->cond.member_of;

			for (j = 0; j < sl->n; j++)
				check_group_ref(l, c, rl->glines[w][j], where,
				    w ? "except_member_of" : "member_of",
				    sl->v[j]);
		}
		for (j = 0; j < i; j++) {
			if (rule_key_line(l, i, "priority") == 0 ||
			    rule_key_line(l, j, "priority") == 0 ||
			    c->rules[j].priority != r->priority)
				continue;
			conf_error(l, rule_key_line(l, i, "priority"),
			    "[rule \"%s\"] priority %u is also the priority "
			    "of rule \"%s\" (line %d); priorities must be "
			    "unique",
			    r->name, r->priority, c->rules[j].name,
			    rule_key_line(l, j, "priority"));
			break;
		}
	}
	for (p = 0; p < PROTO_COUNT; p++) {
		pc = &c->proto[p];
		if (pc->login_type_exempt_ips != NULL)
			addrset_finish(pc->login_type_exempt_ips);
		if (pc->required_group != NULL)
			check_group_ref(l, c,
			    conf_key_line(l, "protocol", p, "required_group"),
			    proto_get((enum proto_id)p)->section,
			    "required_group", pc->required_group);
	}
	if (c->nrules > 1)
		qsort(c->rules, c->nrules, sizeof(*c->rules), rule_cmp);
}

static void
policy_load_end(struct conf_loader *l)
{
	struct policy_load *st = conf_state(l, &policy_conf_module);
	size_t r;
	int t;

	for (r = 0; r < st->n; r++)
		for (t = 0; t < 2; t++)
			free(st->rl[r].glines[t]);
	free(st->rl);
}

static void
rule_match_free(struct rule_match *m)
{
	addrset_free(m->client_ips);
	strlist_free(&m->usernames);
	strlist_free(&m->member_of);
}

static void
policy_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nrules; i++) {
		free(c->rules[i].name);
		free(c->rules[i].route);
		rule_match_free(&c->rules[i].cond);
		rule_match_free(&c->rules[i].except);
	}
	free(c->rules);
	for (i = 0; i < PROTO_COUNT; i++) {
		addrset_free(c->proto[i].login_type_exempt_ips);
		free(c->proto[i].required_group);
	}
}

static void
fmt_protocols(unsigned bits, char *buf, size_t len)
{
	size_t n = 0;
	int p;

	buf[0] = '\0';
	for (p = 0; p < PROTO_COUNT && n < len; p++)
		if (bits & (1u << p))
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    n == 0 ? "" : ", ", proto_name(p));
}

static void
fmt_auth(unsigned bits, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
	    bits & RULE_AUTH_CLEARTEXT_WITHOUT_TLS ? "cleartext_without_tls" :
						     "",
	    bits == (RULE_AUTH_CLEARTEXT_WITHOUT_TLS | RULE_AUTH_TLS) ? ", " :
									"",
	    bits & RULE_AUTH_TLS ? "tls" : "");
}

/* One block per rule. */
static void
policy_dump(const struct conf *c, unsigned inst, struct conf_dump *d)
{
	const struct rule *rule = &c->rules[inst];
	size_t w;

	conf_dump_str(d, "Name", rule->name);
	conf_dump_set(d, "Priority", "%u", rule->priority);
	conf_dump_str(d, "Action",
	    conf_enum_name(rule_actions, (int)rule->action));
	conf_dump_bool(d, "Enabled", rule->enabled);
	if (rule->route != NULL)
		conf_dump_str(d, "Route", rule->route);
	for (w = 0; w < 2; w++) {
		const struct rule_match *m = w ? &rule->except : &rule->cond;

		fmt_protocols(m->protocols,
		    conf_dump_row(d, w ? "ExceptProtocols" : "Protocols"),
		    CONF_DUMP_VALUE);
		conf_dump_addrset(d, w ? "ExceptClientIps" : "ClientIps",
		    m->client_ips);
		conf_dump_strlist(d, w ? "ExceptUsernames" : "Usernames",
		    &m->usernames, false);
		/* A group name may hold commas: one per row. */
		conf_dump_strlist(d, w ? "ExceptMemberOf" : "MemberOf",
		    &m->member_of, true);
		fmt_auth(m->authentication,
		    conf_dump_row(d,
			w ? "ExceptAuthentication" : "Authentication"),
		    CONF_DUMP_VALUE);
	}
}

const struct conf_module policy_conf_module = {
    .name = "policy",
    .sections = sections,
    .nsections = 1,
    .tables = tables,
    .ntables = 2,
    .state_size = sizeof(struct policy_load),
    .defaults = policy_defaults,
    .check = policy_check,
    .load_end = policy_load_end,
    .free = policy_free,
    .dump = policy_dump,
};
