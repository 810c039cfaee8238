/*
 * The atomic, journaled switch of live files between releases, and the
 * recovery of one that was interrupted. See switch.h for the protocol.
 */
#include "core/switch.h"
#include "core/manifest.h"
#include "core/nodemeta.h"
#include "core/operation.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One row of switch_entries: a live path and where its replacement was
 * staged. */
struct journal_entry {
	int seq;
	char *path;
	char *stage;
	int created;             /* nothing was live at path before */
	int staged_known;        /* staged_dev/ino recorded */
	dev_t staged_dev;
	ino_t staged_ino;
};

struct journal {
	struct journal_entry *entries;
	size_t n;
	size_t alloc;
	char *phase;
};

static void journal_free(struct journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->entries[i].path);
		free(j->entries[i].stage);
	}
	free(j->entries);
	free(j->phase);
	memset(j, 0, sizeof(*j));
}

void switch_plan_build(const struct manifest *from, const struct manifest *to,
		       struct switch_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	for (size_t i = 0; i < to->n; i++) {
		const struct manifest_entry *t = &to->entries[i];
		const struct manifest_entry *f = manifest_find(from, t->path);
		if (f && !strcmp(f->digest, t->digest))
			continue;
		ALLOC_GROW(plan->changes, plan->n + 1, plan->alloc);
		plan->changes[plan->n].from = f;
		plan->changes[plan->n].to = t;
		plan->n++;
	}
}

void switch_plan_free(struct switch_plan *plan)
{
	free(plan->changes);
	memset(plan, 0, sizeof(*plan));
}

static int set_phase(struct state *st, long op, const char *phase, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE operations SET phase = ? WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, phase, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, op);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "record phase", err);
	return 0;
}

static int journal_load(struct state *st, long op, struct journal *j, struct error *err)
{
	sqlite3_stmt *stmt;
	memset(j, 0, sizeof(*j));
	if (state_prepare(st, "SELECT phase FROM operations WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		j->phase = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	if (!j->phase)
		return error_set(err, EXIT_FAILED, "no operation %ld in the journal", op);

	if (state_prepare(st, "SELECT seq, path, stage, created, staged_dev, staged_ino "
			  "FROM switch_entries WHERE operation = ? ORDER BY seq", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(j->entries, j->n + 1, j->alloc);
		struct journal_entry *e = &j->entries[j->n++];
		e->seq = sqlite3_column_int(stmt, 0);
		e->path = xstrdup((const char *)sqlite3_column_text(stmt, 1));
		e->stage = xstrdup((const char *)sqlite3_column_text(stmt, 2));
		e->created = sqlite3_column_int(stmt, 3);
		e->staged_known = sqlite3_column_type(stmt, 5) != SQLITE_NULL;
		e->staged_dev = (dev_t)sqlite3_column_int64(stmt, 4);
		e->staged_ino = (ino_t)sqlite3_column_int64(stmt, 5);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "read switch journal", err);
	return 0;
}

/* Write the plan's intent: every live path and its stage name, before any
 * file is created, so a crash from here on can be cleaned up by name. */
static int journal_write_plan(struct state *st, long op, const struct switch_plan *plan,
			      struct journal *j, struct error *err)
{
	memset(j, 0, sizeof(*j));
	j->phase = xstrdup("staging");
	for (size_t i = 0; i < plan->n; i++) {
		char *dir = path_dirname(plan->changes[i].to->path);
		ALLOC_GROW(j->entries, j->n + 1, j->alloc);
		struct journal_entry *e = &j->entries[j->n++];
		memset(e, 0, sizeof(*e));
		e->seq = (int)i + 1;
		e->path = xstrdup(plan->changes[i].to->path);
		e->stage = xstrfmt("%s/.lastgood-%ld-%d", dir, op, e->seq);
		e->created = !path_exists(e->path);
		free(dir);
	}

	if (state_begin(st, err) < 0)
		return -1;
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT INTO switch_entries(operation, seq, path, stage, created) "
			  "VALUES(?, ?, ?, ?, ?)", &stmt, err) < 0)
		goto fail;
	for (size_t i = 0; i < j->n; i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, op);
		sqlite3_bind_int(stmt, 2, j->entries[i].seq);
		sqlite3_bind_text(stmt, 3, j->entries[i].path, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, j->entries[i].stage, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 5, j->entries[i].created);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			state_db_error(st, "record switch plan", err);
			sqlite3_finalize(stmt);
			goto fail;
		}
	}
	sqlite3_finalize(stmt);
	if (set_phase(st, op, "staging", err) < 0)
		goto fail;
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* Record the staged inodes and enter phase "swapping"; the stat cache
 * learns the staged files in the same transaction. */
