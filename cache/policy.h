/* cache/policy.h - the pure HTTP caching rules of a shared cache: RFC 9111, RFC 9110 §13-14, RFC 5861, RFC 9213. */
#ifndef EDGE_CACHE_POLICY_H
#define EDGE_CACHE_POLICY_H

#include <stdint.h>
#include <sys/types.h>
#include <h2o.h>
#include "conf/config.h"

/*
 * Conventions of this module
 * - Every function is pure: no I/O, no globals, no locks; all are thread-safe. Nothing allocates except from an
 *   h2o_mem_pool_t the caller passes, and then only where the function's doc says so.
 * - Times are int64_t milliseconds: timestamps since the Unix epoch (wall clock, as in HTTP dates; dates before 1970
 *   are clamped to 0), durations in ms. CACHE_ABSENT (-1) means "absent or invalid" for both. HTTP's delta-seconds are
 *   converted to ms and capped at 2^31 s (RFC 9111 §1.2.2).
 * - Header names are matched by h2o token pointer first and then case-insensitively, so a field added by a hook without
 *   interning (h2o_add_header_by_str with maybe_token=0) still counts.
 * - Results that point into caller data (h2o_iovec_t) live as long as that data; pool results live as long as the pool.
 */

/** "absent" for the durations and timestamps of this module */
#define CACHE_ABSENT ((int64_t)-1)
/** a bare `max-stale` request directive: any staleness is acceptable (RFC 9111 §5.2.1.2) */
#define CACHE_CC_ANY INT64_MAX

/* ------------------------------------------------------------------------------------------------------------------- */
/* Cache-Control directives (RFC 9111 §5.2, RFC 5861, RFC 8246)                                                         */

/**
 * The directives of a Cache-Control (or CDN-Cache-Control, Surrogate-Control) field, request or response.
 * Durations are ms, CACHE_ABSENT when the directive is absent. When a directive appears twice, the first occurrence wins
 * (RFC 9111 §4.2.1). An invalid max-age/s-maxage value (`max-age=abc`, `max-age=-1`, `max-age`) reads as 0, i.e. stale,
 * as §4.2.1 encourages; other invalid values are ignored. Unknown directives are ignored. An unquoted value ends at ',',
 * whitespace or ';' (Structured Field parameters of CDN-Cache-Control, RFC 9213 §2.1, are skipped).
 */
typedef struct cache_cc {
    unsigned present : 1;          /**< at least one directive was seen */
    unsigned no_store : 1;         /**< §5.2.1.5 / §5.2.2.5 */
    unsigned no_cache : 1;         /**< §5.2.2.4; the qualified form no-cache="field" is read as plain no-cache (every reuse
                                        revalidates), and the fields it lists are not stored: cache_policy_shareable_headers() */
    unsigned private_ : 1;         /**< §5.2.2.7; the qualified form private="field" is read as plain private (not stored) */
    unsigned public_ : 1;          /**< §5.2.2.9 */
    unsigned must_revalidate : 1;  /**< §5.2.2.2 */
    unsigned proxy_revalidate : 1; /**< §5.2.2.8 */
    unsigned no_transform : 1;     /**< §5.2.2.6 / §5.2.1.6 */
    unsigned immutable : 1;        /**< RFC 8246 */
    unsigned only_if_cached : 1;   /**< request, §5.2.1.7 */
    unsigned must_understand : 1;  /**< §5.2.2.3: store only if the status is understood, and then no-store does not apply */
    int64_t max_age_ms;            /**< §5.2.2.1 / §5.2.1.1 */
    int64_t s_maxage_ms;           /**< §5.2.2.10 */
    int64_t swr_ms;                /**< stale-while-revalidate, RFC 5861 §3 */
    int64_t sie_ms;                /**< stale-if-error, RFC 5861 §4 (response and request) */
    int64_t max_stale_ms;          /**< request, §5.2.1.2; CACHE_CC_ANY without a value */
    int64_t min_fresh_ms;          /**< request, §5.2.1.3 */
} cache_cc_t;

/** Resets `cc` to "no directive". */
void cache_cc_init(cache_cc_t *cc);
/**
 * Adds the directives of one field value (`max-age=60, "quoted, commas", public`) to `cc` without resetting it, so that
 * calling it for each field line combines duplicate header fields. Never reads outside [s, s+len).
 */
