/*
 * Operations and steps in the state database: the journal recover reads and
 * the record history, show and reports are drawn from.
 */
#include "core/operation.h"
#include "core/plan.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void bind_text_or_null(sqlite3_stmt *stmt, int col, const char *text)
{
	if (text)
		sqlite3_bind_text(stmt, col, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, col);
}

/* Step a prepared write and finalize it. Each is its own autocommit
 * transaction, so the record is durable (synchronous=FULL) on return. */
static int run_write(struct state *st, sqlite3_stmt *stmt, const char *what, struct error *err)
{
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, what, err);
	return 0;
}

int operation_begin(struct state *st, const char *command, const char *args,
		    const char *reason, long *op, struct error *err)
{
	sqlite3_stmt *stmt;
	char *actor = state_actor();
	if (state_prepare(st, "INSERT INTO operations(command, args, reason, actor, pid, started_ms) "
			  "VALUES(?, ?, ?, ?, ?, ?)", &stmt, err) < 0) {
		free(actor);
		return -1;
	}
	sqlite3_bind_text(stmt, 1, command, -1, SQLITE_STATIC);
	bind_text_or_null(stmt, 2, args);
	bind_text_or_null(stmt, 3, reason);
	sqlite3_bind_text(stmt, 4, actor, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 5, getpid());
	sqlite3_bind_int64(stmt, 6, clock_wall_ms());
	free(actor);
	if (run_write(st, stmt, "record operation", err) < 0)
		return -1;
	*op = (long)sqlite3_last_insert_rowid(st->db);
	st->operation = *op;
	state_lock_describe(st, *op, command);
	return 0;
}

static const char *const op_phase_names[OP_PHASE_COUNT] = {
	[OP_PHASE_RUNNING] = "running",
	[OP_PHASE_STAGING] = "staging",
	[OP_PHASE_SWAPPING] = "swapping",
	[OP_PHASE_COMMITTED] = "committed",
	[OP_PHASE_REVERTING] = "reverting",
	[OP_PHASE_REVERTED] = "reverted",
	[OP_PHASE_SWITCHED] = "switched",
	[OP_PHASE_UNDONE] = "undone",
	[OP_PHASE_ENDED] = "ended",
};

const char *op_phase_name(enum op_phase phase)
{
	return phase < OP_PHASE_COUNT ? op_phase_names[phase] : "?";
}

int operation_phase(struct state *st, long op, enum op_phase *phase, long *revert_to,
		    struct error *err)
{
	sqlite3_stmt *stmt;
	const char *name = NULL;
	int found = 0;

	if (state_prepare(st, "SELECT phase, revert_to FROM operations WHERE id = ?", &stmt,
			  err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(stmt, 0);
		*revert_to = sqlite3_column_int64(stmt, 1);
		for (size_t p = 0; name && p < OP_PHASE_COUNT && !found; p++)
			if (!strcmp(name, op_phase_names[p])) {
				*phase = (enum op_phase)p;
				found = 1;
			}
	}
	int rc = name && !found
		 ? error_set(err, ERROR_FAILED, "operation %ld is in phase '%s', which this "
			     "lastgood does not know; recover it with the lastgood that began it",
			     op, name)
		 : !name ? error_set(err, ERROR_FAILED, "no operation %ld in the journal", op) : 0;
	sqlite3_finalize(stmt);
	return rc;
}

int operation_stays_on_target(struct state *st, long op, struct error *err)
{
	enum op_phase phase;
	long revert_to;
	if (operation_phase(st, op, &phase, &revert_to, err) < 0)
		return -1;
	return phase == OP_PHASE_COMMITTED || phase == OP_PHASE_SWITCHED || phase == OP_PHASE_ENDED;
}

int operation_may_revert(struct state *st, long op, struct error *err)
{
	enum op_phase phase;
	long revert_to;
	if (operation_phase(st, op, &phase, &revert_to, err) < 0)
		return -1;
	return phase == OP_PHASE_COMMITTED || phase == OP_PHASE_REVERTING ||
	       phase == OP_PHASE_REVERTED;
}

int operation_set_phase(struct state *st, long op, enum op_phase phase, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE operations SET phase = ? WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, op_phase_names[phase], -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, op);
	return run_write(st, stmt, "record phase", err);
}

int operation_set_releases(struct state *st, long op, long from, long to, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE operations SET from_release = ?, to_release = ? WHERE id = ?",
			  &stmt, err) < 0)
		return -1;
	if (from)
		sqlite3_bind_int64(stmt, 1, from);
	if (to)
		sqlite3_bind_int64(stmt, 2, to);
	sqlite3_bind_int64(stmt, 3, op);
	return run_write(st, stmt, "record operation releases", err);
}

