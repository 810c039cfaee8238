/*
 * `lastgood db status`: where each database's schema stands against the
 * live release's migrations (read-only).
 */
#ifndef LG_USECASE_DB_STATUS_H
#define LG_USECASE_DB_STATUS_H

#include <stddef.h>

#include "core/db/backups.h"
#include "core/db/db.h"

struct config;
struct error;
struct state;

/* An applied migration whose script is not the live release's. */
struct db_drift {
	long version;
	char *name;
	char applied[HASH_HEX_SIZE];
	char release[HASH_HEX_SIZE];  /* "" when the live release lacks it */
};

struct db_status {
	const struct database *db;
	long version;                 /* newest applied; 0 none */
	long release_version;         /* newest migration of the live release */
	struct db_applied *applied;   /* lastgood_migrations, ascending */
	size_t napplied;
	const struct migration **pending;  /* the live release's, not applied yet */
	size_t npending;
	struct db_drift *drift;
	size_t ndrift;
	struct migration_set live;    /* what pending points into */
	char *error;                  /* the database could not be read: why */
	/* a command database: what its tool says, not pending or drift
	 * (the tool owns its migrations), and the backups kept */
	char *tool_version;           /* `current`; NULL without a tool */
	char *tool_release_version;   /* the live release recorded; NULL none */
	struct db_backup *backups;    /* newest first */
	size_t nbackups;
};

/* The status of each database (only `name` when not NULL: an unknown
 * name is ERROR_USAGE); a command database's is its tool's version and
 * its backups. A database that cannot be read
 * gets its error text and the others are still read. */
int usecase_db_status(struct state *st, const struct config *cfg, const char *name,
		      struct db_status **out, size_t *n, struct error *err);
void usecase_db_status_free(struct db_status *list, size_t n);

#endif