void cache_cc_parse_str(const char *s, size_t len, cache_cc_t *cc);
/** Resets `out` and combines every field line of `headers` named `name` (e.g. H2O_TOKEN_CACHE_CONTROL). */
void cache_cc_parse(const h2o_headers_t *headers, const h2o_token_t *name, cache_cc_t *out);

/**
 * Resets `out` and reads the CDN-Cache-Control field lines of `headers` as one Structured Field Dictionary (RFC 9213 §2.1,
 * RFC 9651 §4.2.2): strict syntax (lowercase keys, no space around '=', Integer values, parameters allowed and ignored).
 * A field with a syntax error in any line is ignored whole: returns 0 and `out` stays empty, so Cache-Control applies.
 * Of two members with the same key the later wins; a directive whose value has the wrong type (`max-age="60"`, a
 * negative or decimal delta, `no-store=5`) is ignored; `no-cache` / `private` with a String or Inner List of field names
 * read as the plain directives. Returns 1 when the field is present, valid and holds at least one member.
 */
int cache_cdn_cc_parse(const h2o_headers_t *headers, cache_cc_t *out);

/* ------------------------------------------------------------------------------------------------------------------- */
/* HTTP-date (RFC 9110 §5.6.7)                                                                                          */

/**
 * Parses an HTTP-date (IMF-fixdate, obsolete RFC 850 and asctime forms; surrounding whitespace allowed) into ms since the
 * epoch. Returns CACHE_ABSENT for anything else, e.g. `0` or `-1` as origins send in Expires.
 */
int64_t cache_policy_parse_date(const char *s, size_t len);

/* ------------------------------------------------------------------------------------------------------------------- */
/* Storability and freshness (RFC 9111 §3, §4.2)                                                                        */

/**
 * The caching policy of one behavior: the CloudFront TTLs and the stale defaults, resolved once at configuration time.
 * A plain value, safe to copy and to share between threads.
 */
/** error_ttl when a behavior sets none (CloudFront's default error caching minimum TTL) */
#define CACHE_DEFAULT_ERROR_TTL_MS 10000
/** the stale-if-error window when neither the origin, the behavior nor `cache.stale_if_error` gives one: like CloudFront,
 * a stored copy is served when the origin fails rather than the error (RFC 5861 §4) */
#define CACHE_DEFAULT_STALE_IF_ERROR_MS CONF_DEFAULT_STALE_IF_ERROR_MS
/** how many error statuses may have their own TTL (cache_policy_t.status_ttl) */
#define CACHE_MAX_STATUS_TTL 16

typedef struct cache_policy {
    int enabled;              /**< 0: nothing is stored (`cache: off`) */
    int64_t min_ttl_ms;       /**< raises an origin's (or the heuristic) lifetime; CACHE_ABSENT: unset */
    int64_t default_ttl_ms;   /**< lifetime when the origin gives no freshness at all; CACHE_ABSENT: use the heuristic */
    int64_t max_ttl_ms;       /**< caps the lifetime; CACHE_ABSENT: unset */
    int64_t swr_ms;           /**< stale-while-revalidate when the origin sends none (0: none) */
    int64_t sie_ms;           /**< stale-if-error when the origin sends none (0: none) */
    int sie_default;          /**< 1: sie_ms is CACHE_DEFAULT_STALE_IF_ERROR_MS because nothing was configured: it serves a
                                   stored copy on errors but does not make storable a response that could never be reused
                                   otherwise (lifetime 0 or no-cache without a validator: stored only for explicit windows) */
    int64_t heuristic_max_ms; /**< cap of the heuristic lifetime of §4.2.2 (default one day) */
    int64_t error_ttl_ms;     /**< lifetime of a heuristically cacheable error without freshness information (CloudFront's
                                   error caching minimum TTL, default 10 s); 0: such errors are not reused */
    /** error statuses with their own error caching TTL (the behavior's `error_pages` ttl): a response with such a status and no
     * freshness information of its own is stored for this long, even a 403 or a 5xx (CloudFront's ErrorCachingMinTTL) */
    struct {
        int status;
        int64_t ttl_ms;
    } status_ttl[CACHE_MAX_STATUS_TTL];
    unsigned num_status_ttl;
    int ignore_set_cookie;    /**< 1: a response with Set-Cookie may be stored (without its Set-Cookie fields); 0: it is not
                                   stored (`cache.ignore_set_cookie`, default 0) */
    const struct cache_forward *forward; /**< what a request whose response may be stored forwards to the origin (compiled
                                              per behavior, cache/forward.h; owned by whoever set it); NULL: the defaults */
} cache_policy_t;