static int journal_write_staged(struct state *st, long op, const struct switch_plan *plan,
				struct journal *j, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < j->n; i++)
		manifest_cache_staged(st, plan->changes[i].to, j->entries[i].stage);
	if (state_prepare(st, "UPDATE switch_entries SET staged_dev = ?, staged_ino = ? "
			  "WHERE operation = ? AND seq = ?", &stmt, err) < 0)
		goto fail;
	for (size_t i = 0; i < j->n; i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)j->entries[i].staged_dev);
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)j->entries[i].staged_ino);
		sqlite3_bind_int64(stmt, 3, op);
		sqlite3_bind_int(stmt, 4, j->entries[i].seq);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			state_db_error(st, "record staged entries", err);
			sqlite3_finalize(stmt);
			goto fail;
		}
	}
	sqlite3_finalize(stmt);
	if (set_phase(st, op, "swapping", err) < 0)
		goto fail;
	free(j->phase);
	j->phase = xstrdup("swapping");
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* The commit point: from this transaction on, the new release is live. */
static int journal_write_committed(struct state *st, long op, long to_release,
				   struct error *err)
{
	if (state_begin(st, err) < 0)
		return -1;
	if (set_phase(st, op, "committed", err) < 0 ||
	    state_set_live_release(st, to_release, err) < 0) {
		state_rollback(st);
		return -1;
	}
	return state_commit(st, err);
}

/* A settled switch leaves nothing to recover: drop its entries so that a
 * later switch in the same operation (a rollback after a failed deploy, or
 * recover putting the previous release back) journals afresh. The phase
 * keeps how it ended: "switched" or "undone". */
static int journal_forget(struct state *st, long op, const char *phase, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_begin(st, err) < 0)
		return -1;
	if (state_prepare(st, "DELETE FROM switch_entries WHERE operation = ?", &stmt, err) < 0)
		goto fail;
	sqlite3_bind_int64(stmt, 1, op);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		state_db_error(st, "forget switch journal", err);
		goto fail;
	}
	if (set_phase(st, op, phase, err) < 0)
		goto fail;
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* Build entry's content at stage from the store: files (verified against
 * their digests while copied), hard links, folders and links; every file
 * and folder fsynced when sync_each is set (else the caller syncs the file
 * system). Folders get their final metadata last, deepest first, so a
 * read-only folder does not stop its own content from being written and
 * its mtime is the recorded one (core/nodemeta.h). */
