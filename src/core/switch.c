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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* One row of switch_entries: a live path, where its replacement was
 * staged, and the inodes that prove which is which. */
struct journal_entry {
	int seq;
	char *path;
	char *stage;             /* beside path: same folder */
	int created;             /* nothing was live at path before */
	int absent;              /* the target has nothing at path */
	int staged_known;        /* the stage lastgood created */
	dev_t staged_dev;
	ino_t staged_ino;
	int live_known;          /* what was live at path before the swap */
	dev_t live_dev;
	ino_t live_ino;
};

struct journal {
	struct journal_entry *entries;
	size_t n;
	size_t alloc;
	enum op_phase phase;
	long revert_to;
	struct strbuf left;      /* stages left in place, for the record */
};

static void journal_free(struct journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->entries[i].path);
		free(j->entries[i].stage);
	}
	free(j->entries);
	strbuf_release(&j->left);
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
	/* What is live but not in the target goes: the target is the
	 * whole truth for every path it is built over. */
	for (size_t i = 0; i < from->n; i++) {
		const struct manifest_entry *f = &from->entries[i];
		if (manifest_find(to, f->path))
			continue;
		ALLOC_GROW(plan->changes, plan->n + 1, plan->alloc);
		plan->changes[plan->n].from = f;
		plan->changes[plan->n].to = NULL;
		plan->n++;
	}
}

void switch_plan_free(struct switch_plan *plan)
{
	free(plan->changes);
	memset(plan, 0, sizeof(*plan));
}

const struct manifest_entry *switch_change_entry(const struct switch_change *change)
{
	return change->to ? change->to : change->from;
}

/* ---- the journal ---- */

static int journal_load(struct state *st, long op, struct journal *j, struct error *err)
{
	sqlite3_stmt *stmt;
	memset(j, 0, sizeof(*j));
	if (operation_phase(st, op, &j->phase, &j->revert_to, err) < 0)
		return -1;

	if (state_prepare(st, "SELECT seq, path, stage, created, absent, staged_dev, staged_ino, "
			  "live_dev, live_ino FROM switch_entries WHERE operation = ? ORDER BY seq",
			  &stmt, err) < 0)
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
		e->absent = sqlite3_column_int(stmt, 4);
		e->staged_known = sqlite3_column_type(stmt, 6) != SQLITE_NULL;
		e->staged_dev = (dev_t)sqlite3_column_int64(stmt, 5);
		e->staged_ino = (ino_t)sqlite3_column_int64(stmt, 6);
		e->live_known = sqlite3_column_type(stmt, 8) != SQLITE_NULL;
		e->live_dev = (dev_t)sqlite3_column_int64(stmt, 7);
		e->live_ino = (ino_t)sqlite3_column_int64(stmt, 8);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "read switch journal", err);
	return 0;
}

/* A stage name nobody can guess, so none can be planted in its way, and
 * no two stacks sharing a folder collide: the operation and entry number
 * for the reader, then 64 random bits. */
static char *stage_name(const char *path, long op, int seq)
{
	unsigned char r[8];
	char *dir = path_dirname(path);
	size_t got = 0;
	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	char *stage = xstrfmt("%s/.lastgood-%ld-%d-%02x%02x%02x%02x%02x%02x%02x%02x", dir, op, seq,
			      r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	free(dir);
	return stage;
}

/* Write the plan's intent: every live path and its stage name, before any
 * file is created, so a crash from here on can be cleaned up by name. */
static int journal_write_plan(struct state *st, long op, const struct switch_plan *plan,
			      struct journal *j, struct error *err)
{
	memset(j, 0, sizeof(*j));
	j->phase = OP_PHASE_STAGING;
	for (size_t i = 0; i < plan->n; i++) {
		const struct switch_change *c = &plan->changes[i];
		ALLOC_GROW(j->entries, j->n + 1, j->alloc);
		struct journal_entry *e = &j->entries[j->n++];
		memset(e, 0, sizeof(*e));
		e->seq = (int)i + 1;
		e->path = xstrdup(switch_change_entry(c)->path);
		e->stage = stage_name(e->path, op, e->seq);
		e->created = c->from == NULL;
		e->absent = c->to == NULL;
	}

	if (state_begin(st, err) < 0)
		return -1;
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT INTO switch_entries(operation, seq, path, stage, created, "
			  "absent) VALUES(?, ?, ?, ?, ?, ?)", &stmt, err) < 0)
		goto fail;
	for (size_t i = 0; i < j->n; i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, op);
		sqlite3_bind_int(stmt, 2, j->entries[i].seq);
		sqlite3_bind_text(stmt, 3, j->entries[i].path, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, j->entries[i].stage, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 5, j->entries[i].created);
		sqlite3_bind_int(stmt, 6, j->entries[i].absent);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			state_db_error(st, "record switch plan", err);
			sqlite3_finalize(stmt);
			goto fail;
		}
	}
	sqlite3_finalize(stmt);
	if (operation_set_phase(st, op, OP_PHASE_STAGING, err) < 0)
		goto fail;
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* Record the inodes known so far (the stages lastgood created, what is
 * live), in one transaction. */
