/* proxy/dashboard.h - the admin listener's web dashboard: a login page at `/`, its CSS and JS (proxy/dashboard/, embedded at build
 * time), and behind the admin token the dashboard's markup and GET /dashboard/stats, the JSON the page samples every second. */
#ifndef EDGE_PROXY_DASHBOARD_H
#define EDGE_PROXY_DASHBOARD_H

#include <h2o.h>
#include "proxy/gen.h"

/** answers the dashboard paths that need no token (`/`, /dashboard/app.css, /dashboard/app.js): 1 when it did, 0 otherwise */
int dashboard_public(h2o_req_t *req);
/** answers the dashboard paths behind the token (/dashboard/panel.html, /dashboard/stats), once authorised: 1 when it did */
int dashboard_private(h2o_req_t *req, edge_gen_t *gen);
/** the alias bindings gen's behaviors use, each alias once (calloc'ed array, NULL-terminated; free() it) */
const hook_binding_t **dashboard_aliases(edge_gen_t *gen);
/** appends edgehook_origin_first_byte_seconds and edgehook_hook_alias_requests_total of gen to a /metrics page */
void dashboard_metrics(h2o_buffer_t **buf, edge_gen_t *gen);
/** appends the stats JSON of gen (what GET /dashboard/stats answers) to a malloc'ed NUL-terminated string; free() it */
char *dashboard_stats_json(edge_gen_t *gen);

#endif
