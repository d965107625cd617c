/*
 * proto: the table of protocol descriptors.
 */
#include "config.h"

#include <stddef.h>

#include "proto.h"

const struct proto *
proto_get(enum proto_id p)
{
	switch (p) {
	case PROTO_POP3:
		return &pop3_proto;
	case PROTO_IMAP:
		return &imap_proto;
	default:
		return NULL;
	}
}

const char *
proto_name(enum proto_id p)
{
	const struct proto *d = proto_get(p);

	return d != NULL ? d->name : "?";
}
