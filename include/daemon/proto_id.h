/*
 * proto_id: the protocols postern serves, by number.  What each one is
 * and does is its descriptor (proto.h); this header only numbers them,
 * for the modules that keep something per protocol.
 */
#ifndef POSTERN_PROTO_ID_H
#define POSTERN_PROTO_ID_H

/* The protocols postern serves; also the index into conf->proto[]. */
enum proto_id { PROTO_POP3 = 0, PROTO_IMAP = 1, PROTO_COUNT };

#endif
