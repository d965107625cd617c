/*
 * conf_value: the value parsers the modules' key tables share (numbers,
 * durations, sizes, names, paths, address lists), and the units they
 * read and write.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addrset.h"
#include "conf.h"
#include "conf_table.h"

#define SEC_MS CONF_SEC_MS
#define MIN_MS CONF_MIN_MS
#define HOUR_MS CONF_HOUR_MS
#define DAY_MS CONF_DAY_MS
/* Longest item of a comma-separated list. */
#define ITEM_MAX 256

/* Number parsing shared by the public unit parsers: digits only. */
int
conf_parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*sp = s;
	*out = n;
	return 0;
}

/* Exchange's TimeSpan form: [d.]hh:mm:ss[.fffffff]. */
int
conf_parse_timespan(const char *s, uint64_t *ms)
{
	uint64_t days = 0, h, m, sec, frac = 0, v;
	const char *p = s, *q;
	int digits;

	if (conf_parse_digits(&p, &v) == -1)
		return -1;
	if (*p == '.') {
		days = v;
		p++;
		q = p;
		if (conf_parse_digits(&p, &h) == -1 || p - q > 2)
			return -1;
	} else {
		if (p - s > 2)
			return -1;
		h = v;
	}
	if (*p++ != ':')
		return -1;
	q = p;
	if (conf_parse_digits(&p, &m) == -1 || p - q != 2 || *p++ != ':')
		return -1;
	q = p;
	if (conf_parse_digits(&p, &sec) == -1 || p - q != 2)
		return -1;
	if (*p == '.') {
		/* Only whole milliseconds: the rest must be zeros. */
		p++;
		for (digits = 0; isdigit((unsigned char)*p); digits++, p++) {
			if (digits < 3)
				frac = frac * 10 + (uint64_t)(*p - '0');
			else if (*p != '0')
				return -1;
		}
		if (digits == 0 || digits > 7)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (*p != '\0' || h > 23 || m > 59 || sec > 59)
		return -1;
	if (days > (UINT64_MAX - DAY_MS) / DAY_MS)
		return -1;
	*ms = days * DAY_MS + h * HOUR_MS + m * MIN_MS + sec * SEC_MS + frac;
	return 0;
}

int
conf_parse_duration(const char *s, unsigned *ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {{"", SEC_MS}, {"ms", 1}, {"s", SEC_MS}, {"m", MIN_MS},
	    {"h", HOUR_MS}, {"d", DAY_MS}};
	const char *p = s;
	uint64_t n, total;
	size_t i;

	if (s == NULL)
		return -1;
	if (strchr(s, ':') != NULL) {
		if (conf_parse_timespan(s, &total) == -1)
			return -1;
	} else {
		if (conf_parse_digits(&p, &n) == -1)
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(p, units[i].suffix) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		if (n > UINT64_MAX / units[i].ms)
			return -1;
		total = n * units[i].ms;
	}
	if (total > UINT_MAX)
		return -1;
	*ms = (unsigned)total;
	return 0;
}

int
conf_parse_size(const char *s, uint64_t *bytes)
{
	const char *p = s;
	unsigned shift = 0;
	uint64_t n;

	if (s == NULL || conf_parse_digits(&p, &n) == -1)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (shift != 0 && p[1] != '\0')
		return -1;
	if (n > (UINT64_MAX >> shift))
		return -1;
	*bytes = n << shift;
	return 0;
}

static int
parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	return -1;
}

int
conf_parse_port(const char *s, unsigned *port)
{
	const char *p = s;
	uint64_t n;

	if (conf_parse_digits(&p, &n) == -1 || *p != '\0' || n == 0 ||
	    n > 65535)
		return -1;
	*port = (unsigned)n;
	return 0;
}

void
conf_fmt_duration(unsigned ms, char *buf, size_t len)
{
	if (ms != 0 && ms % HOUR_MS == 0)
		snprintf(buf, len, "%uh", ms / HOUR_MS);
	else if (ms != 0 && ms % MIN_MS == 0)
		snprintf(buf, len, "%um", ms / MIN_MS);
	else if (ms % SEC_MS == 0)
		snprintf(buf, len, "%us", ms / SEC_MS);
	else
		snprintf(buf, len, "%ums", ms);
}

void
conf_fmt_timespan(unsigned ms, char *buf, size_t len)
{
	unsigned d = ms / DAY_MS, h = ms / HOUR_MS % 24, m = ms / MIN_MS % 60,
		 s = ms / SEC_MS % 60, f = ms % SEC_MS;
	int n;

	if (d != 0)
		n = snprintf(buf, len, "%u.%02u:%02u:%02u", d, h, m, s);
	else
		n = snprintf(buf, len, "%02u:%02u:%02u", h, m, s);
	if (f != 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ".%03u0000", f);
}

bool
conf_valid_hostname(const char *s)
{
	struct in6_addr a6;
	size_t len = strlen(s), label = 0;
	const char *p;

	if (inet_pton(AF_INET6, s, &a6) == 1)
		return true;
	if (len == 0 || len > 253)
		return false;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label != 0 || len > 1;
}

