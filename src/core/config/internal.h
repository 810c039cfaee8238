/*
 * What the files of src/core/config/ share, and nothing outside them uses
 * (core/config.h is the interface):
 *
 *   load.c    libyaml into struct config: config_parse, config_load,
 *             config_free, durations, FILE:LINE:COL errors, and the
 *             readers of keys and values every section uses
 *   databases.c  the `databases:` section and its rules
 *   order.c   services by name: `after` checked, start order, --services
 *   paths.c   the rules for `files` entries, as written and as resolved
 *   record.c  the state folder's binding to a config, secrets masked,
 *             a recorded config written back
 *
 * config_parse walks the document in load.c, then calls check_after,
 * check_paths and parse_databases with the parser still holding the nodes,
 * so that their errors point at the line and column of the entry at fault.
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
/* Where node was written. */
struct config_mark node_mark(const yaml_node_t *node);
/* What was found where something else belongs, for messages ("a list"). */
const char *node_kind(const yaml_node_t *node);

/* One known key of a mapping; read_mapping fills key and value. */
struct field {
	const char *name;
	yaml_node_t *key;
	yaml_node_t *value;
};
#define FIELD(index, key_name) [index] = { .name = key_name }

/*
 * Check that node is a mapping whose keys are all among fields, each once,
 * and point every field present at its key and value. `what` names the
 * mapping in a type error, `where` (" in service 'api'") ends the others.
 */
int read_mapping(struct config_parser *p, yaml_node_t *node, const char *what,
		 const char *where, struct field *fields, size_t nfields);
/* The text of a scalar (valid while the document is); a list or mapping
 * where text belongs is an error naming the key, and so is a NUL byte,
 * which would silently cut the text. */
int scalar_text(struct config_parser *p, const yaml_node_t *node, const char *key,
		const char *where, const char *expected, const char **text);
/* f's value as a new non-empty string. */
int get_string(struct config_parser *p, const struct field *f, const char *where, char **out);
/* A folder or file named relative to the config's folder, made absolute. */
int get_path(struct config_parser *p, const struct field *f, const char *where, char **out);
/* A YAML list of scalars as a NULL-terminated vector; out->n is set first
 * so config_free releases a half-read list. */
int get_string_list(struct config_parser *p, const struct field *f, const char *where,
		    int allow_empty, struct argv_list *out);
void argv_list_free(struct argv_list *list);
/* The long form of a value, {value: TEXT, secret: BOOL}, for values that
 * must never be shown (an env entry, a database password). Messages name
 * the key (name), never the value. */
int get_value_entry(struct config_parser *p, yaml_node_t *node, const char *name,
		    const char *where, const char **value, int *secret);
/* The name of entry i of a section (section "services", kind "service"):
 * the key of pair i of mapping, plain (letters, digits, '.', '_', '-') and
 * not the name of an entry before it. *name is valid while the document
 * is. */
int read_entry_name(struct config_parser *p, const yaml_node_t *mapping, size_t i,
		    const char *section, const char *kind, const char **name);

/* order.c: the index of the service called name, or NO_SERVICE. */
size_t service_index(const struct config *cfg, const char *name);
/* Every `after` names a service, and they form no cycle (errors at the
 * entry that is unknown, or that closes the cycle). */
int check_after(struct config_parser *p);

/* paths.c: the rules for `files` as written (see check_paths). */
int check_paths(struct config_parser *p);
/* path as the file system resolves it now (see its comment). */
char *path_physical(const char *path);

/* databases.c: the `databases:` mapping into cfg->databases, checked
 * against the services parsed before it. */
int parse_databases(struct config_parser *p, yaml_node_t *node);
/* Free one database's fields, zeroing its secrets. */
void database_free(struct database *db);
/* The password of a postgres `url` written as key=value settings
 * ("host=db password=..."), as libpq reads it, in a new string the caller
 * secret_free()s; NULL when there is none, or url is a URL (secret.h finds
 * the secrets of those). */
char *conninfo_password(const char *url);

#endif