static int journal_write_inodes(struct state *st, long op, const struct journal *j,
				struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE switch_entries SET staged_dev = ?, staged_ino = ?, "
			  "live_dev = ?, live_ino = ? WHERE operation = ? AND seq = ?", &stmt,
			  err) < 0)
		return -1;
	for (size_t i = 0; i < j->n; i++) {
		const struct journal_entry *e = &j->entries[i];
		sqlite3_reset(stmt);
		if (e->staged_known) {
			sqlite3_bind_int64(stmt, 1, (sqlite3_int64)e->staged_dev);
			sqlite3_bind_int64(stmt, 2, (sqlite3_int64)e->staged_ino);
		} else {
			sqlite3_bind_null(stmt, 1);
			sqlite3_bind_null(stmt, 2);
		}
		if (e->live_known) {
			sqlite3_bind_int64(stmt, 3, (sqlite3_int64)e->live_dev);
			sqlite3_bind_int64(stmt, 4, (sqlite3_int64)e->live_ino);
		} else {
			sqlite3_bind_null(stmt, 3);
			sqlite3_bind_null(stmt, 4);
		}
		sqlite3_bind_int64(stmt, 5, op);
		sqlite3_bind_int(stmt, 6, e->seq);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			sqlite3_finalize(stmt);
			return state_db_error(st, "record switch inodes", err);
		}
	}
	sqlite3_finalize(stmt);
	return 0;
}

static int journal_update(struct state *st, long op, const struct journal *j, struct error *err)
{
	if (state_begin(st, err) < 0)
		return -1;
	if (journal_write_inodes(st, op, j, err) < 0) {
		state_rollback(st);
		return -1;
	}
	return state_commit(st, err);
}

/* The commit point, both ways: from this transaction on, `release` is
 * live (the target after a switch, the release gone back to after a
 * revert). */
static int journal_write_live(struct state *st, long op, enum op_phase phase, long release,
			      struct error *err)
{
	if (state_begin(st, err) < 0)
		return -1;
	if (operation_set_phase(st, op, phase, err) < 0 ||
	    state_set_live_release(st, release, err) < 0) {
		state_rollback(st);
		return -1;
	}
	return state_commit(st, err);
}

/* A settled switch leaves nothing to recover: drop its entries so that a
 * later switch in the same operation (recover putting the previous
 * release back from the store) journals afresh. The phase keeps how it
 * ended: "switched" or "undone". Stages left in place are noted. */
static int journal_forget(struct state *st, long op, struct journal *j, enum op_phase phase,
			  struct error *err)
{
	sqlite3_stmt *stmt;
	if (j->left.len &&
	    operation_step_note(st, op, STEP_CLEAN_UP, NULL, STEP_SKIPPED, j->left.buf, err) < 0)
		return -1;
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
	if (operation_set_phase(st, op, phase, err) < 0)
		goto fail;
	return state_commit(st, err);
fail:
	state_rollback(st);
	return -1;
}

/* ---- names below a folder descriptor ---- */

/* The folder of e->path, reached by descriptors (fs_open_parent: no
 * link followed, no untrusted folder on the way). *missing when it does
 * not exist and create is not set. */
static int entry_parent(const struct journal_entry *e, int create, int *dir_fd, int *missing,
			struct error *err)
{
	return fs_open_parent(e->path, create ? FS_OPEN_CREATE : 0, dir_fd, missing, err);
}

/* 1 when name below dir_fd is the inode (dev, ino); 0 when it is
 * something else or nothing. */
static int holds(int dir_fd, const char *name, dev_t dev, ino_t ino)
{
	struct stat sb;
	return fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && sb.st_dev == dev &&
	       sb.st_ino == ino;
}