/**
 * Builds a policy from a behavior's `cache:` settings (NULL: RFC 9111 defaults only) and the global `cache.
 * stale_while_revalidate` / `cache.stale_if_error` defaults, which apply when the behavior sets none (swr -1 or 0: none;
 * sie 0: none, -1: not configured, CACHE_DEFAULT_STALE_IF_ERROR_MS as a default, see cache_policy_t.sie_default).
 * Keeps no pointer to `behavior`. `forward` is left NULL: the caller sets it when it compiles the behavior's forwarding.
 */
void cache_policy_init(cache_policy_t *pol, const conf_cache_policy_t *behavior, int64_t global_swr_ms, int64_t global_sie_ms);

/** where a freshness lifetime came from (debug logs, metrics, tests) */
typedef enum cache_lifetime_source {
    CACHE_LIFETIME_NONE = 0,    /**< nothing: lifetime 0 (or min_ttl) */
    CACHE_LIFETIME_S_MAXAGE,    /**< s-maxage (§5.2.2.10) */
    CACHE_LIFETIME_MAX_AGE,     /**< max-age (§5.2.2.1) */
    CACHE_LIFETIME_EXPIRES,     /**< Expires − Date (§5.3) */
    CACHE_LIFETIME_DEFAULT_TTL, /**< the behavior's default_ttl (origin gave no freshness information) */
    CACHE_LIFETIME_HEURISTIC,   /**< 10% of Date − Last-Modified (§4.2.2) */
    CACHE_LIFETIME_ERROR_TTL,   /**< the behavior's error_ttl (an error status without freshness information) */
} cache_lifetime_source_t;

/**
 * What cache_policy_evaluate() concluded about a response: whether it may be stored, and everything later freshness
 * decisions need. A plain value: the object store keeps it with the object (it holds no pointers except `reason`, a
 * static string).
 */
typedef struct cache_decision {
    int storable;                   /**< 1: may be stored */
    const char *reason;             /**< when !storable: why, with the RFC section (static string); NULL when storable */
    int64_t lifetime_ms;            /**< freshness lifetime, after the behavior's TTL rules */
    int64_t swr_ms;                 /**< may serve stale this long after expiry while revalidating (0: no) */
    int64_t sie_ms;                 /**< may serve stale this long after expiry when the origin fails (0: no) */
    int64_t date_ms;                /**< the response's Date, or response_time when absent or invalid (RFC 9110 §6.6.1) */
    int64_t age_ms;                 /**< the Age header's value (CACHE_ABSENT when absent or invalid) */
    int64_t initial_age_ms;         /**< corrected_initial_age (§4.2.3) */
    int64_t request_time_ms;        /**< when the request that got this response was sent */
    int64_t response_time_ms;       /**< when the response was received */
    int64_t last_modified_ms;       /**< Last-Modified (CACHE_ABSENT when absent or invalid) */
    cache_lifetime_source_t source; /**< where lifetime_ms came from */
    unsigned no_cache : 1;          /**< every reuse needs a successful validation (response no-cache, §5.2.2.4) */
    unsigned must_revalidate : 1;   /**< stale reuse forbidden: must-revalidate, proxy-revalidate or s-maxage (§4.2.4) */
    unsigned immutable : 1;         /**< RFC 8246 (informational for a shared cache) */
    unsigned targeted : 1;          /**< directives came from CDN-Cache-Control or Surrogate-Control (RFC 9213) */
    unsigned has_validator : 1;     /**< the response has an ETag or a valid Last-Modified */
} cache_decision_t;

