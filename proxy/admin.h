/* proxy/admin.h - the admin API on its own listener: purge, metrics, hook versions and aliases, health (bearer token). */
#ifndef EDGE_PROXY_ADMIN_H
#define EDGE_PROXY_ADMIN_H

#include <h2o.h>
#include "conf/config.h"

/** installs the admin handler on a pathconf; the token is read from the config generation current at each request */
void admin_register(h2o_pathconf_t *pathconf, conf_t *conf);

#endif
