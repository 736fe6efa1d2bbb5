/* base/series.h - named counter blocks that outlive a configuration generation: an origin or a hook version built again by a
 * reload takes the block its predecessor of the same name used, so its counters go on from where they were (GET /metrics) instead
 * of starting again at 0 on every SIGHUP. A block lives while some holder references it: a name no generation uses any more
 * disappears with its last holder, and a name used again later starts at 0. */
#ifndef EDGE_BASE_SERIES_H
#define EDGE_BASE_SERIES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The counters (zeroed when new) of the block named kind + name, `n` of them, shared with every other holder of that name (whose
 * `n` must be the same); a reference the caller drops with edge_series_release. Any thread; a mutex guards the lookup (taken when
 * generations are built, never per request). Increments are the holders' (atomic adds: several threads may write).
 */
_Atomic uint64_t *edge_series_get(const char *kind, const char *name, size_t n);
/** drops a reference from edge_series_get (NULL: nothing); the last one frees the block */
void edge_series_release(_Atomic uint64_t *counters);
/** how many blocks are alive (tests) */
size_t edge_series_count(void);

#endif
