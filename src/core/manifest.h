/*
 * Manifests: what a release is made of.
 *
 * A manifest lists, for every `files` entry of every service, the tree of
 * nodes found there: regular files (mode, owner, size, content digest),
 * folders (mode, owner) and symbolic links (owner, target, recorded as a
 * link and never followed), each with its mtime (to the nanosecond) and
 * its extended attributes (POSIX ACLs and file capabilities among them,
 * util/xattr.h); a file with several names in one entry (hard links) is
 * recorded once, its other names as links to the first. It is serialized
 * as escaped, tab-separated text in a fixed order, so equal content always
 * gives the same bytes; the sha256 of those bytes is the release's digest,
 * and the text itself is kept in the store.
 *
 *   struct manifest m = MANIFEST_INIT;
 *   manifest_capture(&st, &cfg, &m, &stats, &err);  live files -> store
 *   manifest_serialize(&m, &text);
 *   manifest_parse(text.buf, text.len, &copy, &err);
 *   manifest_free(&m);
 *
 * Each entry carries its own digest (of its nodes), so two releases differ
 * in an entry exactly when the entry digests differ.
 *
 * The text, every name escaped with strbuf_add_escaped, a node's rel
 * written with a leading "/" ("/" is the entry itself):
 *
 *   lastgood-manifest 2
 *   E <service> <path> <entry digest>
 *   F <rel> <mode, 4 octal digits> <uid> <gid> <size> <digest> <mtime>
 *   H <rel> <rel of the entry's first name of the same file>
 *   D <rel> <mode> <uid> <gid> <mtime>
 *   L <rel> <uid> <gid> <target> <mtime>
 *   X <attribute name> <value in lowercase hex, "-" when empty>
 *
 * An mtime is seconds since the epoch, "." and nine digits of nanoseconds
 * ("1700000000.123456789", "-5.000000000"). X lines follow the F, D or L
 * line of their node, sorted by name; an H names an earlier F line of its
 * entry, whose mode, owner, content, mtime and attributes it shares.
 *
 * Version 1, written before lastgood kept mtimes, attributes and hard
 * links, has the same E, F, D and L lines without the mtime field, and no
 * H or X lines. Its releases are read as they were written, and keep their
 * digests: a node of such a release has no recorded mtime
 * (mtime_nsec == MTIME_UNKNOWN) and no recorded attributes, and an entry
 * of such nodes is hashed as version 1 wrote it. A manifest all of whose
 * entries are such entries (or that has none) is written as version 1 (so
 * a rollback to an old release finds that release again); one that mixes them with newer
 * entries (a rollback of some services to an old release) is written as
 * version 2, the old nodes' mtime written "-". Staging such a node sets
 * its owner and mode and leaves the rest as a fresh file gets it (the
 * time of the switch, the attributes the folder gives new files).
 *
 * manifest_parse trusts nothing: every line must be exactly what
 * manifest_serialize would write, entries and nodes strictly sorted, every
 * node inside a folder of its entry (no "..", "." or empty parts), and
 * each entry's nodes must match its digest. Errors name the line.
 *
 * A capture refuses what a switch could not move: a special file (device,
 * fifo, socket), and a mount point, whether the entry itself or anything
 * below it (statx's STATX_ATTR_MOUNT_ROOT sees bind mounts of the same
 * file system too). A file found changed after it was read (its size,
 * mtime or ctime) is read again, up to CAPTURE_READ_TRIES times in all,
 * and the capture fails naming it if it never holds still, so that no
 * object is a mix of two versions of a file.
 *
 * Functions that fill a manifest or an entry leave it empty (freed) when
 * they fail.
 *
 * Capturing a live path (source == path) consults the stat cache, a table
 * of the state database: a file whose device, inode, size, mtime and ctime
 * are those recorded when it was last read, and were older than the
 * second that read started in, is taken from the cache without being
 * opened. Any write to a file moves its ctime past that second, so no
 * change goes unrecorded; a file written in the same second as a capture
 * ("racily clean") is read again by the next one. A row keeps the file's
 * extended attributes too (changing one moves the ctime). A capture that
 * checks the store also wants each such file's object there at its size.
 * store/statcache.h spells out the rule, and why a snapshot does not
 * check the store. Without a database (st->db NULL) every file is read.
 */
#ifndef LG_MANIFEST_H
#define LG_MANIFEST_H

#include <stddef.h>
#include <sys/types.h>

#include "util/hash.h"

struct config;
struct digest_set;
struct error;
struct state;
struct store;
struct strbuf;
struct xattr_list;

enum node_type {
	NODE_FILE,
	NODE_DIR,
	NODE_SYMLINK,
};

/* A node recorded by a version 1 manifest: no mtime or attributes known. */
#define MTIME_UNKNOWN (-1)

/* 96 bytes: a snapshot of 100,000 files holds 100,000 of these. */
struct manifest_node {
	char *rel;               /* "" for the entry itself, else "a/b" below it */
	char *link;              /* symlinks: the target as stored; files: NULL, or the
				  * rel of the entry's first name of the same file
				  * (a hard link: every other field is that file's) */
	struct xattr_list *xattrs;   /* NULL when it has none */
	long long size;          /* files */
	long long mtime_sec;
	int mtime_nsec;          /* or MTIME_UNKNOWN */
	enum node_type type;
	mode_t mode;             /* permission bits incl. setuid/setgid/sticky */
	uid_t uid;
	gid_t gid;
	unsigned char digest[HASH_SIZE]; /* files: as bytes (hash_to_hex names the object) */
};

