/*
 * The content store: every file's bytes, once, named by SHA-256.
 *
 * Objects live at objects/xx/yyyy… (xx = the first two hex digits) and are
 * made read-only (0444) once written. Putting content that is already
 * present costs a hash and nothing else. An object is written beside its
 * final name in tmp/, fsynced, renamed into place and its folder fsynced,
 * so a crash leaves either no object or a whole one, never a torn one.
 *
 *   char digest[HASH_HEX_SIZE];
 *   int added;
 *   long long size;
 *   store_put_fd(&st, fd, "bin/api", digest, &added, &size, &err);
 *   store_materialize(&st, digest, "/srv/bin/.api.stage", 0755, &err);
 *
 * store_materialize writes a fresh copy of an object to a new path
 * (O_EXCL), hashing as it copies; a mismatch (a damaged object) is an error
 * and the partial copy is removed. It fsyncs the file but not the folder.
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
struct state;
struct strbuf;

/* Store the bytes readable from fd (read to EOF). *added is 1 when the
 * object was new; *size gets the length. what names the source in errors. */
int store_put_fd(struct state *st, int fd, const char *what,
		 char digest[HASH_HEX_SIZE], int *added, long long *size,
		 struct error *err);
int store_put_buffer(struct state *st, const void *data, size_t len,
		     char digest[HASH_HEX_SIZE], int *added, struct error *err);
/* Path of an object (allocated). */
char *store_object_path(const struct state *st, const char *digest);
int store_has(const struct state *st, const char *digest);
/* Read a whole object into sb, verifying its digest. */
int store_read(struct state *st, const char *digest, struct strbuf *sb, struct error *err);
/* Copy an object to a new file at path with mode, verifying its digest. */
int store_materialize(struct state *st, const char *digest, const char *path,
		      mode_t mode, struct error *err);
/* Re-hash one object: 0 intact, -1 with err naming missing or corrupt. */
int store_verify(struct state *st, const char *digest, struct error *err);

enum store_damage {
	STORE_INTACT = 0,
	STORE_MISSING,
	STORE_CORRUPT,          /* wrong content, or unreadable */
};
/* store_verify that also says how an object failed (fsck reports both
 * kinds apart); err is filled unless the object is intact. */
enum store_damage store_check(struct state *st, const char *digest, struct error *err);
/* Empty tmp/ (what is there was left by a crash); only under the lock. */
int store_clean_tmp(struct state *st, struct error *err);

/* Walk every object: fn(digest, path, ctx); non-zero from fn stops. */
int store_for_each(struct state *st,
		   int (*fn)(const char *digest, const char *path, void *ctx),
		   void *ctx, struct error *err);
int store_remove(struct state *st, const char *digest, struct error *err);

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