/**
 * Decides whether the response may be stored by a shared cache and computes its freshness and age (RFC 9111 §3, §4.2).
 *
 * Storability, in this order (the first failing rule is the reason): the behavior enables caching; method GET or HEAD;
 * final status other than 206 (partial content is not stored) and 304; with `must-understand` (§5.2.2.3) a status this
 * cache understands (cache_policy_status_understood()), and then the response's `no-store` does not apply; no request
 * `no-store`; no response `no-store`; no
 * `private`; no Set-Cookie (or Set-Cookie2) unless the policy has ignore_set_cookie or the response's own field list says
 * the rest is shareable (`no-cache="Set-Cookie"`, see cache_policy_field_is_unshared(); it applies with `pol` NULL too, as
 * nginx and Varnish do: a cookie set for one viewer must not be replayed to the next); a request with Authorization only
 * with `public`, `s-maxage` or `must-revalidate` (§3.5); no `Vary: *`
 * (§4.1); explicit freshness (s-maxage, max-age, Expires) or a heuristically cacheable status (200 203 204 300 301 308
 * 404 405 410 414 501) or `public` (§4.2.2); finally a response that can never be reused (lifetime 0 or no-cache, no
 * validator, no stale window) is not stored. A HEAD response has no body: key it apart from GET, or (as CloudFront and
 * Varnish do) fetch a GET from the origin on a HEAD miss and store that.
 *
 * Freshness (§4.2.1, shared cache): s-maxage > max-age > Expires − Date; the behavior's min_ttl/max_ttl clamp it. With
 * no freshness information, the behavior's default_ttl if set (CloudFront), else 10% of Date − Last-Modified capped at
 * heuristic_max_ms (§4.2.2) for heuristically cacheable statuses, also clamped. When the response carries a
 * CDN-Cache-Control field (RFC 9213), or else a Surrogate-Control field (`max-age=N[+M]`, `no-store`), the first present
 * one replaces Cache-Control and Expires for this cache.
 *
 * Stale windows: the origin's stale-while-revalidate / stale-if-error, else the policy's; both 0 under no-cache,
 * must-revalidate, proxy-revalidate or s-maxage (§4.2.4).
 *
 * A stored copy must leave out what cache_policy_shareable_headers() removes (Set-Cookie among them).
 *
 * To refresh a stored response after a 304, call it again with the merged headers (cache_policy_merge_304()), the stored
 * status, and the new request and response times. `out` is filled completely even when the response is not storable.
 * `reqh` is the request as sent to the origin (its Authorization and Cache-Control count) and may be NULL; `pol` NULL
 * means RFC 9111 alone (no TTL clamps, no default stale windows).
 */
void cache_policy_evaluate(const cache_policy_t *pol, h2o_iovec_t method, const h2o_headers_t *reqh, int status,
                           const h2o_headers_t *resh, int64_t request_time_ms, int64_t response_time_ms, cache_decision_t *out);

/**
 * corrected_initial_age of RFC 9111 §4.2.3: max(apparent_age, corrected_age_value) where apparent_age =
 * max(0, response_time − date), corrected_age_value = age + (response_time − request_time). `date_ms` / `age_ms` may be
 * CACHE_ABSENT.
 */
int64_t cache_policy_initial_age(int64_t date_ms, int64_t age_ms, int64_t request_time_ms, int64_t response_time_ms);
/** current_age of §4.2.3: corrected_initial_age + resident_time, resident_time = now − response_time (never negative). */
int64_t cache_policy_current_age(const cache_decision_t *d, int64_t now_ms);
/** freshness left at `now` (lifetime − current_age): > 0 fresh, <= 0 stale by that much (§4.2). */
int64_t cache_policy_ttl(const cache_decision_t *d, int64_t now_ms);
/** The value of the Age header to send with a stored response: current_age in whole seconds (§5.1). */
int64_t cache_policy_age_header_seconds(const cache_decision_t *d, int64_t now_ms);

/** how a stored response may satisfy a request (RFC 9111 §4, §4.2.4, RFC 5861) */
typedef enum cache_use {
    CACHE_USE_FRESH = 0,        /**< serve it */
    CACHE_USE_STALE_REVALIDATE, /**< serve it stale now and revalidate in the background (stale-while-revalidate, max-stale) */
    CACHE_USE_REVALIDATE,       /**< validate with the origin first (§4.3); on failure see cache_policy_stale_if_error() */
} cache_use_t;

/**
 * How the stored response described by `d` can serve a request at `now`. `reqcc` holds the request's Cache-Control, or
 * is NULL to ignore it, as CloudFront, Varnish and nginx do by default (it lets any client force origin fetches). With a
 * request, honours no-cache, max-age and min-fresh (→ revalidate) and max-stale (→ serve stale unless the response
 * forbids it). `only-if-cached` is the caller's: answer 504 unless the result is FRESH or STALE_REVALIDATE (§5.2.1.7).
 */
