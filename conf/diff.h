/* conf/diff.h - what changed between two loaded configurations (a reload's answer): per top-level section, and per origin,
 * hook and behavior, from fingerprints of the YAML each was loaded from. */
#ifndef EDGE_CONF_DIFF_H
#define EDGE_CONF_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

struct conf;

/** one fingerprinted part of a configuration: a section ("cache"), an origin ("origins.web"), a hook ("hooks.auth"), a
 * behavior ("behaviors./img/x"), or the order of the behaviors ("behaviors (order)") */
typedef struct conf_part {
    char *name;
    uint64_t hash; /* of the part's YAML as parsed: kinds, keys and values (not comments, spacing, quoting or key order) */
} conf_part_t;

/** records the parts of conf from its YAML document (conf_load does it); an allocation failure aborts */
void conf_diff_index(struct conf *conf, yaml_document_t *doc);
/** frees what conf_diff_index recorded */
void conf_diff_free(struct conf *conf);

/**
 * What changed from old to new, as a JSON object {"added": [...], "removed": [...], "changed": [...]} of part names (malloc'ed,
 * never NULL); *num_changes gets the number of names in it (0: "no change"). A section that holds origins, hooks or behaviors
 * is named by its items only.
 */
char *conf_diff_json(const struct conf *old, const struct conf *new, size_t *num_changes);

#endif
