/*
 * The content store: every file's bytes, once, named by SHA-256.
 *
 * Objects live at objects/xx/yyyy… (xx = the first two hex digits) and are
 * made read-only (0444) once written. An object is written beside its
 * final name in tmp/, fsynced, renamed into place and its folder fsynced,
 * so a crash leaves either no object or a whole one, never a torn one.
 * Content is copied into tmp/ without passing through lastgood (a reflink
 * where the file system has them, else an in-kernel copy of the data, the
 * holes of a sparse file left holes) and hashed by reading the copy back,
 * where only lastgood writes; content already present costs that copy and
 * its hash, and the copy is dropped. An object's digest is that of its
 * logical content, holes read as zeros.
 *
 *   char digest[HASH_HEX_SIZE];
 *   int added;
 *   long long size;
 *   store_put_fd(&st->store, fd, "bin/api", digest, &added, &size, &err);
 *   store_materialize_fd(&st->store, digest, stage_fd, "/srv/bin/.api.stage", 1, &err);
 *
 * Recording a tree puts many objects at once, and paying an fsync (and the
 * journal commit it forces, which the next file creation then waits for)
 * per object made a snapshot several times slower than `cp -a`. A batch
 * pays for durability once per many objects instead:
 *
 *   struct store_batch batch;
 *   store_batch_begin(&st->store, &batch);
 *   store_batch_put_fd(&batch, fd, "web/a.js", digest, &added, &size, &err);  ...
 *   store_batch_commit(&batch, &err);     every object whole and in place
 *   (or store_batch_abort(&batch) on failure: the temporaries go)
 *
 * The order is the one a single put keeps: each object is written to tmp/
 * and made read-only; at commit the temporaries are made durable (an fsync
 * each for a few, one syncfs(2) for many), only then renamed to their
 * names, and the renames made durable the same way. A crash at any point
 * leaves whole objects or none, and nothing names an object of the batch
 * before the commit returns. A batch commits by itself every
 * STORE_BATCH_OBJECTS objects or STORE_BATCH_BYTES bytes, so its memory
 * and what a crash can waste stay bounded.
 *
 * store_materialize_fd writes a fresh copy of an object into a file the
 * caller created (O_EXCL, through its folder's descriptor): a reflink
 * (FICLONE) where the file system shares blocks, which costs no data copy,
 * else an in-kernel copy with the object's holes kept; then the copy is
 * read back and hashed. Either way what lands in the file is verified
 * against the digest; a mismatch (a damaged object) is an error. It fsyncs
 * the file (unless told not to) but not the folder. It never hard-links: a live file is an ordinary file that anyone may
 * rewrite in place (an editor, a package script, `echo >>`), and through a
 * hard link that write would change the object, the only copy of a
 * release.
 *
 * Object names given to these functions are checked to be digests before
 * they become paths. An object found at the wrong size when its content is
 * put again is replaced, so re-recording repairs a truncated object.
 */
#ifndef LG_STORE_H
#define LG_STORE_H

#include <stddef.h>
#include <sys/types.h>

#include "util/hash.h"

struct error;
struct strbuf;

/*
 * A store is three folders of the state folder (state.h), and nothing of
 * the rest of it: the store never touches the database or the lock.
 * struct state holds one (st->store); a unit test makes its own.
 */
struct store {
	char *objects_dir;       /* objects/: the objects, below their fan-out folders */
	char *tmp_dir;           /* tmp/: objects being written, and an operation's scratch */
	char *quarantine_dir;    /* quarantine/: damaged objects fsck moved out */
};

/* Name the folders below state_dir; nothing is created or opened
 * (state_open makes objects/ and tmp/, store_quarantine its folder).
 * store_release frees the names. */
void store_init(struct store *store, const char *state_dir);
void store_release(struct store *store);

/* Store the bytes readable from fd (read to EOF). *added is 1 when the
 * object was new; *size gets the length. what names the source in errors. */
int store_put_fd(struct store *store, int fd, const char *what,
		 char digest[HASH_HEX_SIZE], int *added, long long *size,
		 struct error *err);
int store_put_buffer(struct store *store, const void *data, size_t len,
		     char digest[HASH_HEX_SIZE], int *added, struct error *err);

#define STORE_BATCH_OBJECTS 1024
#define STORE_BATCH_BYTES (256LL << 20)

struct store_pending;

struct store_batch {
	struct store *store;
	struct store_pending *pending;   /* written to tmp/, not yet named */
	size_t n;
	size_t alloc;
	long long bytes;
	int tmp_fd;                      /* tmp/, for syncfs; -1 until needed */
};

void store_batch_begin(struct store *store, struct store_batch *batch);
/* store_put_fd, with the object's durability and name left to the commit.
 * *added is 1 when the object is new to the store (and to this batch). */
int store_batch_put_fd(struct store_batch *batch, int fd, const char *what,
		       char digest[HASH_HEX_SIZE], int *added, long long *size,
		       struct error *err);