int
conf_key_uint(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	const char *p = v;
	uint64_t n;

	if ((k->flags & CONF_UNLIMITED) && strcasecmp(v, "unlimited") == 0) {
		*(unsigned *)dst = 0;
		return 0;
	}
	if (conf_parse_digits(&p, &n) == -1 || *p != '\0') {
		if (k->flags & CONF_AUTO)
			conf_key_error(l, k, "'%s' is not a number or 'auto'",
			    v);
		else if (k->flags & CONF_UNLIMITED)
			conf_key_error(l, k,
			    "'%s' is not a number (0 or 'unlimited': no "
			    "limit)",
			    v);
		else
			conf_key_error(l, k, "'%s' is not a number", v);
		return -1;
	}
	if (n < k->min || n > k->max) {
		conf_key_error(l, k, "%s is out of range (%llu-%llu)", v,
		    (unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	*(unsigned *)dst = (unsigned)n;
	return 0;
}

int
conf_key_duration(struct conf_loader *l, const struct conf_key *k,
    const char *v, void *dst)
{
	char lo[32], hi[32];
	unsigned ms;

	if (conf_parse_duration(v, &ms) == -1) {
		conf_key_error(l, k,
		    "'%s' is not a duration (as 30s, 500ms, 5m, 2h, 1d or "
		    "hh:mm:ss)",
		    v);
		return -1;
	}
	if (ms < k->min || ms > k->max) {
		conf_fmt_duration((unsigned)k->min, lo, sizeof(lo));
		conf_fmt_duration((unsigned)k->max, hi, sizeof(hi));
		conf_key_error(l, k, "%s is out of range (%s-%s)", v, lo, hi);
		return -1;
	}
	*(unsigned *)dst = ms;
	return 0;
}

int
conf_key_bool(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	if (parse_bool(v, dst) == -1) {
		conf_key_error(l, k, "'%s' is not yes or no", v);
		return -1;
	}
	return 0;
}

int
conf_key_enum(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	char list[256];
	size_t i, n = 0;

	for (i = 0; k->names[i].name != NULL; i++) {
		if (strcasecmp(v, k->names[i].name) == 0) {
			*(int *)dst = k->names[i].value;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; k->names[i].name != NULL && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    i ? ", " : "", k->names[i].name);
	conf_key_error(l, k, "'%s' is not one of %s", v, list);
	return -1;
}

int
conf_key_string(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	char **sp = dst;

	(void)k;
	free(*sp);
	*sp = NULL;
	if (*v == '\0')
		return 0;
	return (*sp = conf_strdup(l, v)) == NULL ? -1 : 0;
}

int
conf_key_abspath(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	if (*v != '\0' && *v != '/') {
		conf_key_error(l, k, "'%s' is not an absolute path", v);
		return -1;
	}
	return conf_key_string(l, k, v, dst);
}

int
conf_key_cafile(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	int fd;

	if (*v != '\0') {
		if ((fd = open(v, O_RDONLY | O_CLOEXEC)) == -1) {
			conf_key_error(l, k, "cannot open '%s': %s", v,
			    strerror(errno));
			return -1;
		}
		close(fd);
	}
	return conf_key_string(l, k, v, dst);
}

int
conf_key_hostname(struct conf_loader *l, const struct conf_key *k,
    const char *v, void *dst)
{
	if (*v != '\0' && !conf_valid_hostname(v)) {
		conf_key_error(l, k, "'%s' is not a host name or address", v);
		return -1;
	}
	return conf_key_string(l, k, v, dst);
}

int
conf_for_items(struct conf_loader *l, const struct conf_key *k, const char *v,
    const char *what, conf_parser *fn, void *dst)
{
	char item[ITEM_MAX];
	const char *p = v, *e;
	size_t len;
	int rc = 0;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		e = strchr(p, ',');
		len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len >= sizeof(item)) {
			conf_key_error(l, k, "%s'%.20s...' is too long", what,
			    p);
			rc = -1;
		} else if (len > 0) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (fn(l, k, item, dst) == -1)
				rc = -1;
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	return rc;
}

static int
addr_item(struct conf_loader *l, const struct conf_key *k, const char *s,
    void *dst)
{
	struct addrset **set = dst;
	char err[256];

	if (*set == NULL && (*set = addrset_new()) == NULL) {
		conf_oom(l);
		return -1;
	}
	if (addrset_add(*set, s, err, sizeof(err)) == -1) {
		conf_key_error(l, k, "%s", err);
		return -1;
	}
	return 0;
}

int
conf_key_addrset(struct conf_loader *l, const struct conf_key *k, const char *v,
    void *dst)
{
	return conf_for_items(l, k, v, "", addr_item, dst);
}

const char *
conf_enum_name(const struct conf_enum *names, int value)
{
	for (; names->name != NULL; names++)
		if (names->value == value)
			return names->name;
	return "?";
}
