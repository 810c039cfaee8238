/*
 * `lastgood db status`: each database's applied migrations against the
 * live release's (pending, drift); a command database's tool version
 * and backups. Reads only; takes no migrator lock.
 */
#include "core/usecase/db_status.h"
#include "core/config.h"
#include "core/manifest.h"
#include "core/db/command.h"
#include "core/release.h"
#include "core/resource/schema_journal.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static void status_read(const struct database *db, const struct manifest *live,
			struct db_status *s)
{
	const struct db_engine *e = db_engine_of(db);
	struct error err = ERROR_INIT;
	struct db_conn *conn;

	s->db = db;
	if (migration_set_from_manifest(live, db->migrations, &s->live, &err) < 0 ||
	    e->connect(db, &conn, &err) < 0) {
		s->error = xstrdup(err.msg);
		return;
	}
	int rc = e->applied(conn, &s->applied, &s->napplied, &err);
	e->close(conn);
	if (rc < 0) {
		s->error = xstrdup(err.msg);
		return;
	}
	s->version = s->napplied ? s->applied[s->napplied - 1].version : 0;
	s->release_version = migration_set_latest(&s->live);
	s->pending = xcalloc(s->live.n ? s->live.n : 1, sizeof(*s->pending));
	for (size_t i = 0; i < s->live.n; i++)
		if (s->live.v[i].version > s->version)
			s->pending[s->npending++] = &s->live.v[i];
	s->drift = xcalloc(s->napplied ? s->napplied : 1, sizeof(*s->drift));
	for (size_t i = 0; i < s->napplied; i++) {
		const struct db_applied *a = &s->applied[i];
		const struct migration *m = migration_set_find(&s->live, a->version);
		if (m && !strcmp(m->up, a->checksum))
			continue;
		struct db_drift *d = &s->drift[s->ndrift++];
		d->version = a->version;
		d->name = xstrdup(a->name);
		memcpy(d->applied, a->checksum, sizeof(d->applied));
		if (m)
			memcpy(d->release, m->up, sizeof(d->release));
	}
}

/* A command database: where its tool stands, what the live release
 * recorded, and its backups (none without a state folder). */
static void status_read_tool(struct state *st, long live_id, const struct database *db,
			     struct db_status *s)
{
	struct error err = ERROR_INIT;

	s->db = db;
	if (live_id)
		s->tool_release_version = schema_release_version(st, live_id, db->name);
	if ((db_command_migrates(db) && db_command_current(db, &s->tool_version, &err) < 0) ||
	    (st && db_backups_list(st, db->name, &s->backups, &s->nbackups, &err) < 0))
		s->error = xstrdup(err.msg);
}

int usecase_db_status(struct state *st, const struct config *cfg, const char *name,
		      struct db_status **out, size_t *n, struct error *err)
{
	struct manifest live = MANIFEST_INIT;
	long live_id = st ? state_live_release(st) : 0;

	*out = NULL;
	*n = 0;
	if (name && !config_find_database(cfg, name))
		return error_set(err, ERROR_USAGE, "no database '%s' in %s", name, cfg->path);
	if (live_id && release_manifest(st, live_id, &live, err) < 0)
		return -1;
	*out = xcalloc(cfg->ndatabases ? cfg->ndatabases : 1, sizeof(**out));
	for (size_t i = 0; i < cfg->ndatabases; i++) {
		const struct database *db = &cfg->databases[i];
		if (name && strcmp(name, db->name))
			continue;
		if (db->engine == DB_ENGINE_COMMAND)
			status_read_tool(st, live_id, db, &(*out)[(*n)++]);
		else
			status_read(db, &live, &(*out)[(*n)++]);
	}
	manifest_free(&live);
	return 0;
}

void usecase_db_status_free(struct db_status *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct db_status *s = &list[i];
		db_applied_free(s->applied, s->napplied);
		free(s->pending);
		for (size_t k = 0; k < s->ndrift; k++)
			free(s->drift[k].name);
		free(s->drift);
		migration_set_free(&s->live);
		free(s->error);
		free(s->tool_version);
		free(s->tool_release_version);
		db_backups_free(s->backups, s->nbackups);
	}
	free(list);
}