static int stage_entry(struct state *st, const struct manifest_entry *entry,
		       const char *stage, int sync_each, struct error *err)
{
	for (size_t i = 0; i < entry->nnodes; i++) {
		const struct manifest_node *node = &entry->nodes[i];
		char *p = *node->rel ? path_join(stage, node->rel) : xstrdup(stage);
		int rc = 0;
		switch (node->type) {
		case NODE_FILE:
			if (MANIFEST_NODE_IS_HARD_LINK(node)) {
				char *first = path_join(stage, node->link);
				if (link(first, p) < 0)
					rc = error_errno(err, EXIT_FAILED, errno,
							 "cannot link '%s' to '%s'", p, first);
				free(first);
			} else {
				rc = node_stage_file_at(st, AT_FDCWD, p, node, sync_each, p, err);
			}
			break;
		case NODE_DIR:
			if (mkdir(p, 0700) < 0)
				rc = error_errno(err, EXIT_FAILED, errno, "cannot create folder '%s'", p);
			break;
		case NODE_SYMLINK:
			if (symlink(node->link, p) < 0)
				rc = error_errno(err, EXIT_FAILED, errno, "cannot create link '%s'", p);
			else
				rc = node_meta_apply_link(AT_FDCWD, p, node, p, err);
			break;
		}
		free(p);
		if (rc < 0)
			return -1;
	}
	for (size_t i = entry->nnodes; i-- > 0;) {
		const struct manifest_node *node = &entry->nodes[i];
		if (node->type != NODE_DIR)
			continue;
		char *p = *node->rel ? path_join(stage, node->rel) : xstrdup(stage);
		int rc = node_finish_dir_at(AT_FDCWD, p, node, sync_each, p, err);
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int same_inode(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;
	return lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Put one swapped entry back: the old content returns to the live path and
 * the staged (new) content to the stage name. */
static int unswap_entry(const struct journal_entry *e, struct error *err)
{
	int rc;
	if (e->created)
		rc = renameat2(AT_FDCWD, e->path, AT_FDCWD, e->stage, RENAME_NOREPLACE);
	else
		rc = renameat2(AT_FDCWD, e->stage, AT_FDCWD, e->path, RENAME_EXCHANGE);
	if (rc < 0)
		return error_errno(err, EXIT_NEEDS_ATTENTION, errno,
				   "cannot put '%s' back from '%s'", e->path, e->stage);
	return fs_fsync_parent(e->path, err);
}

static int remove_stage(const struct journal_entry *e, struct error *err)
{
	if (!path_exists(e->stage))
		return 0;
	if (fs_remove_tree(e->stage, err) < 0)
		return -1;
	return fs_fsync_parent(e->stage, err);
}

/* Undo whatever part of the journal reached the live files, newest first;
 * then drop every stage. A stage is removed only when it holds the staged
 * (new) content: never the old content that has not been put back. */
static int undo_journal(const struct journal *j, struct error *err)
{
	int staged_known = strcmp(j->phase, "staging") != 0;
	for (size_t i = j->n; i-- > 0;) {
		const struct journal_entry *e = &j->entries[i];
		if (!staged_known || !e->staged_known) {
			if (remove_stage(e, err) < 0)
				return -1;
			continue;
		}
		if (same_inode(e->path, e->staged_dev, e->staged_ino) && unswap_entry(e, err) < 0)
			return -1;
		if (path_exists(e->stage) && !same_inode(e->stage, e->staged_dev, e->staged_ino))
			return error_set(err, EXIT_NEEDS_ATTENTION, "'%s' holds unexpected content; "
					 "not removing it (the live path is '%s')", e->stage, e->path);
		if (remove_stage(e, err) < 0)
			return -1;
	}
	return 0;
}

static int cleanup_committed(const struct journal *j, struct error *err)
{
	for (size_t i = 0; i < j->n; i++)
		if (remove_stage(&j->entries[i], err) < 0)
			return -1;
	return 0;
}

static int make_parent(const char *path, struct error *err)
{
	char *dir = path_dirname(path);
	int rc = fs_mkdir_p(dir, 0755, err);
	free(dir);
	return rc;
}

static int check_objects_present(struct state *st, const struct switch_plan *plan,
				 struct error *err)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct manifest_entry *to = plan->changes[i].to;
		for (size_t k = 0; k < to->nnodes; k++) {
			char hex[HASH_HEX_SIZE];
			if (to->nodes[k].type != NODE_FILE)
				continue;
			hash_to_hex(to->nodes[k].digest, hex);
			if (!store_has(st, hex))
				return error_set(err, EXIT_FAILED, "object '%.12s' of '%s%s%s' is "
						 "missing from the store; run 'lastgood fsck'",
						 hex, to->path,
						 *to->nodes[k].rel ? "/" : "", to->nodes[k].rel);
		}
	}
	return 0;
}

/* stage_entry, then make the stage and its name durable: an fsync of each
 * file and folder and of the parent for a few files; for many, one syncfs
 * of the parent's file system, opened before the first write so that it
 * reports their write-back errors. */
static int stage_durably(struct state *st, const struct manifest_entry *entry,
			 const char *stage, struct error *err)
{
	size_t files = 0;
	for (size_t i = 0; i < entry->nnodes; i++)
		files += entry->nodes[i].type == NODE_FILE;
	if (files < FS_SYNCFS_MIN)
		return stage_entry(st, entry, stage, 1, err) < 0 ? -1 : fs_fsync_parent(stage, err);

	char *parent = path_dirname(stage);
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;
	if (fd < 0)
		rc = error_errno(err, EXIT_FAILED, errno, "cannot open folder '%s'", parent);
	else if ((rc = stage_entry(st, entry, stage, 0, err)) == 0)
		rc = fs_syncfs(fd, stage, err);
	if (fd >= 0)
		close(fd);
	free(parent);
	return rc;
}

static int stage_all(struct state *st, long op, const struct switch_plan *plan,
		     struct journal *j, struct error *err)
{
	for (size_t i = 0; i < j->n; i++) {
		struct journal_entry *e = &j->entries[i];
		const struct manifest_entry *to = plan->changes[i].to;
		long step;
		struct stat sb;
		if (operation_step_begin(st, op, "stage", e->path, &step, err) < 0)
			return -1;
		if (make_parent(e->path, err) < 0 || stage_durably(st, to, e->stage, err) < 0) {
			struct error ignored = ERROR_INIT;
			error_prefix(err, "cannot stage '%s'", e->path);
			operation_step_end(st, step, STEP_FAILED, err->msg, &ignored);
			return -1;
		}
		if (lstat(e->stage, &sb) < 0)
			return error_errno(err, EXIT_FAILED, errno, "cannot inspect '%s'", e->stage);
		e->staged_dev = sb.st_dev;
		e->staged_ino = sb.st_ino;
		e->staged_known = 1;
		if (operation_step_end(st, step, STEP_OK, NULL, err) < 0)
			return -1;
	}
	return journal_write_staged(st, op, plan, j, err);
}

static int swap_all(struct state *st, long op, struct journal *j, struct error *err)
{
	for (size_t i = 0; i < j->n; i++) {
		struct journal_entry *e = &j->entries[i];
		long step;
		if (operation_step_begin(st, op, "swap", e->path, &step, err) < 0)
			return -1;
		int rc = e->created
			? renameat2(AT_FDCWD, e->stage, AT_FDCWD, e->path, RENAME_NOREPLACE)
			: renameat2(AT_FDCWD, e->stage, AT_FDCWD, e->path, RENAME_EXCHANGE);
		if (rc < 0) {
			struct error ignored = ERROR_INIT;
			error_errno(err, EXIT_FAILED, errno, "cannot swap '%s' into '%s'",
				    e->stage, e->path);
			operation_step_end(st, step, STEP_FAILED, err->msg, &ignored);
			return -1;
		}
		if (fs_fsync_parent(e->path, err) < 0)
			return -1;
		if (operation_step_end(st, step, STEP_OK, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* Put the old files back now rather than leave it to recover; if that
 * fails too, recover must finish it (the operation stays unfinished). */
static void switch_undo_now(struct state *st, long op, const struct journal *j, struct error *err)
{
	struct error undo_err = ERROR_INIT;
	if (undo_journal(j, &undo_err) < 0 || journal_forget(st, op, "undone", &undo_err) < 0) {
		/* err->msg is both the first failure and the destination. */
		char first[sizeof(err->msg)];
		memcpy(first, err->msg, sizeof(first));
		error_set(err, EXIT_NEEDS_ATTENTION, "%s; and undoing it failed: %s; "
			  "run 'lastgood recover'", first, undo_err.msg);
	}
}

int switch_prepare(struct state *st, long op, const struct switch_plan *plan,
		   struct error *err)
{
	struct journal j;
	int rc = -1;

	if (check_objects_present(st, plan, err) < 0)
		return -1;
	if (journal_write_plan(st, op, plan, &j, err) == 0) {
		rc = stage_all(st, op, plan, &j, err);
		if (rc < 0)
			switch_undo_now(st, op, &j, err);
	}
	journal_free(&j);
	return rc;
}

int switch_commit(struct state *st, long op, long to_release, int *committed,
		  struct error *err)
{
	struct journal j;
	int rc = -1;

	*committed = 0;
	if (journal_load(st, op, &j, err) < 0)
		goto out;
	if (swap_all(st, op, &j, err) < 0 ||
	    journal_write_committed(st, op, to_release, err) < 0) {
		switch_undo_now(st, op, &j, err);
		goto out;
	}
	*committed = 1;
	rc = 0;
out:
	journal_free(&j);
	return rc;
}

int switch_finish(struct state *st, long op, struct error *err)
{
	struct journal j;
	long step;
	int rc = -1;

	if (journal_load(st, op, &j, err) < 0)
		goto out;
	if (!j.n)
		goto settled;
	if (strcmp(j.phase, "committed")) {
		error_set(err, EXIT_FAILED, "internal error: operation %ld cleaned up in phase "
			  "'%s'", op, j.phase);
		goto out;
	}
	if (operation_step_begin(st, op, "clean up", NULL, &step, err) < 0)
		goto out;
	if (cleanup_committed(&j, err) < 0) {
		struct error ignored = ERROR_INIT;
		operation_step_end(st, step, STEP_FAILED, err->msg, &ignored);
		goto out;
	}
	if (operation_step_end(st, step, STEP_OK, NULL, err) < 0 ||
	    journal_forget(st, op, "switched", err) < 0)
		goto out;
settled:
	rc = 0;
out:
	journal_free(&j);
	return rc;
}

int switch_recover(struct state *st, long op, enum switch_outcome *outcome,
		   struct error *err)
{
	struct journal j;
	int rc;

	*outcome = SWITCH_NOTHING;
	if (journal_load(st, op, &j, err) < 0) {
		journal_free(&j);
		return -1;
	}
	if (!j.n) {
		/* Settled before the operation ended: say how. */
		if (!strcmp(j.phase, "switched"))
			*outcome = SWITCH_COMPLETE;
		else if (!strcmp(j.phase, "undone"))
			*outcome = SWITCH_UNDONE;
		journal_free(&j);
		return 0;
	}
	if (!strcmp(j.phase, "committed")) {
		rc = cleanup_committed(&j, err);
		*outcome = SWITCH_FINISHED;
	} else {
		rc = undo_journal(&j, err);
		*outcome = SWITCH_UNDONE;
	}
	if (rc == 0)
		rc = journal_forget(st, op, *outcome == SWITCH_FINISHED ? "switched" : "undone", err);
	journal_free(&j);
	return rc;
}
