/*
 * The process manager's record (manager/process_table.c): one row per
 * process service lastgood started, in the `processes` table of the state
 * database, naming its pid and the start time that tells it apart from a
 * later process given the same pid.
 *
 *   struct process_row row;
 *   if (process_row_get(st, svc->name, &row, err) == 1) ... row.pid
 *
 * A row is written once the service's exec gate runs and before it is let
 * exec `run` (manager/process.c), and deleted once the service is stopped.
 */
#ifndef LG_MANAGER_PROCESS_TABLE_H
#define LG_MANAGER_PROCESS_TABLE_H

struct error;
struct state;

struct process_row {
	long pid;
	long long start_ticks;       /* /proc/PID/stat field 22 */
	long long started_ms;        /* wall clock, when lastgood started it */
};

/* 1 with *row filled, 0 when the service has no row, -1 on error. */
int process_row_get(struct state *st, const char *name, struct process_row *row,
		    struct error *err);
/* Record row as the service's process, replacing any row it had. */
int process_row_put(struct state *st, const char *name, const struct process_row *row,
		    struct error *err);
/* Forget the service's process; no row is no error. */
int process_row_delete(struct state *st, const char *name, struct error *err);

#endif
