/*
 * The system error behind an SQLite error: SQLite names only its own kind
 * of error ("disk I/O error", "attempt to write a readonly database"), and
 * the errno it keeps is often another call's by the time it is read.
 * sqlite_error.c watches SQLite's log and its open calls to find it.
 */
#ifndef LG_SQLITE_ERROR_H
#define LG_SQLITE_ERROR_H

#include <sqlite3.h>

/* Once per process, before SQLite is used (its log can only be set up
 * then); later calls do nothing. Without either hook only the system
 * error's detail is lost. */
void sqlite_errors_watch(void);
/* Forget the system errors seen so far: call before opening a database,
 * so that an earlier failure is not taken for its own. */
void sqlite_errors_reset(void);
/* The errno of the last read-write open SQLite tried and failed since the
 * reset (it then opens the file read-only and says so only at the first
 * write); 0 when none failed. */
int sqlite_failed_open_errno(void);
/* "disk I/O error (No space left on device)": SQLite's message for db's
 * last error, then the system error behind it when one is known
 * (allocated). */
char *sqlite_error_text(sqlite3 *db);

#endif
