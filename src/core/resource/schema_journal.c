/*
 * The journal of database switches (schema_journal.h): schema_switches
 * and release_schemas in the state database.
 */
#include "core/resource/schema_journal.h"
#include "core/config.h"
#include "core/operation.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

void schema_switches_free(struct schema_switch *sw, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(sw[i].database);
		free(sw[i].kind);
		free(sw[i].from_version);
		free(sw[i].to_version);
	}
	free(sw);
}

static char *column_text(sqlite3_stmt *stmt, int i)
{
	const unsigned char *text = sqlite3_column_text(stmt, i);
	return xstrdup(text ? (const char *)text : "");
}

int schema_switches_load(struct state *st, long op, struct schema_switch **out, size_t *n,
			 struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	*out = NULL;
	*n = 0;
	/* the backup op took of the database: recorded by itself, so that a
	 * crash between the two records cannot lose it */
	if (state_prepare(st, "SELECT database, kind, from_version, to_version, "
			  "coalesce((SELECT max(b.id) FROM db_backups b WHERE b.operation = "
			  "s.operation AND b.database = s.database), 0), migrating "
			  "FROM schema_switches s WHERE operation = ? AND settled = 0 "
			  "ORDER BY database", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*out, *n + 1, alloc);
		struct schema_switch *sw = &(*out)[(*n)++];
		sw->database = column_text(stmt, 0);
		sw->kind = column_text(stmt, 1);
		sw->from_version = column_text(stmt, 2);
		sw->to_version = column_text(stmt, 3);
		sw->backup = sqlite3_column_int64(stmt, 4);
		sw->migrating = sqlite3_column_int(stmt, 5);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		schema_switches_free(*out, *n);
		*out = NULL;
		*n = 0;
		return state_db_error(st, "read schema switches", err);
	}
	return 0;
}