cache_use_t cache_policy_use(const cache_decision_t *d, const cache_cc_t *reqcc, int64_t now_ms);
/**
 * Whether the stored response may be served when revalidating it failed (origin unreachable or
 * cache_policy_is_error_status()): still fresh, or stale within stale-if-error (the response's or the policy's, or the
 * request's own stale-if-error, RFC 5861 §4) and not forbidden by no-cache / must-revalidate (§4.2.4).
 */
int cache_policy_stale_if_error(const cache_decision_t *d, const cache_cc_t *reqcc, int64_t now_ms);
/**
 * The statuses whose caching requirements this cache implements, for `must-understand` (RFC 9111 §5.2.2.3): the final
 * statuses RFC 9110 §15 defines (200-206, 300-305, 307, 308, 400-417, 421, 422, 426, 500-505).
 */
int cache_policy_status_understood(int status);
/** 500, 502, 503 and 504: the statuses that count as an error for stale-if-error (RFC 5861 §4). */
int cache_policy_is_error_status(int status);

/* ------------------------------------------------------------------------------------------------------------------- */
/* What a shared cache leaves out of a stored response                                                                   */

/**
 * 1 when the response's directives name field `name` (case-insensitive) in a qualified `no-cache="..."` (§5.2.2.4) or
 * `private="..."` (§5.2.2.7) list (quoted, or the single-token form `no-cache=Set-Cookie`), in Cache-Control,
 * CDN-Cache-Control or Surrogate-Control: that field must not be served from the cache (without revalidation) while the
 * rest of the response may be shared.
 */
int cache_policy_field_is_unshared(const h2o_headers_t *resh, const char *name, size_t len);
/**
 * The header list to store for the response `resh`: every field except Set-Cookie and Set-Cookie2 (a cookie is for the
 * viewer it was set for: a stored response never carries one) and the fields named by a qualified no-cache or private
 * directive (cache_policy_field_is_unshared()). The qualified no-cache itself still makes every reuse revalidate
 * (cache_decision_t.no_cache). `out` gets a new vector in `pool` whose entries are copies of those of `resh` (names and
 * values point into `resh`). Returns how many fields were left out.
 */
size_t cache_policy_shareable_headers(h2o_mem_pool_t *pool, const h2o_headers_t *resh, h2o_headers_t *out);

/* ------------------------------------------------------------------------------------------------------------------- */
/* Targeted cache control (RFC 9213): fields meant for this cache, not forwarded downstream                             */

/** 1 when `name` is CDN-Cache-Control or Surrogate-Control (case-insensitive), the fields this cache consumes. */
int cache_policy_is_targeted_header(const h2o_iovec_t *name);
/**
 * 1 when `name` is a field this cache consumes and does not forward downstream: Surrogate-Control (Edge Architecture 1.0:
 * a surrogate removes the directives meant for it). CDN-Cache-Control is forwarded (RFC 9213 §3: CDN caches "will
 * typically forward this header so that downstream CDN caches can use it as well": a parent tier's copy carries it to
 * its children, and a CDN in front of edgehook reads it too).
 */
int cache_policy_is_consumed_header(const h2o_iovec_t *name);
/**
 * Removes every targeted field (see above) from `headers` in place, before a response is sent downstream. Keep them in
 * the stored copy: cache_policy_evaluate() needs them again after a 304. Returns the number removed.
 */
size_t cache_policy_strip_targeted(h2o_headers_t *headers);

/* ------------------------------------------------------------------------------------------------------------------- */
/* Vary (RFC 9111 §4.1)                                                                                                 */

/** the request field names a response varies on */
typedef struct cache_vary {
    h2o_iovec_t *names; /**< lowercase, sorted, without duplicates; in the pool given to cache_vary_parse() */
    size_t count;
    int star; /**< `Vary: *`: no request ever matches (the response is not stored) */
} cache_vary_t;

/**
 * Collects the field names of every Vary field line of `resh` into `out`. Names and the array are copied into `pool`
 * (copy them elsewhere to keep them beyond the pool). Sorting makes the secondary key independent of the order the origin
 * lists them in.
 */
void cache_vary_parse(h2o_mem_pool_t *pool, const h2o_headers_t *resh, cache_vary_t *out);
/**
 * The secondary key of a request for `vary` (§4.1): for each name, `name=value\n`, or `name\n` when the request lacks the
 * field (absent differs from empty). Values are normalised: the field lines are combined with ",", whitespace is trimmed
 * at both ends and around commas, each Accept-Language line takes its cache_accept_language_normalise() form; control
 * bytes and '%' are %-escaped so the result is unambiguous. A stored variant matches a request when both keys are equal
 * bytes. Returns -1 for `Vary: *` (never matches), else 0 with `*out` in
 * `pool` (len 0 when `vary` is empty).
 */
