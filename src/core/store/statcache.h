/*
 * The stat cache, a table of the state database that capture.c consults
 * and statcache.c keeps (internal to src/core/store).
 *
 * One row per live file read: its path, the stat fields that change
 * whenever its content or attributes can have (device, inode, size,
 * mtime, ctime), its digest, its extended attributes (NULL in a row
 * written before they were kept: such a row vouches for nothing), and
 * when it was read. A row is trusted, and the file not opened,
 * only when all of these hold:
 *
 *   - every stat field still equals the row's;
 *   - the row's mtime and ctime are strictly older than its recorded_ns;
 *   - recorded_ns is not in the future (the clock was not set back);
 *   - for a capture that checks the store (a switch's "record live"), the
 *     object is in the store at the right size.
 *
 * recorded_ns is the coarse wall clock (what the kernel stamps files
 * with) taken before the capture opened any file, rounded down to the
 * second so that a file system with one-second timestamps is covered too.
 * A write after that moment stamps the file's ctime at recorded_ns or
 * later, which no trusted row holds, so the write is seen, whatever it did
 * to size and mtime (`touch -d` sets mtime, never ctime). A file written in
 * the same second as the capture ("racily clean", as git calls it) has a
 * ctime not older than recorded_ns and is read again next time, until a
 * capture starts after it settled.
 *
 * A snapshot trusts a row without asking the store for its object, as
 * git's index does: that stat was half of a snapshot's time when nothing
 * changed. A row can only name an object the store lost through damage
 * from outside lastgood: gc drops the rows naming the objects it is about
 * to remove (manifest_cache_forget, before the first unlink), and every
 * row is written after its object is durable. fsck finds such damage and
 * drops the rows naming it, so the next snapshot reads those files again
 * and the store heals. The capture a switch makes of the live files before
 * it changes them checks the store too: that release is the one an
 * automatic rollback goes back to, and it is whole when it is recorded.
 */
#ifndef LG_STORE_STATCACHE_H
#define LG_STORE_STATCACHE_H

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/hash.h"

struct error;
struct manifest_entry;
struct state;
struct xattr_list;

/* One capture's use of the cache, from stat_cache_open to stat_cache_close. */
struct stat_cache {
	struct state *st;        /* NULL: no cache, every file is read */
	sqlite3_stmt *lookup;
	sqlite3_stmt *remember;
	long long recorded_ns;
	int check_store;         /* a row vouches only with its object in the store */
	int objects_fd;          /* then the store's objects folder, or -1 */
	int in_transaction;      /* ours, committed once the objects are */
};

static inline long long stat_ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* A row of the cache, as stat_cache_fetch found it. */
struct stat_cache_row {
	int found;
	dev_t dev;
	ino_t ino;
	long long size, mtime_ns, ctime_ns, recorded_ns;
	unsigned char digest[HASH_SIZE];
	struct xattr_list *xattrs;   /* the file's, when found; whoever takes them clears this */
};

/* What each does and when it may be called: statcache.c. */
void stat_cache_open(struct state *st, struct stat_cache *sc);
int stat_cache_close(struct stat_cache *sc, int keep, struct error *err);
void stat_cache_fetch(struct stat_cache *sc, const char *path, struct stat_cache_row *row);
int stat_cache_vouches(const struct stat_cache *sc, const struct stat_cache_row *row,
		       const struct stat *sb);
void stat_cache_remember(struct stat_cache *sc, const char *path, const struct stat *sb,
			 const char *digest, const struct xattr_list *xattrs);
void stat_cache_prune(struct stat_cache *sc, const struct manifest_entry *entry);

#endif
