/*
 * The system error behind an SQLite error, for the messages of every
 * SQLite database lastgood opens (its state database, an application's).
 *
 * SQLite names only its own kind of error ("disk I/O error" reads the same
 * for a full disk as for a failing one), and the errno it keeps
 * (sqlite3_system_errno) is read again whenever the error is set anew, as
 * finalizing the statement does, by when it is often another call's. The
 * system error behind it is found instead in
 *   - the errno the unix VFS keeps per file (SQLITE_FCNTL_LAST_ERRNO) of
 *     a read, write, sync or truncate that failed, of the log or the
 *     database file;
 *   - its log, where it states other calls that failed (the -shm, unlink,
 *     open) as "os_unix.c:LINE: (ERRNO) CALL(PATH) - TEXT";
 *   - its open call: the VFS retries a read-write open that failed as a
 *     read-only one and reports only what came of the retry ("attempt to
 *     write a readonly database" at the first write, or "unable to open
 *     database file" with the retry's ENOENT).
 */
#include "util/sqlite_error.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

static int logged_errno;
static int (*sqlite_open_call)(const char *, int, int);
static int failed_open_errno;

static void log_keeping_errno(void *unused, int code, const char *msg)
{
	int e;
	(void)unused;
	if (((code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_CANTOPEN) &&
	    sscanf(msg, "os_unix.c:%*d: (%d)", &e) == 1 && e > 0)
		logged_errno = e;
}

static int open_keeping_errno(const char *path, int flags, int mode)
{
	int fd = sqlite_open_call(path, flags, mode);
	if (fd < 0 && (flags & (O_RDWR | O_WRONLY)))
		failed_open_errno = errno;
	return fd;
}

void sqlite_errors_watch(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	sqlite3_config(SQLITE_CONFIG_LOG, log_keeping_errno, NULL);
	sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
	if (!vfs || vfs->iVersion < 3 || !vfs->xGetSystemCall)
		return;
	sqlite_open_call = (int (*)(const char *, int, int))vfs->xGetSystemCall(vfs, "open");
	if (sqlite_open_call &&
	    vfs->xSetSystemCall(vfs, "open", (sqlite3_syscall_ptr)open_keeping_errno) != SQLITE_OK)
		sqlite_open_call = NULL;
}

/* The errno the VFS kept for the log (the journal, in WAL mode) or else
 * the database file; 0 when neither failed. */
static int file_errno(sqlite3 *db)
{
	sqlite3_file *log = NULL;
	int e = 0;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &log) == SQLITE_OK &&
	    log && log->pMethods &&
	    log->pMethods->xFileControl(log, SQLITE_FCNTL_LAST_ERRNO, &e) == SQLITE_OK && e > 0)
		return e;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO, &e) == SQLITE_OK && e > 0)
		return e;
	return 0;
}

/* The system error behind db's last error, 0 when none is known. */
static int system_errno(sqlite3 *db)
{
	int e;
	switch (sqlite3_extended_errcode(db) & 0xff) {
	case SQLITE_IOERR:
		return (e = file_errno(db)) ? e : logged_errno;
	case SQLITE_CANTOPEN:
		return failed_open_errno ? failed_open_errno : logged_errno;
	case SQLITE_READONLY:
		return failed_open_errno;
	default:
		return 0;
	}
}

char *sqlite_error_text(sqlite3 *db)
{
	int e = system_errno(db);
	if (!e)
		return xstrdup(sqlite3_errmsg(db));
	return xstrfmt("%s (%s)", sqlite3_errmsg(db), strerror(e));
}

void sqlite_errors_reset(void)
{
	logged_errno = failed_open_errno = 0;
}

int sqlite_failed_open_errno(void)
{
	return failed_open_errno;
}
