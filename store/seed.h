/* store/seed.h - fills new buckets of the embedded store from directories on start (`store.seed`): a fresh node serves a site */
#ifndef EDGE_STORE_SEED_H
#define EDGE_STORE_SEED_H

#include <stddef.h>
#include "conf/config.h"
#include "store/fs.h"

/**
 * For each seed whose bucket does not exist yet: creates the bucket and stores every regular file under seed->dir (recursively,
 * symlinks to files followed, symlinks to directories skipped) as the object named by its path relative to dir, with a
 * Content-Type from its extension (store_seed_content_type), through the same atomic write path as a PUT (MD5 ETag, the time of
 * the seeding as Last-Modified). A bucket that exists is left alone, so uploads survive restarts. A seeding that was interrupted
 * (root/.seeding-NAME still present) is completed at the next start. File names that are not valid keys (control characters,
 * invalid UTF-8, over 1024 bytes) are skipped with a warning.
 *
 * Returns 0, or -1 with a message in err (an unreadable file, a disk error); the marker then stays and the next start retries.
 * Call before the store serves requests (not thread-safe against concurrent writers of the same bucket).
 */
int store_seed(store_fs_t *fs, const conf_store_seed_t *seeds, size_t num_seeds, char *err, size_t errlen);

/** makes a store_seed running on another thread stop after the file it is storing (a SIGTERM during the seed): it returns -1,
 * and the marker makes the next start finish the bucket. Any thread. */
void store_seed_stop(void);

/** the Content-Type a seeded file gets from its name's extension (case-insensitive), or NULL (no Content-Type is stored) */
const char *store_seed_content_type(const char *name);

#endif