int cache_vary_key(h2o_mem_pool_t *pool, const cache_vary_t *vary, const h2o_headers_t *reqh, h2o_iovec_t *out);

/** at most this many language ranges in an Accept-Language that cache_accept_language_normalise() reorders */
#define CACHE_LANG_MAX_ITEMS 32
/**
 * The normal form of one Accept-Language value (RFC 9110 §12.5.4) for cache keys: language ranges lowercased, whitespace
 * and empty elements dropped, sorted by weight (highest first) and then by name, so that requests that state the same
 * preferences share a variant (`en, de`, `De,EN` and `de;q=1, en` are one); weights written in their shortest form
 * (`;q=0.5`, none for 1). Writes at most `len` bytes to `out` (never more than the input: nothing is added) and returns
 * their number, or -1 (nothing written) when the value is not a plain list of ranges with optional q weights, or has
 * more than CACHE_LANG_MAX_ITEMS of them: such a value is keyed as it is. Equal weights are unordered in HTTP: an origin
 * that breaks ties by list order must send distinct weights for it to matter.
 */
ssize_t cache_accept_language_normalise(const char *s, size_t len, char *out);

/* ------------------------------------------------------------------------------------------------------------------- */
/* Validators, revalidation (RFC 9111 §4.3) and client conditionals (RFC 9110 §13)                                       */

/** the validators of a stored response */
typedef struct cache_validators {
    h2o_iovec_t etag;         /**< the first ETag field, trimmed (points into the headers); len 0: none */
    int64_t last_modified_ms; /**< CACHE_ABSENT: none */
    int64_t date_ms;          /**< the stored response's Date: what If-Modified-Since is compared with when there is no
                                   Last-Modified (RFC 9111 §4.3.2); CACHE_ABSENT: none (the caller may put the time the
                                   response was received here instead) */
} cache_validators_t;

/** Extracts the validators of `resh` (and its Date). `out->etag` points into `resh`. */
void cache_policy_validators(const h2o_headers_t *resh, cache_validators_t *out);

/**
 * Entity-tag comparison (RFC 9110 §8.8.3.2): 1 when `list` (an If-Match / If-None-Match value: `*` or a comma-separated
 * list of entity-tags) contains one matching `etag`. `weak` selects weak comparison (W/ ignored) over strong (both must
 * be strong and equal). Lenient: unquoted tags are compared as if quoted.
 */
int cache_policy_etag_matches(h2o_iovec_t list, h2o_iovec_t etag, int weak);

/**
 * Makes `origin_reqh` a validation request for the stored response (§4.3.1): removes any conditional field the client
 * sent (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range), then adds If-None-Match from the
 * stored ETag and If-Modified-Since from the stored Last-Modified. Values are copied into `pool`; the vector grows in
 * `pool`. Returns the number of validators added (0: none; fetch unconditionally).
 */
size_t cache_policy_add_conditionals(h2o_mem_pool_t *pool, const h2o_headers_t *stored_resh, h2o_headers_t *origin_reqh);
/**
 * Removes the client's conditional fields (as above) from `reqh` in place, e.g. before a cache fill so that the origin
 * answers with a complete, storable response. Range is left to the caller. Returns the number removed.
 */
size_t cache_policy_strip_conditionals(h2o_headers_t *reqh);

/**
 * Whether a 304 answering our validation request may update the stored response (§4.3.4): a strong ETag in the 304 must
 * equal the stored one strongly, a weak one weakly; without ETag a Last-Modified must equal the stored one; a 304 with no
 * validator updates the response it validated.
 */
int cache_policy_304_selects(const h2o_headers_t *stored_resh, const h2o_headers_t *resp304);
/**
 * The header list of a stored response freshened by a 304 (§3.2, §4.3.4): each field of the 304 replaces every stored
 * line of that name, except Content-Length, Content-Range and hop-by-hop fields (Connection, the names it lists,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate), which are not taken from
 * the 304. The stored Date and Age are always dropped (the 304's are taken when present) so that the age is computed
 * afresh from the new response time. `out` gets a new vector in `pool` whose entries point into `stored_resh` and
 * `resp304` (shallow: copy before either is freed).
 */
