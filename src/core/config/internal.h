/*
 * What the files of src/core/config/ share, and nothing outside them uses
 * (core/config.h is the interface):
 *
 *   load.c    libyaml into struct config: config_parse, config_load,
 *             config_free, durations, FILE:LINE:COL errors
 *   order.c   services by name: `after` checked, start order, --services
 *   paths.c   the rules for `files` entries, as written and as resolved
 *   record.c  the state folder's binding to a config, secrets masked,
 *             a recorded config written back
 *
 * config_parse walks the document in load.c, then calls check_after and
 * check_paths with the parser still holding the nodes, so that their
 * errors point at the line and column of the entry at fault.
 */
#ifndef LG_CONFIG_INTERNAL_H
#define LG_CONFIG_INTERNAL_H

#include "core/config.h"

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

struct error;

#define NO_SERVICE SIZE_MAX

/* A document being walked into cfg; errors go to err as FILE:LINE:COL. */
struct config_parser {
	const char *path;
	const char *text;
	size_t len;
	yaml_document_t doc;
	struct config *cfg;
	struct error *err;
	yaml_node_t **after;     /* per service: its `after` list, for marks */
};

/* load.c: an ERROR_USAGE error "PATH:LINE:COLUMN: message" in err, with
 * control bytes escaped so that it stays one line; returns -1. */
int mark_error(struct error *err, const char *path, struct config_mark mark, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same at node's place in p's document. */
int node_error(struct config_parser *p, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Item i of the sequence node. */
yaml_node_t *sequence_item(struct config_parser *p, const yaml_node_t *node, size_t i);

/* order.c: the index of the service called name, or NO_SERVICE. */
size_t service_index(const struct config *cfg, const char *name);
/* Every `after` names a service, and they form no cycle (errors at the
 * entry that is unknown, or that closes the cycle). */
int check_after(struct config_parser *p);

/* paths.c: the rules for `files` as written (see check_paths). */
int check_paths(struct config_parser *p);
/* path as the file system resolves it now (see its comment). */
char *path_physical(const char *path);

#endif
