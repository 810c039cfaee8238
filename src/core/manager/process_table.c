/*
 * The processes table of the state database: the pid and start time of
 * each process service lastgood started (see process_table.h).
 */
#include "core/manager/process_table.h"
#include "core/state.h"
#include "util/error.h"

#include <sqlite3.h>

int process_row_get(struct state *st, const char *name, struct process_row *row,
		    struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "SELECT pid, start_ticks, started_ms FROM processes "
			  "WHERE service = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		row->pid = (long)sqlite3_column_int64(stmt, 0);
		row->start_ticks = sqlite3_column_int64(stmt, 1);
		row->started_ms = sqlite3_column_int64(stmt, 2);
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = state_db_error(st, "read process", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int process_row_put(struct state *st, const char *name, const struct process_row *row,
		    struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT OR REPLACE INTO processes(service, pid, start_ticks, "
			  "started_ms) VALUES(?, ?, ?, ?)", &stmt, err) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, row->pid);
	sqlite3_bind_int64(stmt, 3, row->start_ticks);
	sqlite3_bind_int64(stmt, 4, row->started_ms);
	int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : state_db_error(st, "record process", err);
	sqlite3_finalize(stmt);
	return rc;
}

int process_row_delete(struct state *st, const char *name, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "DELETE FROM processes WHERE service = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : state_db_error(st, "forget process", err);
	sqlite3_finalize(stmt);
	return rc;
}