int operation_end(struct state *st, long op, enum op_result result,
		  const char *error_text, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE operations SET result = ?, error = ?, ended_ms = ?, "
			  "phase = 'ended' WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int(stmt, 1, result);
	bind_text_or_null(stmt, 2, error_text);
	sqlite3_bind_int64(stmt, 3, clock_wall_ms());
	sqlite3_bind_int64(stmt, 4, op);
	if (run_write(st, stmt, "end operation", err) < 0)
		return -1;
	if (st->operation == op)
		st->operation = 0;
	return 0;
}

/* Insert a step; ended_ms 0 leaves it running. *step gets its id. */
static int insert_step(struct state *st, long op, enum step_kind kind, const char *target,
		       enum step_result result, const char *detail, long long started_ms,
		       long long ended_ms, long *step, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT INTO steps(operation, seq, kind, target, detail, result, "
			  "started_ms, ended_ms) VALUES(?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
			  "steps WHERE operation = ?1), ?2, ?3, ?4, ?5, ?6, ?7)", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	sqlite3_bind_text(stmt, 2, step_kind_name(kind), -1, SQLITE_STATIC);
	bind_text_or_null(stmt, 3, target);
	bind_text_or_null(stmt, 4, detail);
	sqlite3_bind_int(stmt, 5, result);
	sqlite3_bind_int64(stmt, 6, started_ms);
	if (ended_ms)
		sqlite3_bind_int64(stmt, 7, ended_ms);
	if (run_write(st, stmt, "record step", err) < 0)
		return -1;
	if (step)
		*step = (long)sqlite3_last_insert_rowid(st->db);
	return 0;
}

int operation_step_begin(struct state *st, long op, enum step_kind kind,
			 const char *target, long *step, struct error *err)
{
	return insert_step(st, op, kind, target, STEP_RUNNING, NULL, clock_wall_ms(), 0, step, err);
}

int operation_step_end(struct state *st, long step, enum step_result result,
		       const char *detail, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE steps SET result = ?, detail = ?, ended_ms = ? WHERE id = ?",
			  &stmt, err) < 0)
		return -1;
	sqlite3_bind_int(stmt, 1, result);
	bind_text_or_null(stmt, 2, detail);
	sqlite3_bind_int64(stmt, 3, clock_wall_ms());
	sqlite3_bind_int64(stmt, 4, step);
	return run_write(st, stmt, "end step", err);
}

void operation_step_fail(struct state *st, long step, const struct error *err)
{
	struct error ignored = ERROR_INIT;
	(void)operation_step_end(st, step, STEP_FAILED, err->msg, &ignored);
}

int operation_step_record(struct state *st, long op, enum step_kind kind,
			  const char *target, enum step_result result, const char *detail,
			  long long started_ms, long long ended_ms, struct error *err)
{
	return insert_step(st, op, kind, target, result, detail, started_ms, ended_ms, NULL, err);
}

int operation_commit(struct state *st, long op, long release, struct error *err)
{
	long long now = clock_wall_ms();
	char *detail = xstrfmt("release %ld live", release);
	int rc = state_begin(st, err);
	if (rc == 0 && (operation_set_phase(st, op, OP_PHASE_COMMITTED, err) < 0 ||
			state_set_live_release(st, release, err) < 0 ||
			insert_step(st, op, STEP_COMMIT, NULL, STEP_OK, detail, now,
				    now, NULL, err) < 0)) {
		state_rollback(st);
		rc = -1;
	}
	free(detail);
	return rc < 0 ? -1 : state_commit(st, err);
}

int operation_step_note(struct state *st, long op, enum step_kind kind,
			const char *target, enum step_result result,
			const char *detail, struct error *err)
{
	long long now = clock_wall_ms();
	return operation_step_record(st, op, kind, target, result, detail, now, now, err);
}

#define OP_COLUMNS "id, command, args, reason, actor, pid, started_ms, ended_ms, " \
		   "result, error, from_release, to_release"

static void read_operation_row(sqlite3_stmt *stmt, struct operation_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->id = (long)sqlite3_column_int64(stmt, 0);
	rec->command = state_column_text(stmt, 1);
	rec->args = state_column_text(stmt, 2);
	rec->reason = state_column_text(stmt, 3);
	rec->actor = state_column_text(stmt, 4);
	rec->pid = (long)sqlite3_column_int64(stmt, 5);
	rec->started_ms = sqlite3_column_int64(stmt, 6);
	rec->ended_ms = sqlite3_column_int64(stmt, 7);
	rec->result = (enum op_result)sqlite3_column_int(stmt, 8);
	rec->error = state_column_text(stmt, 9);
	rec->from_release = (long)sqlite3_column_int64(stmt, 10);
	rec->to_release = (long)sqlite3_column_int64(stmt, 11);
}