/* A file node that is another name of an earlier file of its entry. */
#define MANIFEST_NODE_IS_HARD_LINK(n) ((n)->type == NODE_FILE && (n)->link)

struct manifest_entry {
	char *service;
	char *path;              /* absolute live path */
	struct manifest_node *nodes;  /* sorted by rel; nodes[0].rel == "" */
	size_t nnodes;
	size_t alloc;
	char digest[HASH_HEX_SIZE];
};

struct manifest {
	struct manifest_entry *entries;   /* sorted by path */
	size_t n;
	size_t alloc;
};

#define MANIFEST_INIT { NULL, 0, 0 }

struct capture_stats {
	long files;              /* regular files seen */
	long files_read;         /* of those, the ones read (not vouched for by the stat cache) */
	long long bytes;         /* their total size */
	long long added_bytes;   /* bytes of objects that were new to the store */
};

/* How a capture of live files uses the stat cache. */
enum capture_flags {
	/* the cache vouches for a file only when its object is in the store
	 * at its size (else the file is read and its object written again) */
	CAPTURE_CHECK_STORE = 1,
	/* the cache is read, never written: a capture made only to compare
	 * leaves the rows as they were (a switch's staged files' among them) */
	CAPTURE_CACHE_READ_ONLY = 2,
};

/* Record one entry: walk source (a file, folder or symlink; for a live
 * snapshot source == the live path), store every file's content, and fill
 * *entry for live path `path` of `service`. A special file (device, fifo,
 * socket) is refused, and so is a mount point (ERROR_USAGE); a file that
 * kept changing while it was read fails the capture. flags: enum
 * capture_flags. Adds to *stats when stats is non-NULL. */
int manifest_capture_entry(struct state *st, const char *service, const char *path,
			   const char *source, int flags, struct manifest_entry *entry,
			   struct capture_stats *stats, struct error *err);
/* Drop the stat cache rows whose object is not in kept (a sorted set), so
 * that no row names an object about to be removed, or found missing or
 * damaged (the file is read again next time). Outside a transaction of the
 * caller's, durable when it returns. */
int manifest_cache_forget(struct state *st, const struct digest_set *kept, struct error *err);
/* The stat cache's clock: the second a capture starting now records. */
long long manifest_cache_clock(void);
/* The stat cache learns the files a switch wrote, so that the next capture
 * of the live files does not read them again: entry is live, its top
 * folder open at top_fd, and since_ns is manifest_cache_clock() taken
 * after the last write to any staged file (the rows are trusted only for
 * files not changed since). Call after the swap: until then the live
 * paths' rows describe what is still live. The rows go with the caller's
 * transaction; a row that cannot be written only costs a read. */
void manifest_cache_staged(struct state *st, const struct manifest_entry *entry, int top_fd,
			   long long since_ns);
/* Whether a live entry exists at path, its folder reached the way a
 * switch reaches it (fs_open_parent): a symbolic link or an untrusted
 * folder on the way is refused, so at every capture, not only at `check`. */
int manifest_entry_present(const char *path, int *present, struct error *err);
/* Capture every `files` entry of every service that exists on the live
 * system (one that does not is absent: the manifest has no entry for it),
 * each reached through fs_open_parent (a symbolic link or an untrusted
 * folder on the way is an ERROR_USAGE error); flags as for
 * manifest_capture_entry. *stats (optional) is reset first. One path in
 * two entries is an error. */
int manifest_capture(struct state *st, const struct config *cfg, int flags,
		     struct manifest *m, struct capture_stats *stats, struct error *err);
/* Refuse (ERROR_USAGE, naming both and the config's line) a `files` entry
 * that is a mount point or holds one, as the mounts of this process's
 * namespace (/proc/self/mountinfo) say: what `lastgood check` adds to the
 * capture's own refusal, without walking the trees. */
int manifest_check_mounts(const struct config *cfg, struct error *err);
void manifest_serialize(const struct manifest *m, struct strbuf *out);
/* sha256 of the serialized text (a release's digest), computed without
 * holding the text. */
void manifest_digest(const struct manifest *m, char digest[HASH_HEX_SIZE]);
int manifest_parse(const char *text, size_t len, struct manifest *m, struct error *err);
/* Load a manifest from the store by its digest (verifying it). */
int manifest_load(struct store *store, const char *digest, struct manifest *m,
		  struct error *err);
/* Serialize, store, and give the digest. */
int manifest_store(struct store *store, const struct manifest *m,
		   char digest[HASH_HEX_SIZE], struct error *err);
/* The digest of service's entries in m (each path and its entry digest,
 * in path order): two manifests hold exactly the same files for the
 * service when, and only when, their service digests are equal. */
void manifest_service_digest(const struct manifest *m, const char *service,
			     char digest[HASH_HEX_SIZE]);
/* Compute entry->digest from its nodes (after filling nodes). */
void manifest_entry_finish(struct manifest_entry *entry);
/* Sort entries by path (after adding). */
void manifest_sort(struct manifest *m);
const struct manifest_entry *manifest_find(const struct manifest *m, const char *path);
/* The live path of a node: the entry's path, then "/rel" below it
 * (allocated). */
char *manifest_node_path(const struct manifest_entry *entry, const struct manifest_node *node);
/* Deep-copy src into a new entry appended to m. */
void manifest_add_copy(struct manifest *m, const struct manifest_entry *src);
void manifest_entry_free(struct manifest_entry *entry);
void manifest_free(struct manifest *m);
/* Totals over a manifest: number of regular files and their bytes. */
void manifest_totals(const struct manifest *m, long *files, long long *bytes);

#endif