void cache_policy_merge_304(h2o_mem_pool_t *pool, const h2o_headers_t *stored_resh, const h2o_headers_t *resp304,
                            h2o_headers_t *out);

/** result of the client's preconditions (RFC 9110 §13.2.2) */
typedef enum cache_cond {
    CACHE_COND_PASS = 0,            /**< serve the stored response (full or range) */
    CACHE_COND_NOT_MODIFIED,        /**< answer 304 */
    CACHE_COND_PRECONDITION_FAILED, /**< answer 412 */
} cache_cond_t;

/**
 * Evaluates the client's preconditions against a stored response in the order of RFC 9110 §13.2.2: If-Match (strong,
 * fails → 412), else If-Unmodified-Since (→ 412); then If-None-Match (weak; matches → 304 for GET/HEAD, else 412), else
 * If-Modified-Since for GET/HEAD (not modified → 304; compared with Last-Modified, or without one with `v->date_ms`, as
 * RFC 9111 §4.3.2 asks of a cache). Invalid dates are ignored (§13.1.3, §13.1.4). All preconditions
 * are ignored unless `status` is 2xx (§13.2.1). If-Range is cache_policy_range()'s.
 */
cache_cond_t cache_policy_conditional(h2o_iovec_t method, const h2o_headers_t *reqh, int status, const cache_validators_t *v);

/* ------------------------------------------------------------------------------------------------------------------- */
/* Range requests (RFC 9110 §14)                                                                                        */

/** what to answer a Range request with */
typedef enum cache_range_result {
    CACHE_RANGE_FULL = 0,      /**< no (usable) Range: answer 200 with the whole representation */
    CACHE_RANGE_PARTIAL,       /**< answer 206 with bytes [start, end] (inclusive) */
    CACHE_RANGE_UNSATISFIABLE, /**< answer 416 (with an unsatisfied-range Content-Range, RFC 9110 §14.4) */
} cache_range_result_t;

/**
 * Parses a Range value against a representation of `length` bytes. Only a single byte range is served (`bytes=a-b`,
 * `a-`, `-n`; unit case-insensitive); multiple ranges, other units and syntax errors give CACHE_RANGE_FULL, as CloudFront
 * does. A first-pos at or past the end, or `-0`, is unsatisfiable; last-pos is clamped to the end (§14.1.1).
 */
cache_range_result_t cache_policy_parse_range(const char *s, size_t len, uint64_t length, uint64_t *start, uint64_t *end);
/**
 * The Range decision for a request served from a stored response of `length` bytes with `status` and validators `v`:
 * Range is honoured only for GET on a 200 (§14.2), with a single Range field, and when If-Range (if any) matches: a
 * strong ETag equal to the stored one, or a date equal to the stored Last-Modified (§13.1.5). Otherwise FULL.
 */
cache_range_result_t cache_policy_range(h2o_iovec_t method, const h2o_headers_t *reqh, int status, uint64_t length,
                                        const cache_validators_t *v, uint64_t *start, uint64_t *end);

/* ------------------------------------------------------------------------------------------------------------------- */
/* Invalidation (RFC 9111 §4.4)                                                                                         */

/** at most this many URIs come out of cache_policy_invalidations() */
#define CACHE_INVALIDATE_MAX 3

/** 1 for the safe methods GET, HEAD, OPTIONS, TRACE (RFC 9110 §9.2.1); unknown methods are unsafe. */
int cache_policy_method_is_safe(h2o_iovec_t method);
/**
 * The URIs to purge after a request with an unsafe method got a non-error (2xx, 3xx) response (§4.4): the target, and
 * the Location and Content-Location values when they resolve to the same origin (scheme, host, port) as the target.
 * Each is returned as an origin-form path with its query (fragment removed), deduplicated, into `out`; returns how many.
 * `scheme` is &H2O_URL_SCHEME_HTTP or &H2O_URL_SCHEME_HTTPS, `authority` the request's Host, `path` its request-target.
 * Relative references are resolved in `pool`; the target itself is returned as given (points into `path`). Feed them to
 * cache_key_url() to match stored objects.
 */
size_t cache_policy_invalidations(h2o_mem_pool_t *pool, h2o_iovec_t method, int status, const h2o_url_scheme_t *scheme,
                                  h2o_iovec_t authority, h2o_iovec_t path, const h2o_headers_t *resh,
                                  h2o_iovec_t out[CACHE_INVALIDATE_MAX]);

#endif