static int read_steps(struct state *st, struct operation_record *rec, struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	if (state_prepare(st, "SELECT id, seq, kind, target, detail, result, started_ms, ended_ms "
			  "FROM steps WHERE operation = ? ORDER BY seq", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, rec->id);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(rec->steps, rec->nsteps + 1, alloc);
		struct step_record *s = &rec->steps[rec->nsteps++];
		s->id = (long)sqlite3_column_int64(stmt, 0);
		s->seq = sqlite3_column_int(stmt, 1);
		s->kind_name = state_column_text(stmt, 2);
		if (!s->kind_name || step_kind_parse(s->kind_name, &s->kind) < 0)
			s->kind = STEP_KIND_COUNT;
		s->target = state_column_text(stmt, 3);
		s->detail = state_column_text(stmt, 4);
		s->result = (enum step_result)sqlite3_column_int(stmt, 5);
		s->started_ms = sqlite3_column_int64(stmt, 6);
		s->ended_ms = sqlite3_column_int64(stmt, 7);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "read steps", err);
	return 0;
}

int operation_releases(struct state *st, long op, long *from, long *to, struct error *err)
{
	sqlite3_stmt *stmt;
	*from = *to = 0;
	if (state_prepare(st, "SELECT coalesce(from_release, 0), coalesce(to_release, 0) "
			  "FROM operations WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*from = (long)sqlite3_column_int64(stmt, 0);
		*to = (long)sqlite3_column_int64(stmt, 1);
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return error_set(err, ERROR_USAGE, "no operation %ld", op);
	return rc == SQLITE_ROW ? 0 : state_db_error(st, "read operation", err);
}

int operation_get(struct state *st, long op, struct operation_record *rec, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "SELECT " OP_COLUMNS " FROM operations WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		if (rc == SQLITE_DONE)
			return error_set(err, ERROR_USAGE, "no operation %ld", op);
		return state_db_error(st, "read operation", err);
	}
	read_operation_row(stmt, rec);
	sqlite3_finalize(stmt);
	if (read_steps(st, rec, err) < 0) {
		operation_record_clear(rec);
		return -1;
	}
	return 0;
}

int operation_list(struct state *st, int limit, struct operation_record **list,
		   size_t *n, struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	*list = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT " OP_COLUMNS " FROM operations ORDER BY id DESC LIMIT ?",
			  &stmt, err) < 0)
		return -1;
	sqlite3_bind_int(stmt, 1, limit > 0 ? limit : -1);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*list, *n + 1, alloc);
		read_operation_row(stmt, &(*list)[(*n)++]);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		operation_list_free(*list, *n);
		*list = NULL;
		*n = 0;
		return state_db_error(st, "list operations", err);
	}
	return 0;
}

void operation_record_clear(struct operation_record *rec)
{
	free(rec->command);
	free(rec->args);
	free(rec->reason);
	free(rec->actor);
	free(rec->error);
	for (size_t i = 0; i < rec->nsteps; i++) {
		free(rec->steps[i].kind_name);
		free(rec->steps[i].target);
		free(rec->steps[i].detail);
	}
	free(rec->steps);
	memset(rec, 0, sizeof(*rec));
}

void operation_list_free(struct operation_record *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		operation_record_clear(&list[i]);
	free(list);
}

int operation_unfinished(struct state *st, long **ops, size_t *n, struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	*ops = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT id FROM operations WHERE result = 0 ORDER BY id", &stmt, err) < 0)
		return -1;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*ops, *n + 1, alloc);
		(*ops)[(*n)++] = (long)sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		free(*ops);
		*ops = NULL;
		*n = 0;
		return state_db_error(st, "list unfinished operations", err);
	}
	return 0;
}

const char *op_result_name(enum op_result r)
{
	switch (r) {
	case OP_RUNNING: return "running";
	case OP_OK: return "ok";
	case OP_FAILED: return "failed";
	case OP_ROLLED_BACK: return "rolled-back";
	case OP_UNDONE: return "undone";
	case OP_FINISHED: return "finished";
	case OP_NEEDS_ATTENTION: return "needs-attention";
	}
	return "unknown";
}

const char *step_result_name(enum step_result r)
{
	switch (r) {
	case STEP_RUNNING: return "running";
	case STEP_OK: return "ok";
	case STEP_FAILED: return "failed";
	case STEP_SKIPPED: return "skipped";
	case STEP_UNDONE: return "undone";
	}
	return "unknown";
}
