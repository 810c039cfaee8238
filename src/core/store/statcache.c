/*
 * The stat cache: which live files a capture need not read again (the
 * rule is in statcache.h), and what gc, fsck and a switch tell it.
 */
#include "core/manifest.h"
#include "core/store/manifest_internal.h"
#include "core/store/statcache.h"
#include "core/state.h"
#include "core/store.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xattr.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long stat_cache_clock_ns(void)
{
	return clock_wall_seconds() * 1000000000LL;
}

/* The cache is an optimisation: without a state (st NULL), a database
 * (unit tests of the store), or with one that lacks the table, captures
 * read every file. */
void stat_cache_open(struct state *st, struct stat_cache *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->objects_fd = -1;
	if (!st || !st->db)
		return;
	if (sqlite3_prepare_v2(st->db, "SELECT dev, ino, size, mtime_ns, ctime_ns, recorded_ns, "
			       "digest, xattrs FROM stat_cache WHERE path = ?", -1, &sc->lookup,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO stat_cache(path, dev, ino, size, "
			       "mtime_ns, ctime_ns, recorded_ns, digest, xattrs) "
			       "VALUES(?,?,?,?,?,?,?,?,?)", -1, &sc->remember, NULL) != SQLITE_OK) {
		sqlite3_finalize(sc->lookup);
		sc->lookup = NULL;
		return;
	}
	sc->st = st;
	sc->recorded_ns = stat_cache_clock_ns();
	/* Rows are written in one transaction with the capture, and only
	 * if the caller has none open (then they go with the caller's). */
	if (sqlite3_get_autocommit(st->db) &&
	    sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
		sc->in_transaction = 1;
}

/*
 * keep: commit the rows written (the capture succeeded and its objects
 * are in the store), else drop them. A failed COMMIT fails the capture:
 * the rows are only an optimisation, but the failure is the state
 * database's (a sync that did not happen), and a command that went on
 * past it could report success over a database that is not durable.
 */
int stat_cache_close(struct stat_cache *sc, int keep, struct error *err)
{
	int rc = 0;
	sqlite3_finalize(sc->lookup);
	sqlite3_finalize(sc->remember);
	if (sc->objects_fd >= 0)
		close(sc->objects_fd);
	if (sc->in_transaction && !keep)
		state_rollback(sc->st);
	else if (sc->in_transaction && (rc = state_commit(sc->st, err)) < 0)
		error_prefix(err, "cannot record the files read (stat cache)");
	memset(sc, 0, sizeof(*sc));
	sc->objects_fd = -1;
	return rc;
}

/* The row for path, if any (row->found). On the thread that owns the
 * database connection. */
void stat_cache_fetch(struct stat_cache *sc, const char *path, struct stat_cache_row *row)
{
	row->found = 0;
	row->xattrs = NULL;
	if (!sc->st)
		return;
	sqlite3_reset(sc->lookup);
	sqlite3_bind_text(sc->lookup, 1, path, -1, SQLITE_STATIC);
	if (sqlite3_step(sc->lookup) == SQLITE_ROW &&
	    sqlite3_column_type(sc->lookup, 7) != SQLITE_NULL) {
		const unsigned char *d = sqlite3_column_text(sc->lookup, 6);
		const void *xattrs = sqlite3_column_blob(sc->lookup, 7);
		int xattrs_len = sqlite3_column_bytes(sc->lookup, 7);
		row->dev = (dev_t)sqlite3_column_int64(sc->lookup, 0);
		row->ino = (ino_t)sqlite3_column_int64(sc->lookup, 1);
		row->size = sqlite3_column_int64(sc->lookup, 2);
		row->mtime_ns = sqlite3_column_int64(sc->lookup, 3);
		row->ctime_ns = sqlite3_column_int64(sc->lookup, 4);
		row->recorded_ns = sqlite3_column_int64(sc->lookup, 5);
		row->found = d && hash_from_hex((const char *)d, row->digest) == 0 &&
			     xattr_list_decode(xattrs, (size_t)xattrs_len, &row->xattrs) == 0;
	}
	sqlite3_reset(sc->lookup);
	sqlite3_clear_bindings(sc->lookup);
}

/* The row's object is in the store at the file's size. */
static int stat_cache_has_object(const struct stat_cache *sc, const struct stat_cache_row *row,
				 const struct stat *sb)
{
	char hex[HASH_HEX_SIZE];
	hash_to_hex(row->digest, hex);
	return sc->objects_fd >= 0 && store_has_size_at(sc->objects_fd, hex, (long long)sb->st_size);
}

/* 1 when row vouches for the file that sb describes (statcache.h). Safe on
 * any thread: it reads the row, sb and the store. */
int stat_cache_vouches(const struct stat_cache *sc, const struct stat_cache_row *row,
			      const struct stat *sb)
{
	return sc->st && row->found && S_ISREG(sb->st_mode) && row->dev == sb->st_dev &&
	       row->ino == sb->st_ino && row->size == (long long)sb->st_size &&
	       row->mtime_ns == stat_ns(&sb->st_mtim) && row->ctime_ns == stat_ns(&sb->st_ctim) &&
	       row->mtime_ns < row->recorded_ns && row->ctime_ns < row->recorded_ns &&
	       row->recorded_ns <= sc->recorded_ns &&
	       (!sc->check_store || stat_cache_has_object(sc, row, sb));
}

void stat_cache_remember(struct stat_cache *sc, const char *path, const struct stat *sb,
				const char *digest, const struct xattr_list *xattrs)
{
	struct strbuf encoded = STRBUF_INIT;
	if (!sc->st)
		return;
	xattr_list_encode(xattrs, &encoded);
	sqlite3_reset(sc->remember);
	sqlite3_bind_text(sc->remember, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sc->remember, 2, (sqlite3_int64)sb->st_dev);
	sqlite3_bind_int64(sc->remember, 3, (sqlite3_int64)sb->st_ino);
	sqlite3_bind_int64(sc->remember, 4, (sqlite3_int64)sb->st_size);
	sqlite3_bind_int64(sc->remember, 5, stat_ns(&sb->st_mtim));
	sqlite3_bind_int64(sc->remember, 6, stat_ns(&sb->st_ctim));
	sqlite3_bind_int64(sc->remember, 7, sc->recorded_ns);
	sqlite3_bind_text(sc->remember, 8, digest, -1, SQLITE_STATIC);
	/* an empty blob, not NULL, for none */
	if (encoded.len)
		sqlite3_bind_blob(sc->remember, 9, encoded.buf, (int)encoded.len, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(sc->remember, 9, 0);
	/* A row that fails to be written only costs a read next time. */
	(void)sqlite3_step(sc->remember);
	sqlite3_reset(sc->remember);
	sqlite3_clear_bindings(sc->remember);
	strbuf_release(&encoded);
}

/* Drop the rows of files that are no longer in the entry (removed, or
 * the path is now something else), so the table follows the live tree. */
void stat_cache_prune(struct stat_cache *sc, const struct manifest_entry *entry)
{
	sqlite3_stmt *list, *drop;
	if (!sc->st)
		return;
	if (sqlite3_prepare_v2(sc->st->db, "SELECT path FROM stat_cache WHERE path = ?1 OR "
			       "(path > ?1 || '/' AND path < ?1 || '0')", -1, &list, NULL) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(sc->st->db, "DELETE FROM stat_cache WHERE path = ?", -1, &drop,
			       NULL) != SQLITE_OK) {
		sqlite3_finalize(list);
		return;
	}
	size_t top = strlen(entry->path);
	sqlite3_bind_text(list, 1, entry->path, -1, SQLITE_STATIC);
	while (sqlite3_step(list) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(list, 0);
		struct manifest_node key;
		memset(&key, 0, sizeof(key));
		key.rel = (char *)(path[top] ? path + top + 1 : "");
		const struct manifest_node *n = bsearch(&key, entry->nodes, entry->nnodes,
							sizeof(*entry->nodes), manifest_node_order);
		if (n && n->type == NODE_FILE)
			continue;
		sqlite3_reset(drop);
		sqlite3_bind_text(drop, 1, path, -1, SQLITE_TRANSIENT);
		(void)sqlite3_step(drop);
	}
	sqlite3_finalize(list);
	sqlite3_finalize(drop);
}

/* lastgood_kept(digest): whether manifest_cache_forget's set holds it. */
static void cache_kept_sql(sqlite3_context *sql, int argc, sqlite3_value **argv)
{
	const struct digest_set *kept = sqlite3_user_data(sql);
	const unsigned char *digest = sqlite3_value_text(argv[0]);
	(void)argc;
	sqlite3_result_int(sql, digest && digest_set_has(kept, (const char *)digest));
}

int manifest_cache_forget(struct state *st, const struct digest_set *kept, struct error *err)
{
	if (sqlite3_create_function(st->db, "lastgood_kept", 1, SQLITE_UTF8, (void *)kept,
				    cache_kept_sql, NULL, NULL) != SQLITE_OK)
		return state_db_error(st, "forget cached files", err);
	/* one statement: its own transaction, durable when it returns */
	int rc = state_exec(st, "DELETE FROM stat_cache WHERE NOT lastgood_kept(digest)",
			    "forget cached files", err);
	/* the set is the caller's: the function goes with this call */
	sqlite3_create_function(st->db, "lastgood_kept", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
	return rc;
}

long long manifest_cache_clock(void)
{
	return stat_cache_clock_ns();
}

/*
 * A staged file is written by lastgood under a private name and goes live
 * by the rename of its entry's top folder, which leaves the files inside
 * as they are. Once live, each is recorded as if a capture had started at
 * since_ns, taken after the last write to any staged file: anything
 * written to it from then on, live or not, moved its ctime to that second
 * or later, which the lookup never trusts. The rows are written after the
 * swap, not while staging: until the swap the rows of the live paths
 * describe the files still live, which the check after the services stop
 * compares against. A file swapped in on its own is renamed itself, which
 * moves its ctime: it has no row and only costs a read. A node of a version 1
 * release got whatever attributes a fresh file gets, not recorded ones: it
 * gets no row.
 */
void manifest_cache_staged(struct state *st, const struct manifest_entry *entry, int top_fd,
			   long long since_ns)
{
	struct stat_cache sc;
	struct strbuf live = STRBUF_INIT;
	struct error ignored = ERROR_INIT;

	stat_cache_open(st, &sc);
	sc.recorded_ns = since_ns;
	for (size_t k = 0; sc.st && k < entry->nnodes; k++) {
		const struct manifest_node *node = &entry->nodes[k];
		char hex[HASH_HEX_SIZE];
		struct stat sb;
		if (node->type != NODE_FILE || !*node->rel || !manifest_node_known(node))
			continue;
		if (fstatat(top_fd, node->rel, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode) || stat_ns(&sb.st_mtim) >= sc.recorded_ns ||
		    stat_ns(&sb.st_ctim) >= sc.recorded_ns)
			continue;
		strbuf_reset(&live);
		strbuf_addf(&live, "%s/%s", entry->path, node->rel);
		hash_to_hex(node->digest, hex);
		stat_cache_remember(&sc, live.buf, &sb, hex, node->xattrs);
	}
	(void)stat_cache_close(&sc, 1, &ignored);
	strbuf_release(&live);
}
