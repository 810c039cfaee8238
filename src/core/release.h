/*
 * Releases: numbered, immutable snapshots of every service's files.
 *
 * A release row points at a manifest kept in the store (manifest.h). Numbers
 * grow and are never reused, even after gc drops old releases. A release is
 * marked good once it has been live and passed verification, bad when it
 * failed; unmarked otherwise.
 *
 *   long id;
 *   release_create(&st, &manifest, &meta, &id, &err);
 *   struct release r;
 *   release_get(&st, id, &r, &err);  ... release_clear(&r);
 *   release_resolve(&st, "-1", &id, &err);
 */
#ifndef LG_RELEASE_H
#define LG_RELEASE_H

#include "util/hash.h"

struct config;
struct error;
struct manifest;
struct state;
struct strbuf;

enum release_mark {
	MARK_NONE = 0,
	MARK_GOOD,
	MARK_BAD,
};

struct release {
	long id;
	char digest[HASH_HEX_SIZE];     /* sha256 of the manifest text */
	long long created_ms;
	char *label;
	char *commit;
	char *reason;
	char *actor;
	enum release_mark mark;
	long files;
	long long size;                 /* bytes of regular files */
	long long added;                /* bytes this release added to the store */
	long operation;                 /* the operation that recorded it */
	char config_digest[HASH_HEX_SIZE]; /* its config's text in the store; "" when
	                                   recorded before configs were kept */
};

struct release_meta {
	const char *label;
	const char *commit;
	const char *reason;
	long long added;
	const struct config *config;    /* the config in use; NULL records none */
};

/* Store the manifest and record a new release, with the text of
 * meta->config stored beside it. When no label or commit is asked for and
 * a release already has exactly this content (the live one first, else the
 * newest), that release is returned instead (*created = 0): content known
 * to be bad keeps its mark, and the config it was first recorded with
 * (one recorded before configs were kept gets meta->config's). A label
 * another release holds is refused (ERROR_USAGE), unless that release
 * failed (marked bad, or recorded by an operation that did not succeed,
 * and not live): then the new release takes the label over, and the old
 * one keeps it as its former label (release_former_label), so that a
 * label names one release. */
int release_create(struct state *st, const struct manifest *m,
		   const struct release_meta *meta, long *id, int *created,
		   struct error *err);
/* The release release_create would give m with meta instead of making a
 * new one (same content, neither label nor commit asked for); 0 when it
 * would make one. */
long release_reusable(struct state *st, const struct manifest *m,
		      const struct release_meta *meta);
/* The label release id gave up to a later release, or NULL (caller
 * frees). */
char *release_former_label(struct state *st, long id);
int release_get(struct state *st, long id, struct release *r, struct error *err);
/* The newest `limit` releases (limit <= 0: all), newest first; caller
 * frees with release_list_free. */
int release_list(struct state *st, int limit, struct release **list, size_t *n,
		 struct error *err);
void release_list_free(struct release *list, size_t n);

/* The schema version a release ran a database with (release_schemas). */
struct release_schema {
	long release;
	char *database;
	char *version;                  /* as its engine names it */
};
/* Every recorded one of releases from..to (inclusive), by release then
 * database. */
int release_schemas(struct state *st, long from, long to, struct release_schema **list,
		    size_t *n, struct error *err);
void release_schemas_free(struct release_schema *list, size_t n);
void release_clear(struct release *r);
int release_set_mark(struct state *st, long id, enum release_mark mark, struct error *err);
const char *release_mark_name(enum release_mark mark);
/* The text of the config release id was recorded with, appended to text
 * (verified against its digest); an ERROR_USAGE error when it has none. */
int release_config_text(struct state *st, long id, struct strbuf *text, struct error *err);
/* Load a release's manifest (verifying it). */
int release_manifest(struct state *st, long id, struct manifest *m, struct error *err);

/* REF: a release number, a label, a commit prefix (4+ hex digits), or -N
 * (N releases before the live one). An unknown or ambiguous ref is an
 * ERROR_USAGE error that says which. */
int release_resolve(struct state *st, const char *ref, long *id, struct error *err);
/* The newest good release older than the live one, skipping bad ones;
 * falls back to the newest unmarked older one when none is marked good. */
int release_default_target(struct state *st, long *id, struct error *err);
/* The newest release recorded with exactly this commit, 0 when none. */
long release_with_commit(struct state *st, const char *commit);
/* Delete a release row (gc). */
int release_delete(struct state *st, long id, struct error *err);
/* The oldest release still recorded whose files for service are exactly
 * release id's, id itself when none older is; 0 when id has no record of
 * them (a service without files, or a release older than the record). */
long release_files_origin(struct state *st, long id, const char *service);

#endif