static int exists_at(int dir_fd, const char *name)
{
	struct stat sb;
	return fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The stage lastgood created, proved by the inode journaled for it. */
static int holds_staged(int dir_fd, const char *name, const struct journal_entry *e)
{
	return e->staged_known && holds(dir_fd, name, e->staged_dev, e->staged_ino);
}

/*
 * The same, for removing it. A stage's inode is journaled right after it
 * is created and before anything is written into it, so a crash in between
 * leaves a stage whose inode is unknown: that one is taken as lastgood's
 * while it is still as created, empty (a file of no bytes, a folder of no
 * entries, a link). Its name was journaled before it was made and holds 64
 * random bits, and the folder it is in is one only lastgood's user or root
 * can write (fs_open_parent), so nobody else can have put it there; and
 * being empty, removing it could lose nothing. Nothing else counts: an
 * unknown stage is never taken as swapped in.
 */
static int holds_stage_made(int dir_fd, const char *name, const struct journal_entry *e)
{
	struct stat sb;
	if (e->staged_known)
		return holds_staged(dir_fd, name, e);
	if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (S_ISLNK(sb.st_mode) || (S_ISREG(sb.st_mode) && sb.st_size == 0))
		return 1;
	if (!S_ISDIR(sb.st_mode))
		return 0;
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int entries = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return d && entries == 0;
}

static int holds_live(int dir_fd, const char *name, const struct journal_entry *e)
{
	return e->live_known && holds(dir_fd, name, e->live_dev, e->live_ino);
}

static int fsync_folder(int dir_fd, const char *path, struct error *err)
{
	char *dir = path_dirname(path);
	int rc = fs_fsync_fd(dir_fd, dir, err);
	free(dir);
	return rc;
}

/* ---- staging ---- */

/* A new node's top, created exclusively (never over anything): a file
 * (its descriptor in *fd), a folder (its descriptor in *fd) or a link
 * (*fd -1). */
static int create_node(int dir_fd, const char *name, const struct manifest_node *node,
		       const char *what, int *fd, struct error *err)
{
	*fd = -1;
	switch (node->type) {
	case NODE_FILE:
		*fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (*fd < 0)
			return error_errno(err, ERROR_FAILED, errno, "cannot create '%s'", what);
		return 0;
	case NODE_DIR:
		if (mkdirat(dir_fd, name, 0700) < 0)
			return error_errno(err, ERROR_FAILED, errno, "cannot create folder '%s'", what);
		*fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*fd < 0)
			return error_errno(err, ERROR_FAILED, errno, "cannot open folder '%s'", what);
		return 0;
	case NODE_SYMLINK:
		if (symlinkat(node->link, dir_fd, name) < 0)
			return error_errno(err, ERROR_FAILED, errno, "cannot create link '%s'", what);
		return 0;
	}
	return error_set(err, ERROR_FAILED, "internal error: node type %d", (int)node->type);
}

/* Fill a file or link just created and give it its recorded metadata
 * (core/nodemeta.h), then make a file durable when sync_each is set. A
 * folder's metadata is given when its content is done (finish_folder). */
static int fill_node(struct state *st, int dir_fd, const char *name, int fd,
		     const struct manifest_node *node, const char *what, int sync_each,
		     struct error *err)
{
	char hex[HASH_HEX_SIZE];
	switch (node->type) {
	case NODE_FILE:
		hash_to_hex(node->digest, hex);
		if (store_materialize_fd(&st->store, hex, fd, what, 0, err) < 0 ||
		    node_meta_apply_fd(fd, node, what, err) < 0)
			return -1;
		return sync_each ? fs_fsync_fd(fd, what, err) : 0;
	case NODE_SYMLINK:
		return node_meta_apply_link(dir_fd, name, node, what, err);
	case NODE_DIR:
		return 0;
	}
	return 0;
}

/* Last, once everything inside it is made: making a name in a folder
 * moves its mtime. */
static int finish_folder(int fd, const struct manifest_node *node, const char *what,
			 int sync_each, struct error *err)
{
	if (node_meta_apply_fd(fd, node, what, err) < 0)
		return -1;
	return sync_each ? fs_fsync_fd(fd, what, err) : 0;
}

/*
 * Names of one file (hard links within an entry, manifest.h): the capture
 * keeps the file at the first name in its order and makes the others
 * links to it, but a tree is filled in another order (tree_order), so the
 * file is made at whichever of its names comes first here and the others
 * are linked to that one. Keyed by the capture's first name.
 */
struct link_group {
	const char *first;       /* the capture's: the key */
	const char *made;        /* where the file was made here, or NULL */
};

static int link_group_order(const void *a, const void *b)
{
	return strcmp(((const struct link_group *)a)->first, ((const struct link_group *)b)->first);
}

/* The groups of entry's hard links, sorted by key; NULL when none. */
static struct link_group *link_groups(const struct manifest_entry *entry, size_t *n)
{
	struct link_group *groups = NULL;
	size_t alloc = 0;
	*n = 0;
	for (size_t i = 0; i < entry->nnodes; i++) {
		if (!MANIFEST_NODE_IS_HARD_LINK(&entry->nodes[i]))
			continue;
		ALLOC_GROW(groups, *n + 1, alloc);
		groups[(*n)++] = (struct link_group){ entry->nodes[i].link, NULL };
	}
	if (!*n)
		return groups;
	/* one group per key, however many names link to it */
	qsort(groups, *n, sizeof(*groups), link_group_order);
	size_t kept = 1;
	for (size_t i = 1; i < *n; i++)
		if (strcmp(groups[i].first, groups[kept - 1].first))
			groups[kept++] = groups[i];
	*n = kept;
	return groups;
}

