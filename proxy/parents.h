/* proxy/parents.h - tiered caching: an origin's `parents:` (other edgehook nodes) that cache misses go to before the origin. The
 * parent of a key is chosen by rendezvous hashing of the cache key over the parents' names, so every child sends a key to the same
 * parent (which collapses their misses into one origin fetch: an origin shield) and a parent that goes away moves only its own
 * keys; a parent's `weight` scales its share (weighted rendezvous: score -weight / ln(u), u the key's hash with the parent's in
 * (0,1)). Parents are watched by a probe thread (health_url, else a TCP connect, every parent_health_interval) and by the
 * requests themselves (a connection that fails before a response head): parent_health_fails consecutive failures mark a parent
 * down, parent_health_passes consecutive good probes mark it up again (HAProxy's fall and rise). This node's name
 * (`node_name`, default HOST:PORT of the first listener) goes into the Via it sends; a request whose Via already names it is a loop (508). */
#ifndef EDGE_PROXY_PARENTS_H
#define EDGE_PROXY_PARENTS_H

#include <stdatomic.h>
#include <h2o.h>
#include "conf/config.h"

struct origin;
struct parents_health;

enum { PARENT_STAT_REQUESTS, PARENT_STAT_FAILURES, PARENT_STAT_NUM };

typedef struct parent {
    char *name;
    struct origin *o;         /* the connection pool to it (requests carry the viewer's Host and path) */
    uint64_t seed;            /* hash of the name (rendezvous) */
    double weight;            /* `weight` (1-100) */
    _Atomic uint64_t *stats;  /* PARENT_STAT_*: base/series.h, named "ORIGIN/PARENT" */
} parent_t;

typedef struct parents {
    size_t num;
    parent_t *items;
    int fallback_origin; /* no parent reachable: the origin itself (else 502) */
    int started;         /* the probe thread runs */
    struct parents_health *health;
} parents_t;

/** the most parents an origin may list (conf) */
#define PARENTS_MAX 64

/** builds the parents of an origin (NULL when it has none, or with a message in err) */
parents_t *parents_new(const conf_origin_t *c, unsigned num_threads, char *err, size_t errlen);
/** starts the probe thread (once; a generation that serves calls it, `edgehook -t` does not) */
void parents_start(parents_t *p);
/** stops the probes (without waiting: the thread frees its own part) and frees the rest */
void parents_free(parents_t *p);
/**
 * The parents to try for a cache key, best first: those up, in rendezvous order (highest score of hash(key, name) first). Returns
 * how many indexes went to order (0: none is up).
 */
size_t parents_order(const parents_t *p, h2o_iovec_t key, unsigned char *order);
/** whether the parent is up (fewer than parent_health_fails failures in a row since it was last marked up) */
int parents_is_up(const parents_t *p, size_t i);
/** a request could not reach parent i (connection failed or reset before a response head): one failure (counted) */
void parents_mark_down(parents_t *p, size_t i, const char *why);
/** a health observation of parent i (a probe's result; `why` says what failed): failures and good probes in a row move its
 * state across the thresholds; returns whether it is up after it */
int parents_report(parents_t *p, size_t i, int ok, const char *why);

/** sets this node's name (NULL: HOST:PORT with the host name and `port`, HOST-PID when port is 0; and no X-Served-By); any
 * thread, at start and reload */
void parents_set_node_name(const char *name, unsigned port);
/** "1.1 NAME (edgehook)", what this node adds to Via */
h2o_iovec_t parents_via_entry(void);
/** the configured node_name, for X-Served-By; base NULL when none was configured */
h2o_iovec_t parents_served_by(void);
/** whether a Via field value lists this node (an entry "PROTO NAME (edgehook...)" with this node's NAME) */
int parents_via_names_node(h2o_iovec_t via, h2o_iovec_t name);
/** whether a request's Via headers name this node: the request is looping through it */
int parents_request_loops(const h2o_headers_t *headers);
/** counts a loop refused with 508 */
void parents_count_loop(void);

/** the Prometheus lines of the parents of the origins given (NULL-terminated) */
void parents_metrics(h2o_buffer_t **buf, struct origin **origins);

#endif