int schema_switch_begin(struct state *st, long op, const char *kind, const char *database,
			const char *from, const char *to, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT INTO schema_switches(operation, kind, database, "
			  "from_version, to_version) VALUES(?, ?, ?, ?, ?)", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, database, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, to, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : state_db_error(st, "record schema switch", err);
}

int schema_switch_migrating(struct state *st, long op, const char *database, struct error *err)
{
	return state_exec_bound(st, "UPDATE schema_switches SET migrating = 1 "
				"WHERE operation = ?1 AND database = ?2", op, database, NULL, NULL,
				"record schema switch", err);
}

int schema_switch_reached(struct state *st, long op, const char *database, const char *to,
			  struct error *err)
{
	return state_exec_bound(st, "UPDATE schema_switches SET to_version = ?3 "
				"WHERE operation = ?1 AND database = ?2", op, database, to, NULL,
				"record schema switch", err);
}

int schema_switch_settle(struct state *st, long op, const char *database, struct error *err)
{
	return state_exec_bound(st, "UPDATE schema_switches SET settled = 1 "
				"WHERE operation = ?1 AND database = ?2", op, database, NULL, NULL,
				"settle schema switch", err);
}

void schema_switches_settle_unstarted(struct state *st, long op)
{
	struct error ignored = ERROR_INIT;
	state_exec_bound(st, "UPDATE schema_switches SET settled = 1 WHERE operation = ?1 AND "
			 "migrating = 0", op, NULL, NULL, NULL, "settle schema switches", &ignored);
}

char *schema_release_version(struct state *st, long release, const char *database)
{
	sqlite3_stmt *stmt;
	struct error ignored = ERROR_INIT;
	char *version = NULL;
	if (state_prepare(st, "SELECT version FROM release_schemas WHERE release = ? AND "
			  "database = ?", &stmt, &ignored) < 0)
		return NULL;
	sqlite3_bind_int64(stmt, 1, release);
	sqlite3_bind_text(stmt, 2, database, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		version = column_text(stmt, 0);
	sqlite3_finalize(stmt);
	return version;
}

int schema_record_version(struct state *st, long release, const char *database,
			  const char *version, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT OR REPLACE INTO release_schemas(release, database, version) "
			  "VALUES(?, ?, ?)", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, release);
	sqlite3_bind_text(stmt, 2, database, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, version, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : state_db_error(st, "record schema version", err);
}

long schema_op_release(struct state *st, long op, int to)
{
	struct error ignored = ERROR_INIT;
	long from, until;
	if (operation_releases(st, op, &from, &until, &ignored) < 0)
		return 0;
	return to ? until : from;
}

int schema_switch_kept(struct state *st, long op, struct error *err)
{
	struct schema_switch *sw;
	size_t n;
	int may_revert = operation_may_revert(st, op, err);
	if (may_revert < 0 || schema_switches_load(st, op, &sw, &n, err) < 0)
		return -1;
	int kept = 0;
	for (size_t i = 0; i < n; i++)
		kept |= sw[i].migrating;
	schema_switches_free(sw, n);
	return kept && may_revert;
}


int schema_gone_from_config(const struct schema_switch *sw, long op, struct error *err)
{
	return error_set(err, ERROR_ATTENTION, "database '%s' changed by operation %ld is no "
			 "longer in the config: bring it back to version %s by hand, or put it "
			 "back in the config and run 'lastgood recover'", sw->database, op,
			 *sw->from_version ? sw->from_version : "none");
}

/* Whether sw is the side's; *db gets its database's config (NULL when
 * it left the config). */
static int on_side(const struct schema_side *side, const struct config *cfg,
		   const struct schema_switch *sw, const struct database **db)
{
	*db = config_find_database(cfg, sw->database);
	return !strcmp(sw->kind, side->kind);
}

int schema_side_go_back_all(const struct schema_side *side, struct state *st,
			    const struct config *cfg, long op, int *moved, struct error *err)
{
	struct schema_switch *sw;
	size_t n;
	int rc = 0;

	*moved = 0;
	if (schema_switches_load(st, op, &sw, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct database *db;
		if (!on_side(side, cfg, &sw[i], &db))
			continue;
		if (!db && sw[i].migrating) {
			rc = schema_gone_from_config(&sw[i], op, err);
			break;
		}
		if (sw[i].migrating) {
			rc = side->go_back(st, op, db, &sw[i], err);
			*moved = 1;
		}
		if (rc == 0)
			rc = schema_switch_settle(st, op, sw[i].database, err);
	}
	schema_switches_free(sw, n);
	return rc;
}

int schema_side_undo(const struct schema_side *side, struct state *st, const struct config *cfg,
		     long op, struct error *err)
{
	int moved;
	struct error own = ERROR_INIT;
	if (schema_side_go_back_all(side, st, cfg, op, &moved, &own) < 0)
		error_undo_failed(err, &own);
	return -1;
}

int schema_side_finish(const struct schema_side *side, struct state *st,
		       const struct config *cfg, long op, int target_stays, struct error *err)
{
	struct schema_switch *sw;
	size_t n;
	if (schema_switches_load(st, op, &sw, &n, err) < 0)
		return -1;
	long release = schema_op_release(st, op, 1);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct database *db;
		if (!on_side(side, cfg, &sw[i], &db))
			continue;
		if (target_stays && release)
			rc = schema_record_version(st, release, sw[i].database, sw[i].to_version, err);
		if (rc == 0)
			rc = schema_switch_settle(st, op, sw[i].database, err);
	}
	schema_switches_free(sw, n);
	return rc;
}

int schema_side_recover(const struct schema_side *side, struct state *st,
			const struct config *cfg, long op, enum switch_outcome *outcome,
			struct error *err)
{
	int moved = 0;

	*outcome = SWITCH_NOTHING;
	int committed = operation_stays_on_target(st, op, err);
	if (committed < 0)
		return -1;
	if (committed) {
		*outcome = SWITCH_FINISHED;
		return schema_side_finish(side, st, cfg, op, 1, err);
	}
	if (schema_side_go_back_all(side, st, cfg, op, &moved, err) < 0)
		return -1;
	if (moved)
		*outcome = SWITCH_UNDONE;
	return 0;
}