/*
 * store_batch_put_fd in two halves, for writing objects on several threads
 * (manifest capture): store_batch_prepare once, then store_batch_write on
 * any thread (it touches nothing shared but the temporary names' counter),
 * then store_batch_add of each result on the batch's own thread, in any
 * order; store_written_drop for a written one not to be added.
 */
struct store_written {
	char digest[HASH_HEX_SIZE];
	long long size;
	unsigned long temp;      /* its temporary, when not present */
	int present;             /* already in the store: nothing was kept */
};
int store_batch_prepare(struct store_batch *batch, struct error *err);
int store_batch_write(const struct store_batch *batch, int fd, const char *what,
		      struct store_written *w, struct error *err);
int store_batch_add(struct store_batch *batch, const struct store_written *w, int *added,
		    struct error *err);
void store_written_drop(const struct store_batch *batch, const struct store_written *w);
/* Make every object put so far durable and give it its name. On failure
 * the ones not yet named are dropped (a later put writes them again). */
int store_batch_commit(struct store_batch *batch, struct error *err);
/* Drop whatever was not committed; the batch is then empty. */
void store_batch_abort(struct store_batch *batch);

/* Path of an object (allocated). */
char *store_object_path(const struct store *store, const char *digest);
int store_has(const struct store *store, const char *digest);
/* 1 when the object is in place with this size (a cheap sign it is whole:
 * objects are only ever named once written and synced). */
int store_has_size(const struct store *store, const char *digest, long long size);
/* Many checks: a descriptor of the objects folder (-1 with errno when it
 * cannot be opened), and store_has_size against it, which walks two path
 * components instead of the state folder's whole path. */
int store_open_objects(const struct store *store);
int store_has_size_at(int objects_fd, const char *digest, long long size);
/* Read a whole object into sb, verifying its digest. */
int store_read(struct store *store, const char *digest, struct strbuf *sb, struct error *err);
/* Copy an object into fd (an empty regular file open for reading and
 * writing, that only the caller writes), holes kept, verifying the copy
 * against the digest; fsynced when sync is set (else the caller makes it
 * durable, with one syncfs for many files). what names fd's file in
 * errors. Mode, owner and the rest are the caller's to set (afterwards:
 * a write drops set-ID bits and capabilities). On failure the file holds
 * a partial or wrong copy, which the caller removes. */
int store_materialize_fd(struct store *store, const char *digest, int fd, const char *what,
			 int sync, struct error *err);
/* Re-hash one object: 0 intact, -1 with err naming missing or corrupt. */
int store_verify(struct store *store, const char *digest, struct error *err);

enum store_damage {
	STORE_INTACT = 0,
	STORE_MISSING,
	STORE_CORRUPT,          /* wrong content, or unreadable */
};
/* store_verify that also says how an object failed (fsck reports both
 * kinds apart); err is filled unless the object is intact. */
enum store_damage store_check(struct store *store, const char *digest, struct error *err);
/* Empty tmp/ (what is there was left by a crash); only under the lock. */
int store_clean_tmp(struct store *store, struct error *err);

/*
 * Repairing the store (fsck), both only under the lock:
 *
 * store_quarantine moves a damaged object out of objects/ into the state
 * folder's quarantine/ (created 0700), as quarantine/DIGEST, or
 * DIGEST.N when an earlier one of that name is there: its bytes are kept
 * for whoever wants to know what happened, never deleted. The store then
 * lacks the object, so the next put of that content writes it afresh
 * instead of taking the damaged file, whose name and size may be right,
 * for it. *where gets the new path (allocated).
 *
 * store_restore_fd stores the bytes readable from fd as object digest
 * only if they hash to it: 1 when they did and the object is in place
 * again, 0 when fd holds other content (nothing is kept), -1 on error.
 */
int store_quarantine(struct store *store, const char *digest, char **where, struct error *err);
int store_restore_fd(struct store *store, int fd, const char *what, const char *digest,
		     struct error *err);

/* Walk every object: fn(digest, path, ctx); non-zero from fn stops. */
int store_for_each(struct store *store,
		   int (*fn)(const char *digest, const char *path, void *ctx),
		   void *ctx, struct error *err);
int store_remove(struct store *store, const char *digest, struct error *err);

/* A set of object names for walks over the whole store (gc, fsck): add
 * any number, digest_set_sort once (it also drops duplicates), then ask
 * digest_set_has. */
struct digest_set {
	char (*v)[HASH_HEX_SIZE];
	size_t n;
	size_t alloc;
};
#define DIGEST_SET_INIT { NULL, 0, 0 }
void digest_set_add(struct digest_set *set, const char *digest);
void digest_set_sort(struct digest_set *set);
int digest_set_has(const struct digest_set *set, const char *digest);
void digest_set_clear(struct digest_set *set);

#endif