static struct link_group *link_group_of(struct link_group *groups, size_t n,
					const struct manifest_node *node)
{
	if (node->type != NODE_FILE || !n)
		return NULL;
	struct link_group key = { MANIFEST_NODE_IS_HARD_LINK(node) ? node->link : node->rel, NULL };
	return bsearch(&key, groups, n, sizeof(*groups), link_group_order);
}

/* Order for walking a tree with a descriptor per folder level: every
 * node right after its folder and before anything that is not in it
 * ("a", "a/b", "a-c"; plain strcmp puts "a-c" before "a/b"). */
static int tree_order(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = *a == '/' ? 1 : *a ? (unsigned char)*a + 1 : 0;
		int y = *b == '/' ? 1 : *b ? (unsigned char)*b + 1 : 0;
		if (x != y || !x)
			return x - y;
	}
}

static int node_pointer_tree_order(const void *a, const void *b)
{
	const struct manifest_node *const *x = a, *const *y = b;
	return tree_order((*x)->rel, (*y)->rel);
}

struct open_folder {
	const struct manifest_node *node;
	size_t rel_len;
	int fd;
};

/* Close the innermost open folder, its content done. */
static int close_folder(struct open_folder *stack, size_t *depth, const char *stage,
			int sync_each, struct error *err)
{
	struct open_folder *f = &stack[--*depth];
	char *what = *f->node->rel ? path_join(stage, f->node->rel) : xstrdup(stage);
	int rc = finish_folder(f->fd, f->node, what, sync_each, err);
	close(f->fd);
	free(what);
	return rc;
}

/* Build the content of a folder entry below root_fd (the stage's own
 * folder, created and checked by the caller): each node is created below
 * a descriptor of its folder, so no path is resolved (whatever the depth)
 * and nothing outside the stage can be reached. root_fd is closed. */
static int fill_tree(struct state *st, int root_fd, const struct manifest_entry *entry,
		     const char *stage, int sync_each, struct error *err)
{
	const struct manifest_node **order = xcalloc(entry->nnodes, sizeof(*order));
	struct open_folder *stack = xcalloc(entry->nnodes, sizeof(*stack));
	size_t depth = 0, n = 0, ngroups;
	struct link_group *groups = link_groups(entry, &ngroups);
	int rc = 0;

	for (size_t i = 1; i < entry->nnodes; i++)
		order[n++] = &entry->nodes[i];
	qsort(order, n, sizeof(*order), node_pointer_tree_order);
	stack[depth++] = (struct open_folder){ &entry->nodes[0], 0, root_fd };
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct manifest_node *node = order[i];
		const char *slash = strrchr(node->rel, '/');
		size_t parent_len = slash ? (size_t)(slash - node->rel) : 0;
		while (rc == 0 && depth > 1 &&
		       (stack[depth - 1].rel_len != parent_len ||
			strncmp(stack[depth - 1].node->rel, node->rel, parent_len)))
			rc = close_folder(stack, &depth, stage, sync_each, err);
		if (rc < 0)
			break;
		const char *name = slash ? slash + 1 : node->rel;
		char *what = path_join(stage, node->rel);
		struct link_group *group = link_group_of(groups, ngroups, node);
		int fd = -1;
		if (group && group->made) {
			/* below root_fd, through folders this stage made */
			if (linkat(root_fd, group->made, stack[depth - 1].fd, name, 0) < 0)
				rc = error_errno(err, ERROR_FAILED, errno, "cannot link '%s' to '%s/%s'",
						 what, stage, group->made);
			free(what);
			continue;
		}
		if (group)
			group->made = node->rel;
		rc = create_node(stack[depth - 1].fd, name, node, what, &fd, err);
		if (rc == 0 && node->type == NODE_DIR)
			stack[depth++] = (struct open_folder){ node, strlen(node->rel), fd };
		else if (rc == 0)
			rc = fill_node(st, stack[depth - 1].fd, name, fd, node, what, sync_each, err);
		if (fd >= 0 && node->type != NODE_DIR)
			close(fd);
		free(what);
	}
	while (depth > 0) {
		struct error later = ERROR_INIT;
		if (close_folder(stack, &depth, stage, sync_each, rc < 0 ? &later : err) < 0)
			rc = -1;
	}
	free(order);
	free(stack);
	free(groups);
	return rc;
}

/* Create the top of e's stage exclusively and learn its inode; the
 * caller journals it before anything is written into the stage. An entry
 * the target lacks has no stage. */
