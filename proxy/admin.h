/* proxy/admin.h - the admin API on its own listener: purge, metrics, hook versions and aliases, health (bearer token). */
#ifndef EDGE_PROXY_ADMIN_H
#define EDGE_PROXY_ADMIN_H

#include <h2o.h>
#include "cache/memory.h"
#include "conf/config.h"

/** installs the admin handler on a pathconf; the token is read from the config generation current at each request */
void admin_register(h2o_pathconf_t *pathconf, conf_t *conf);

/** answers req with status and body (Cache-Control: no-store); for the admin API's handlers */
void admin_respond(h2o_req_t *req, int status, const char *reason, const char *ctype, h2o_iovec_t body);
/** answers req with status and {"error": msg} */
void admin_respond_error(h2o_req_t *req, int status, const char *reason, const char *msg);

/** 1 if an Authorization header value is `Bearer TOKEN` (scheme in any case); compares SHA-256 digests in constant time, so
 * that neither the token nor its length can be learnt from the timing */
int admin_token_matches(const char *value, size_t len, const char *token);

/** what admin_authorize found */
typedef enum admin_auth {
    ADMIN_AUTH_OK = 0,
    ADMIN_AUTH_MISSING,       /* no Authorization header */
    ADMIN_AUTH_BAD_TOKEN,     /* a bearer token that is not admin.token (or no token is configured) */
    ADMIN_AUTH_NOT_ALLOWED,   /* a SigV4 signature on a route that takes the bearer token only */
    ADMIN_AUTH_UNKNOWN_KEY,   /* SigV4 with an access key the store does not have, a restricted one, or no store at all */
    ADMIN_AUTH_MALFORMED,     /* SigV4 that cannot be parsed, or scoped to another service or region */
    ADMIN_AUTH_EXPIRED,       /* SigV4 dated more than 15 minutes from now */
    ADMIN_AUTH_BAD_SIGNATURE, /* SigV4 that does not match the request (or a body whose hash is not the one signed) */
} admin_auth_t;

/**
 * Checks the credentials of an admin request, for every route: `Authorization: Bearer admin.token`, or, when sigv4_service is
 * not NULL, an AWS Signature Version 4 for that service (e.g. "lambda") in region store.region made with one of the store's
 * keys that is neither read-only nor limited to buckets (store_api_secret); the payload hash is the SHA-256 of the body (an x-amz-content-sha256 header, if sent, must be that hash).
 * ADMIN_AUTH_OK or the failure, with an English sentence in reason.
 */
admin_auth_t admin_authorize(h2o_req_t *req, const conf_t *conf, const char *sigv4_service, char *reason, size_t reasonlen);

/**
 * Whether POST /hooks/NAME/versions may load `path`. It must end in .so (a native plugin) or .lua; it is resolved with realpath
 * (symlinks and `..` followed) into `resolved` (PATH_MAX bytes), which must be a regular file of the same extension in one of
 * the allowed directories, compared as resolved directories (not as string prefixes; subdirectories are not included):
 * native plugins: the directories of the config's native hooks and admin.plugin_dirs; Lua files: the directories of the
 * config's Lua hooks, admin.plugin_dirs and the config file's directory. Returns 0, or the HTTP status to answer with the
 * reason in err: 403 (refused), 422 (no such file in an allowed directory).
 */
int admin_check_hook_path(const conf_t *conf, const char *path, char *resolved, char *err, size_t errlen);

/** a purge of both cache tiers (disk, then memory), as POST /purge does it: the objects purged (control thread) */
size_t admin_purge_tiers(cache_purge_kind_t kind, h2o_iovec_t arg, int soft);

#endif
