/*
 * conf_modules: every module that has settings, in one list, and the
 * order of the settings dump.
 *
 * The list is in the order the file's sections are documented (it is the
 * order messages list them in) and the order the modules' checks run in:
 * a module's check may read the settings of the modules before it.
 */
#include "config.h"

#include <stddef.h>

#include "conf.h"
#include "conf_table.h"
#include "groups.h"
#include "policy.h"
#include "proto.h"
#include "protolog.h"
#include "routing.h"
#include "server.h"
#include "stats_conf.h"
#include "throttle_conf.h"
#include "tls.h"

const struct conf_module *const conf_modules[] = {
    &server_conf_module,   /* [postern] */
    &tls_conf_module,      /* [tls] */
    &proto_conf_module,    /* [pop3], [imap] */
    &protolog_conf_module, /* their protocol-log keys */
    &routing_conf_module,  /* [backend "<name>"], [routing] */
    &groups_conf_module,   /* [groups] */
    &policy_conf_module,   /* [rule "<name>"], and the protocols' policy */
    &throttle_conf_module, /* [throttle] */
    &stats_conf_module,    /* [stats] */
};

const size_t conf_nmodules = sizeof(conf_modules) / sizeof(conf_modules[0]);

/*
 * The protocols first, each in one block with its protocol-log settings,
 * as Get-PopSettings and Get-ImapSettings show them; then [postern] and
 * [tls] together; then the group sources, each rule, the throttle, and
 * the stats server.
 */
void
conf_dump_modules(const struct conf *c, struct conf_dump *d)
{
	unsigned i;

	for (i = 0; i < PROTO_COUNT; i++) {
		proto_conf_module.dump(c, i, d);
		protolog_conf_module.dump(c, i, d);
		conf_dump_block(d);
	}
	routing_conf_module.dump(c, 0, d);
	conf_dump_block(d);
	server_conf_module.dump(c, 0, d);
	tls_conf_module.dump(c, 0, d);
	conf_dump_block(d);
	groups_conf_module.dump(c, 0, d);
	conf_dump_block(d);
	for (i = 0; i < c->nrules; i++) {
		policy_conf_module.dump(c, i, d);
		conf_dump_block(d);
	}
	throttle_conf_module.dump(c, 0, d);
	conf_dump_block(d);
	stats_conf_module.dump(c, 0, d);
	conf_dump_block(d);
}