static int stage_create_top(const struct manifest_entry *to, struct journal_entry *e,
			    struct error *err)
{
	int dir_fd, fd = -1, rc = 0;
	struct stat sb;
	if (entry_parent(e, !e->absent, &dir_fd, NULL, err) < 0)
		return -1;
	if (!e->absent) {
		const char *name = path_basename(e->stage);
		rc = create_node(dir_fd, name, &to->nodes[0], e->stage, &fd, err);
		if (rc == 0 && fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			rc = error_errno(err, ERROR_FAILED, errno, "cannot inspect '%s'", e->stage);
		if (rc == 0) {
			e->staged_known = 1;
			e->staged_dev = sb.st_dev;
			e->staged_ino = sb.st_ino;
		}
		if (fd >= 0)
			close(fd);
	}
	close(dir_fd);
	return rc;
}

/* Open the stage's top again, and check it is still the inode lastgood
 * created (journaled) before writing anything into it. */
static int stage_reopen(int dir_fd, const struct journal_entry *e, const struct manifest_node *top,
			int *fd, struct error *err)
{
	const char *name = path_basename(e->stage);
	struct stat sb;
	*fd = -1;
	if (top->type == NODE_SYMLINK)
		return holds_staged(dir_fd, name, e) ? 0 :
		       error_set(err, ERROR_FAILED, "'%s' is not the link lastgood created; not "
				 "touching it", e->stage);
	*fd = openat(dir_fd, name, (top->type == NODE_DIR ? O_RDONLY | O_DIRECTORY : O_RDWR) |
		     O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0 && errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
		return error_errno(err, ERROR_FAILED, errno, "cannot open '%s'", e->stage);
	if (*fd < 0 || fstat(*fd, &sb) < 0 || sb.st_dev != e->staged_dev ||
	    sb.st_ino != e->staged_ino) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return error_set(err, ERROR_FAILED, "'%s' is not the %s lastgood created; not "
				 "touching it", e->stage, top->type == NODE_DIR ? "folder" : "file");
	}
	return 0;
}

/* Build entry's content in its stage from the store (files verified
 * against their digests as they are copied) and make it durable: an
 * fsync of each file and folder for a few files; for many, one syncfs of
 * the file system, opened before the first write so that it reports
 * their write-back errors. */
static int stage_fill(struct state *st, const struct journal_entry *e,
		      const struct manifest_entry *entry, struct error *err)
{
	size_t files = 0;
	int dir_fd, fd, rc;
	for (size_t i = 0; i < entry->nnodes; i++)
		files += entry->nodes[i].type == NODE_FILE;
	int sync_each = files < FS_SYNCFS_MIN;

	if (entry_parent(e, 0, &dir_fd, NULL, err) < 0)
		return -1;
	const struct manifest_node *top = &entry->nodes[0];
	rc = stage_reopen(dir_fd, e, top, &fd, err);
	if (rc == 0 && top->type == NODE_DIR) {
		rc = fill_tree(st, fd, entry, e->stage, sync_each, err);
		fd = -1;
	} else if (rc == 0) {
		rc = fill_node(st, dir_fd, path_basename(e->stage), fd, top, e->stage, sync_each, err);
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		rc = sync_each ? fsync_folder(dir_fd, e->stage, err) : fs_syncfs(dir_fd, e->stage, err);
	close(dir_fd);
	return rc;
}

/* ---- swapping, undoing, removing ---- */

/*
 * Where an entry's content is, after a swap in either direction:
 *
 *                  before the swap           after it
 *   replaced       path: live, stage: new    path: new, stage: live
 *   created        path: -,    stage: new    path: new, stage: -
 *   absent         path: live, stage: -      path: -,   stage: live
 *
 * swapped_in says which, from the journaled inodes alone.
 */
static int swapped_in(int dir_fd, const struct journal_entry *e)
{
	const char *name = path_basename(e->path);
	if (e->absent)
		return !exists_at(dir_fd, name) && holds_live(dir_fd, path_basename(e->stage), e);
	return holds_staged(dir_fd, name, e);
}

static int swap_entry(int dir_fd, const struct journal_entry *e, int back)
{
	const char *name = path_basename(e->path), *stage = path_basename(e->stage);
	if (e->created)
		return back ? renameat2(dir_fd, name, dir_fd, stage, RENAME_NOREPLACE)
			    : renameat2(dir_fd, stage, dir_fd, name, RENAME_NOREPLACE);
	if (e->absent)
		return back ? renameat2(dir_fd, stage, dir_fd, name, RENAME_NOREPLACE)
			    : renameat2(dir_fd, name, dir_fd, stage, RENAME_NOREPLACE);
	return renameat2(dir_fd, stage, dir_fd, name, RENAME_EXCHANGE);
}

/* Remove e's stage when it holds what `proof` says lastgood put there;
 * anything else is left in place and noted: lastgood never removes what
 * it cannot show it made or moved there. */
static int remove_stage(int dir_fd, struct journal *j, const struct journal_entry *e,
			int (*proof)(int, const char *, const struct journal_entry *),
			struct error *err)
{
	const char *name = path_basename(e->stage);
	if (!exists_at(dir_fd, name))
		return 0;
	if (!proof(dir_fd, name, e)) {
		strbuf_addf(&j->left, "%sleft '%s' in place: not what lastgood put there",
			    j->left.len ? "; " : "", e->stage);
		return 0;
	}
	if (fs_remove_at(dir_fd, name, e->stage, err) < 0)
		return -1;
	return fsync_folder(dir_fd, e->stage, err);
}

/* Put every swapped entry back, newest first: the content that was live
 * returns to each path and the new content to its stage. */
static int unswap_all(struct journal *j, struct error *err)
{
	for (size_t i = j->n; i-- > 0;) {
		const struct journal_entry *e = &j->entries[i];
		int dir_fd, missing;
		if (entry_parent(e, 0, &dir_fd, &missing, err) < 0)
			return -1;
		if (missing)
			continue;   /* never staged: its folder was not even made */
		int rc = 0;
		if (swapped_in(dir_fd, e)) {
			if (swap_entry(dir_fd, e, 1) < 0)
				rc = error_errno(err, ERROR_ATTENTION, errno,
						 "cannot put '%s' back from '%s'", e->path, e->stage);
			else
				rc = fsync_folder(dir_fd, e->path, err);
		} else if (e->live_known && !e->absent &&
			   holds_live(dir_fd, path_basename(e->stage), e)) {
			/* The old content is at the stage but the path holds
			 * neither: someone else put something there. */
			rc = error_set(err, ERROR_ATTENTION, "'%s' holds content lastgood did "
				       "not put there; the content it replaced is in '%s'",
				       e->path, e->stage);
		}
		close(dir_fd);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Remove each stage holding what proof says, newest first. */
static int remove_stages(struct journal *j,
			 int (*proof)(int, const char *, const struct journal_entry *),
			 struct error *err)
{
	for (size_t i = j->n; i-- > 0;) {
		const struct journal_entry *e = &j->entries[i];
		int dir_fd, missing;
		if (entry_parent(e, 0, &dir_fd, &missing, err) < 0)
			return -1;
		if (missing)
			continue;
		int rc = remove_stage(dir_fd, j, e, proof, err);
		close(dir_fd);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Undo whatever part of the journal reached the live files; then drop
 * every stage that holds the new content, never the old. */
static int undo_journal(struct journal *j, struct error *err)
{
	if (unswap_all(j, err) < 0)
		return -1;
	return remove_stages(j, holds_stage_made, err);
}

static int check_objects_present(struct state *st, const struct switch_plan *plan,
				 struct error *err)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct manifest_entry *to = plan->changes[i].to;
		for (size_t k = 0; to && k < to->nnodes; k++) {
			char hex[HASH_HEX_SIZE];
			if (to->nodes[k].type != NODE_FILE)
				continue;
			hash_to_hex(to->nodes[k].digest, hex);
			if (!store_has(&st->store, hex))
				return error_set(err, ERROR_FAILED, "object '%.12s' of '%s%s%s' is "
						 "missing from the store; run 'lastgood fsck'",
						 hex, to->path,
						 *to->nodes[k].rel ? "/" : "", to->nodes[k].rel);
		}
	}
	return 0;
}

/* End a step that failed, keeping err as the error to report. */
static int step_failed(struct state *st, long step, struct error *err)
{
	operation_step_fail(st, step, err);
	return -1;
}

static int stage_all(struct state *st, long op, const struct switch_plan *plan,
		     struct journal *j, struct error *err)
{
	long step;
	for (size_t i = 0; i < j->n; i++) {
		if (stage_create_top(plan->changes[i].to, &j->entries[i], err) < 0)
			goto partly;
	}
	/* Every stage's inode is durable before anything is written in it:
	 * from here on a crash removes exactly what lastgood made. */
	if (journal_update(st, op, j, err) < 0)
		goto partly;
	for (size_t i = 0; i < j->n; i++) {
		struct journal_entry *e = &j->entries[i];
		const struct manifest_entry *to = plan->changes[i].to;
		if (e->absent)
			continue;
		if (operation_step_begin(st, op, STEP_STAGE, e->path, &step, err) < 0)
			return -1;
		if (stage_fill(st, e, to, err) < 0) {
			error_prefix(err, "cannot stage '%s'", e->path);
			return step_failed(st, step, err);
		}
		if (operation_step_end(st, step, STEP_OK, NULL, err) < 0)
			return -1;
	}
	if (operation_set_phase(st, op, OP_PHASE_SWAPPING, err) < 0)
		return -1;
	j->phase = OP_PHASE_SWAPPING;
	return 0;
partly:
	/* The inodes learned so far go to the journal, so that the undo
	 * removes the tops already made. */
	{
		struct error ignored = ERROR_INIT;
		journal_update(st, op, j, &ignored);
	}
	return -1;
}

/* Before the first swap, what is live at each path is what the switch
 * will move to its stage: its inode is journaled then, once the services
 * are stopped, so that after the swap the old content is known by it. */
static int journal_live_inodes(struct state *st, long op, struct journal *j, struct error *err)
{
	for (size_t i = 0; i < j->n; i++) {
		struct journal_entry *e = &j->entries[i];
		struct stat sb;
		int dir_fd;
		if (e->created)
			continue;
		if (entry_parent(e, 0, &dir_fd, NULL, err) < 0)
			return -1;
		int rc = fstatat(dir_fd, path_basename(e->path), &sb, AT_SYMLINK_NOFOLLOW);
		close(dir_fd);
		if (rc < 0)
			return error_errno(err, ERROR_FAILED, errno, "cannot inspect '%s'", e->path);
		e->live_known = 1;
		e->live_dev = sb.st_dev;
		e->live_ino = sb.st_ino;
	}
	return journal_update(st, op, j, err);
}

static int swap_all(struct state *st, long op, struct journal *j, struct error *err)
{
	if (journal_live_inodes(st, op, j, err) < 0)
		return -1;
	for (size_t i = 0; i < j->n; i++) {
		struct journal_entry *e = &j->entries[i];
		long step;
		int dir_fd;
		if (operation_step_begin(st, op, e->absent ? STEP_REMOVE : STEP_SWAP, e->path, &step,
					 err) < 0)
			return -1;
		if (entry_parent(e, 0, &dir_fd, NULL, err) < 0)
			return step_failed(st, step, err);
		int rc = 0;
		if (!e->absent && !holds_staged(dir_fd, path_basename(e->stage), e))
			rc = error_set(err, ERROR_FAILED, "'%s' is not the stage lastgood made; not "
				       "swapping it into '%s'", e->stage, e->path);
		else if (swap_entry(dir_fd, e, 0) < 0)
			rc = error_errno(err, ERROR_FAILED, errno, e->absent ? "cannot move '%s' "
					 "out to '%s'" : "cannot swap '%s' into '%s'",
					 e->absent ? e->path : e->stage, e->absent ? e->stage : e->path);
		else
			rc = fsync_folder(dir_fd, e->path, err);
		close(dir_fd);
		if (rc < 0)
			return step_failed(st, step, err);
		if (operation_step_end(st, step, STEP_OK, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* err held why the switch stopped; undoing it failed too (undo_err):
 * recover must finish it, the operation stays unfinished. */
/* Put the old files back now rather than leave it to recover; if that
 * fails too, recover must finish it (the operation stays unfinished). */
static void switch_undo_now(struct state *st, long op, struct journal *j, struct error *err)
{
	struct error undo_err = ERROR_INIT;
	if (undo_journal(j, &undo_err) < 0 ||
	    journal_forget(st, op, j, OP_PHASE_UNDONE, &undo_err) < 0)
		error_undo_failed(err, &undo_err);
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

int switch_swap(struct state *st, long op, struct error *err)
{
	struct journal j;
	int rc = -1;

	if (journal_load(st, op, &j, err) == 0) {
		rc = swap_all(st, op, &j, err);
		if (rc < 0)
			switch_undo_now(st, op, &j, err);
	}
	journal_free(&j);
	return rc;
}

int switch_undo(struct state *st, long op, struct error *err)
{
	struct journal j;
	struct error load_err = ERROR_INIT;
	if (journal_load(st, op, &j, &load_err) < 0)
		error_undo_failed(err, &load_err);
	else if (j.n)   /* a switch that changed no file has nothing to put back */
		switch_undo_now(st, op, &j, err);
	journal_free(&j);
	return -1;
}

int switch_kept_copies(struct state *st, long op, struct error *err)
{
	struct journal j;
	int kept = -1;
	if (journal_load(st, op, &j, err) == 0)
		kept = j.n && (j.phase == OP_PHASE_COMMITTED || j.phase == OP_PHASE_REVERTING);
	journal_free(&j);
	return kept;
}

/* Swap the old content back into every path (a crash in between is
 * finished by recover: the phase and revert_to are durable first), then
 * commit back_to as live. The stages then hold the new content. */
static int revert_journal(struct state *st, long op, struct journal *j, long back_to,
			  struct error *err)
{
	sqlite3_stmt *stmt;
	if (j->phase != OP_PHASE_REVERTING) {
		if (state_begin(st, err) < 0)
			return -1;
		if (state_prepare(st, "UPDATE operations SET revert_to = ? WHERE id = ?", &stmt,
				  err) < 0) {
			state_rollback(st);
			return -1;
		}
		sqlite3_bind_int64(stmt, 1, back_to);
		sqlite3_bind_int64(stmt, 2, op);
		int rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE) {
			state_db_error(st, "record revert", err);
			state_rollback(st);
			return -1;
		}
		if (operation_set_phase(st, op, OP_PHASE_REVERTING, err) < 0 ||
		    state_commit(st, err) < 0) {
			state_rollback(st);
			return -1;
		}
		j->revert_to = back_to;
	}
	if (unswap_all(j, err) < 0)
		return -1;
	return journal_write_live(st, op, OP_PHASE_REVERTED, j->revert_to, err);
}

int switch_revert(struct state *st, long op, long back_to, struct error *err)
{
	struct journal j;
	long step;
	int rc = -1;

	if (journal_load(st, op, &j, err) < 0)
		goto out;
	if (j.phase != OP_PHASE_COMMITTED && j.phase != OP_PHASE_REVERTING) {
		error_set(err, ERROR_FAILED, "internal error: operation %ld reverted in phase '%s'",
			  op, op_phase_name(j.phase));
		goto out;
	}
	char *detail = xstrfmt("back to release %ld: the replaced files swapped back", back_to);
	rc = operation_step_begin(st, op, STEP_SWAP_BACK, NULL, &step, err);
	if (rc == 0 && revert_journal(st, op, &j, back_to, err) < 0)
		rc = step_failed(st, step, err);
	else if (rc == 0)
		rc = operation_step_end(st, step, STEP_OK, detail, err);
	free(detail);
out:
	journal_free(&j);
	return rc;
}

/* Remove what the settled switch left in its stages: after a switch that
 * stands, the old content (proved by the live inode journaled before the
 * swap); after a revert, the new content (the staged inode). */
static int finish_journal(struct state *st, long op, struct journal *j, struct error *err)
{
	int reverted = j->phase == OP_PHASE_REVERTED;
	if (remove_stages(j, reverted ? holds_staged : holds_live, err) < 0)
		return -1;
	return journal_forget(st, op, j, reverted ? OP_PHASE_UNDONE : OP_PHASE_SWITCHED, err);
}

void switch_remember_staged(struct state *st, long op, const struct switch_plan *plan,
			    long long staged_ns)
{
	struct journal j;
	struct error ignored = ERROR_INIT;

	if (journal_load(st, op, &j, &ignored) < 0 || j.n != plan->n ||
	    j.phase != OP_PHASE_COMMITTED || state_begin(st, &ignored) < 0) {
		journal_free(&j);
		return;
	}
	for (size_t i = 0; i < j.n; i++) {
		const struct journal_entry *e = &j.entries[i];
		struct stat sb;
		int dir_fd, top_fd;
		if (e->absent || !e->staged_known || entry_parent(e, 0, &dir_fd, NULL, &ignored) < 0)
			continue;
		top_fd = openat(dir_fd, path_basename(e->path),
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dir_fd);
		if (top_fd < 0)
			continue;
		/* only the folder lastgood staged, now live */
		if (fstat(top_fd, &sb) == 0 && sb.st_dev == e->staged_dev &&
		    sb.st_ino == e->staged_ino)
			manifest_cache_staged(st, plan->changes[i].to, top_fd, staged_ns);
		close(top_fd);
	}
	(void)state_commit(st, &ignored);
	journal_free(&j);
}

int switch_finish(struct state *st, long op, struct error *err)
{
	struct journal j;
	long step;
	int rc = -1;

	if (journal_load(st, op, &j, err) < 0)
		goto out;
	if (!j.n) {
		rc = 0;
		goto out;
	}
	if (j.phase != OP_PHASE_COMMITTED && j.phase != OP_PHASE_REVERTED) {
		error_set(err, ERROR_FAILED, "internal error: operation %ld cleaned up in phase "
			  "'%s'", op, op_phase_name(j.phase));
		goto out;
	}
	if (operation_step_begin(st, op, STEP_CLEAN_UP, NULL, &step, err) < 0)
		goto out;
	if (finish_journal(st, op, &j, err) < 0)
		step_failed(st, step, err);
	else
		rc = operation_step_end(st, step, STEP_OK, NULL, err);
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
		if (j.phase == OP_PHASE_SWITCHED)
			*outcome = SWITCH_COMPLETE;
		else if (j.phase == OP_PHASE_UNDONE)
			*outcome = SWITCH_UNDONE;
		journal_free(&j);
		return 0;
	}
	if (j.phase == OP_PHASE_COMMITTED) {
		rc = finish_journal(st, op, &j, err);
		*outcome = SWITCH_FINISHED;
	} else if (j.phase == OP_PHASE_REVERTING) {
		rc = revert_journal(st, op, &j, j.revert_to, err);
		if (rc == 0) {
			j.phase = OP_PHASE_REVERTED;
			rc = finish_journal(st, op, &j, err);
		}
		*outcome = SWITCH_UNDONE;
	} else if (j.phase == OP_PHASE_REVERTED) {
		rc = finish_journal(st, op, &j, err);
		*outcome = SWITCH_UNDONE;
	} else {
		rc = undo_journal(&j, err);
		if (rc == 0)
			rc = journal_forget(st, op, &j, OP_PHASE_UNDONE, err);
		*outcome = SWITCH_UNDONE;
	}
	journal_free(&j);
	return rc;
}
