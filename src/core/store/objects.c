/*
 * The content store: objects named by their SHA-256 under objects/xx/,
 * written through tmp/ and renamed into place so that a crash leaves either
 * no object or a whole one. See store.h.
 */
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/sparse.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The buffer objects are read through (store_stream), on the stack. */
#define STORE_CHUNK 65536

/* Temporary names are obj.<pid>.<counter>; the counter keeps two puts of
 * one process apart, the pid two processes. */
static atomic_ulong store_temp_counter;

struct store_temp {
	char *path;
	int fd;
	unsigned long counter;   /* the path's last part */
};

void store_init(struct store *store, const char *state_dir)
{
	store->objects_dir = path_join(state_dir, "objects");
	store->tmp_dir = path_join(state_dir, "tmp");
	store->quarantine_dir = path_join(state_dir, "quarantine");
}

void store_release(struct store *store)
{
	free(store->objects_dir);
	free(store->tmp_dir);
	free(store->quarantine_dir);
	memset(store, 0, sizeof(*store));
}

/* Object names come from manifests and the database; refuse anything
 * that is not a digest before it becomes part of a path. */
static int store_check_name(const char *digest, struct error *err)
{
	if (!hash_is_valid_hex(digest))
		return error_set(err, ERROR_FAILED, "'%s' is not an object name", digest);
	return 0;
}

char *store_object_path(const struct store *store, const char *digest)
{
	return xstrfmt("%s/%.2s/%s", store->objects_dir, digest, digest + 2);
}

/* Whether the object at path (below at_fd) is a file of size bytes, or
 * of any size when size is negative. */
static int store_object_is(int at_fd, const char *path, long long size)
{
	struct stat sb;
	return fstatat(at_fd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
	       (size < 0 || sb.st_size == size);
}

static int store_has_any(const struct store *store, const char *digest, long long size)
{
	if (!hash_is_valid_hex(digest))
		return 0;
	char *path = store_object_path(store, digest);
	int found = store_object_is(AT_FDCWD, path, size);
	free(path);
	return found;
}

/* A size mismatch can only be damage, and putting the content again
 * repairs it (the put does not find the object present). */
int store_has_size(const struct store *store, const char *digest, long long size)
{
	return store_has_any(store, digest, size);
}

int store_has(const struct store *store, const char *digest)
{
	return store_has_any(store, digest, -1);
}

int store_open_objects(const struct store *store)
{
	return open(store->objects_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int store_has_size_at(int objects_fd, const char *digest, long long size)
{
	if (!hash_is_valid_hex(digest))
		return 0;
	char rel[HASH_HEX_SIZE + 1];   /* "ab/cdef…" */
	memcpy(rel, digest, 2);
	rel[2] = '/';
	memcpy(rel + 3, digest + 2, HASH_HEX_SIZE - 2);
	return store_object_is(objects_fd, rel, size);
}

/*
 * Read fd to its end, hashing every byte and appending it to sb (when
 * non-NULL): how objects are read back (store_read, fsck), each read also
 * a verification, and how a fresh copy is hashed. Through a buffer: mapping
 * the page cache instead costs a TLB shoot-down at every unmap, which on a
 * virtual machine took longer than the hashing.
 */
static int store_stream(int fd, const char *name, struct strbuf *sb,
			char digest[HASH_HEX_SIZE], long long *size, struct error *err)
{
	char buf[STORE_CHUNK];
	long long total = 0;
	struct hasher h;
	int rc = 0;

	hasher_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = error_errno(err, ERROR_FAILED, errno, "cannot read '%s'", name);
			break;
		}
		if (n == 0)
			break;
		hasher_update(&h, buf, (size_t)n);
		if (sb)
			strbuf_add(sb, buf, (size_t)n);
		total += n;
	}
	hasher_final(&h, digest);   /* releases the context on failure too */
	if (size)
		*size = total;
	return rc;
}

/*
 * Fill out_fd (empty, opened for reading and writing, that only we write)
 * with in_fd's bytes without passing them through us: a reflink where the
 * file system can share blocks (FICLONE: no data copied), else the
 * kernel's copy_file_range, else read and write; holes stay holes either
 * way (sparse_copy). Then hash the copy, read back from the page cache, so
 * the digest is that of the bytes kept even if in_fd's file changes
 * meanwhile.
 */
static int store_copy_hashed(int in_fd, const char *in_name, int out_fd, const char *out_name,
			     char digest[HASH_HEX_SIZE], long long *size, struct error *err)
{
	if (ioctl(out_fd, FICLONE, in_fd) < 0 && sparse_copy(in_fd, out_fd, in_name, err) < 0)
		return -1;
	if (lseek(out_fd, 0, SEEK_SET) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot read '%s'", out_name);
	return store_stream(out_fd, out_name, NULL, digest, size, err);
}

static int store_corrupt_error(const char *digest, const char *got, struct error *err)
{
	return error_set(err, ERROR_FAILED, "object '%.12s' is corrupt (expected %.12s, got %.12s)",
			 digest, digest, got);
}

/* Open an object for reading; a missing one gets the message fsck and
 * switch rely on, and *missing (when given) says so. */
static int store_open_object(const struct store *store, const char *digest, char **path,
			     int *missing, struct error *err)
{
	if (missing)
		*missing = 0;
	if (store_check_name(digest, err) < 0)
		return -1;
	*path = store_object_path(store, digest);
	int fd = open(*path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT) {
		if (missing)
			*missing = 1;
		error_set(err, ERROR_FAILED, "object '%.12s' is missing from the store", digest);
	} else
		error_errno(err, ERROR_FAILED, errno, "cannot open object '%s'", *path);
	free(*path);
	*path = NULL;
	return -1;
}

static char *store_temp_path(const struct store *store, unsigned long counter)
{
	return xstrfmt("%s/obj.%ld.%lu", store->tmp_dir, (long)getpid(), counter);
}

static int store_temp_open(const struct store *store, struct store_temp *t, struct error *err)
{
	for (;;) {
		t->counter = atomic_fetch_add(&store_temp_counter, 1);
		t->path = store_temp_path(store, t->counter);
		t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (t->fd >= 0)
			return 0;
		int e = errno;
		if (e != EEXIST) {
			error_errno(err, ERROR_FAILED, e, "cannot create temporary object '%s'", t->path);
			free(t->path);
			t->path = NULL;
			return -1;
		}
		/* Left by an earlier process that had our pid: take the next name. */
		free(t->path);
	}
}

static void store_temp_discard(struct store_temp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	unlink(t->path);
	free(t->path);
	t->path = NULL;
	t->fd = -1;
}

/*
 * Seal a written temporary object and move it to its name. An object
 * already present at the right size is kept and the temporary dropped
 * (dedupe); one of the wrong size is damaged and is replaced. Takes
 * ownership of t either way.
 */
static int store_install(struct store *store, struct store_temp *t, const char *digest,
			 long long size, int *added, struct error *err)
{
	char *object = NULL, *dir = NULL;

	if (fchmod(t->fd, 0444) < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot make '%s' read-only", t->path);
		goto fail;
	}
	if (fs_fsync_fd(t->fd, t->path, err) < 0)
		goto fail;
	if (close(t->fd) < 0) {
		t->fd = -1;
		error_errno(err, ERROR_FAILED, errno, "cannot close '%s'", t->path);
		goto fail;
	}
	t->fd = -1;

	if (store_has_size(store, digest, size)) {
		store_temp_discard(t);
		*added = 0;
		return 0;
	}
	object = store_object_path(store, digest);
	dir = path_dirname(object);
	int new_dir = mkdir(dir, 0700) == 0;
	if (!new_dir && errno != EEXIST) {
		error_errno(err, ERROR_FAILED, errno, "cannot create store folder '%s'", dir);
		goto fail;
	}
	if (rename(t->path, object) < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot rename '%s' to '%s'", t->path, object);
		goto fail;
	}
	free(t->path);
	t->path = NULL;
	if (fs_fsync_dir(dir, err) < 0)
		goto fail;
	if (new_dir && fs_fsync_dir(store->objects_dir, err) < 0)
		goto fail;
	free(object);
	free(dir);
	*added = 1;
	return 0;
fail:
	if (t->path)
		store_temp_discard(t);
	free(object);
	free(dir);
	return -1;
}

struct store_pending {
	char digest[HASH_HEX_SIZE];
	unsigned long temp;      /* its temporary is tmp/obj.<pid>.<temp> */
	int named;               /* renamed to its object name */
};

static char *store_pending_temp(const struct store *store, const struct store_pending *p)
{
	return store_temp_path(store, p->temp);
}

void store_batch_begin(struct store *store, struct store_batch *batch)
{
	memset(batch, 0, sizeof(*batch));
	batch->store = store;
	batch->tmp_fd = -1;
}

void store_batch_abort(struct store_batch *batch)
{
	for (size_t i = 0; i < batch->n; i++) {
		if (batch->pending[i].named)
			continue;
		char *temp = store_pending_temp(batch->store, &batch->pending[i]);
		unlink(temp);
		free(temp);
	}
	free(batch->pending);
	if (batch->tmp_fd >= 0)
		close(batch->tmp_fd);
	store_batch_begin(batch->store, batch);
}

static int store_batch_has(const struct store_batch *batch, const char *digest)
{
	for (size_t i = 0; i < batch->n; i++)
		if (!memcmp(batch->pending[i].digest, digest, HASH_HEX_SIZE))
			return 1;
	return 0;
}

static int store_fsync_path(const char *path, struct error *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot open '%s'", path);
	int rc = fs_fsync_fd(fd, path, err);
	close(fd);
	return rc;
}

/* Rename one pending object to its name, creating its fan-out folder the
 * first time (*created). An object already there can only be a damaged
 * one (store_batch_put_fd drops content that is present), and the rename
 * replaces it, as store_install does. */
static int store_name_pending(struct store_batch *batch, struct store_pending *p,
			      int *created, struct error *err)
{
	char *temp = store_pending_temp(batch->store, p);
	char *object = store_object_path(batch->store, p->digest);
	char *dir = NULL;
	int rc = 0;

	*created = 0;
	if (rename(temp, object) < 0) {
		if (errno != ENOENT) {
			rc = error_errno(err, ERROR_FAILED, errno, "cannot rename '%s' to '%s'",
					 temp, object);
		} else {
			dir = path_dirname(object);
			*created = mkdir(dir, 0700) == 0;
			if (!*created && errno != EEXIST)
				rc = error_errno(err, ERROR_FAILED, errno,
						 "cannot create store folder '%s'", dir);
			else if (rename(temp, object) < 0)
				rc = error_errno(err, ERROR_FAILED, errno,
						 "cannot rename '%s' to '%s'", temp, object);
		}
	}
	if (rc == 0)
		p->named = 1;
	free(dir);
	free(temp);
	free(object);
	return rc;
}

/* The fan-out folder an object goes to, as a number (its first two hex
 * digits). */
static unsigned store_fanout(const char *digest)
{
	unsigned v = 0;
	for (int i = 0; i < 2; i++)
		v = v * 16 + (unsigned)(digest[i] <= '9' ? digest[i] - '0' : digest[i] - 'a' + 10);
	return v;
}

/* Make the batch's temporaries durable, or the folders that now name
 * them: one syncfs for many, else an fsync each. */
static int store_batch_sync(struct store_batch *batch, int names,
			    const unsigned char *fanouts, int objects_dir, struct error *err)
{
	if (batch->n >= FS_SYNCFS_MIN)
		return fs_syncfs(batch->tmp_fd, batch->store->tmp_dir, err);
	for (size_t i = 0; !names && i < batch->n; i++) {
		char *temp = store_pending_temp(batch->store, &batch->pending[i]);
		int rc = store_fsync_path(temp, err);
		free(temp);
		if (rc < 0)
			return -1;
	}
	for (unsigned f = 0; names && f < 256; f++) {
		if (!fanouts[f])
			continue;
		char *dir = xstrfmt("%s/%02x", batch->store->objects_dir, f);
		int rc = fs_fsync_dir(dir, err);
		free(dir);
		if (rc < 0)
			return -1;
	}
	if (names && objects_dir)
		return fs_fsync_dir(batch->store->objects_dir, err);
	return 0;
}

int store_batch_commit(struct store_batch *batch, struct error *err)
{
	unsigned char fanouts[256] = { 0 };
	int created_any = 0, rc = 0;

	if (batch->n && store_batch_sync(batch, 0, NULL, 0, err) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < batch->n; i++) {
		struct store_pending *p = &batch->pending[i];
		int created;
		rc = store_name_pending(batch, p, &created, err);
		fanouts[store_fanout(p->digest)] = 1;
		created_any |= created;
	}
	if (rc == 0 && batch->n)
		rc = store_batch_sync(batch, 1, fanouts, created_any, err);
	store_batch_abort(batch);   /* drops the temporaries a failure left */
	return rc;
}

/* syncfs reports the write-back errors of its file system since the
 * descriptor was opened, so tmp/ is opened before the first write. */
int store_batch_prepare(struct store_batch *batch, struct error *err)
{
	if (batch->tmp_fd >= 0)
		return 0;
	batch->tmp_fd = open(batch->store->tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (batch->tmp_fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot open folder '%s'",
				   batch->store->tmp_dir);
	return 0;
}

int store_batch_write(const struct store_batch *batch, int fd, const char *what,
		      struct store_written *w, struct error *err)
{
	struct store_temp t;

	if (store_temp_open(batch->store, &t, err) < 0)
		return -1;
	if (store_copy_hashed(fd, what, t.fd, t.path, w->digest, &w->size, err) < 0) {
		store_temp_discard(&t);
		return -1;
	}
	w->present = store_has_size(batch->store, w->digest, w->size);
	if (w->present) {
		store_temp_discard(&t);
		return 0;
	}
	if (fchmod(t.fd, 0444) < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot make '%s' read-only", t.path);
		store_temp_discard(&t);
		return -1;
	}
	/* Start writing it out now: the commit then finds the disk work done
	 * rather than starting it. */
	sync_file_range(t.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	int rc = close(t.fd);
	t.fd = -1;
	if (rc < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot close '%s'", t.path);
		store_temp_discard(&t);
		return -1;
	}
	w->temp = t.counter;
	free(t.path);
	return 0;
}

void store_written_drop(const struct store_batch *batch, const struct store_written *w)
{
	if (w->present)
		return;
	char *temp = store_temp_path(batch->store, w->temp);
	unlink(temp);
	free(temp);
}

int store_batch_add(struct store_batch *batch, const struct store_written *w, int *added,
		    struct error *err)
{
	*added = !w->present && !store_batch_has(batch, w->digest);
	if (!*added) {
		store_written_drop(batch, w);
	} else {
		ALLOC_GROW(batch->pending, batch->n + 1, batch->alloc);
		struct store_pending *p = &batch->pending[batch->n++];
		memcpy(p->digest, w->digest, HASH_HEX_SIZE);
		p->temp = w->temp;
		p->named = 0;
		batch->bytes += w->size;
	}
	if (batch->n >= STORE_BATCH_OBJECTS || batch->bytes >= STORE_BATCH_BYTES)
		return store_batch_commit(batch, err);
	return 0;
}

int store_batch_put_fd(struct store_batch *batch, int fd, const char *what,
		       char digest[HASH_HEX_SIZE], int *added, long long *size,
		       struct error *err)
{
	struct store_written w;

	if (store_batch_prepare(batch, err) < 0 || store_batch_write(batch, fd, what, &w, err) < 0)
		return -1;
	memcpy(digest, w.digest, HASH_HEX_SIZE);
	if (size)
		*size = w.size;
	return store_batch_add(batch, &w, added, err);
}

int store_put_fd(struct store *store, int fd, const char *what,
		 char digest[HASH_HEX_SIZE], int *added, long long *size,
		 struct error *err)
{
	struct store_batch batch;
	store_batch_begin(store, &batch);
	if (store_batch_put_fd(&batch, fd, what, digest, added, size, err) < 0) {
		store_batch_abort(&batch);
		return -1;
	}
	return store_batch_commit(&batch, err);
}

int store_put_buffer(struct store *store, const void *data, size_t len,
		     char digest[HASH_HEX_SIZE], int *added, struct error *err)
{
	struct store_temp t;

	/* The bytes are at hand, so hashing first spares the write when the
	 * object exists (manifests of unchanged releases). */
	hash_buffer(data, len, digest);
	if (store_has_size(store, digest, (long long)len)) {
		*added = 0;
		return 0;
	}
	if (store_temp_open(store, &t, err) < 0)
		return -1;
	if (fs_write_all(t.fd, data, len) < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot write '%s'", t.path);
		store_temp_discard(&t);
		return -1;
	}
	return store_install(store, &t, digest, (long long)len, added, err);
}

int store_read(struct store *store, const char *digest, struct strbuf *sb, struct error *err)
{
	char got[HASH_HEX_SIZE], *path;
	size_t old_len = sb->len;

	int fd = store_open_object(store, digest, &path, NULL, err);
	if (fd < 0)
		return -1;
	int rc = store_stream(fd, path, sb, got, NULL, err);
	close(fd);
	free(path);
	if (rc == 0 && strcmp(got, digest))
		rc = store_corrupt_error(digest, got, err);
	if (rc < 0)
		strbuf_setlen(sb, old_len);
	return rc;
}

int store_materialize_fd(struct store *store, const char *digest, int fd, const char *what,
			 int sync, struct error *err)
{
	char got[HASH_HEX_SIZE], *object;
	long long size;

	int in = store_open_object(store, digest, &object, NULL, err);
	if (in < 0)
		return -1;
	/* What is verified is the copy, the very bytes that will go live. */
	int rc = store_copy_hashed(in, object, fd, what, got, &size, err);
	close(in);
	free(object);
	if (rc == 0 && strcmp(got, digest))
		rc = store_corrupt_error(digest, got, err);
	if (rc == 0 && sync)
		rc = fs_fsync_fd(fd, what, err);
	return rc;
}

enum store_damage store_check(struct store *store, const char *digest, struct error *err)
{
	char got[HASH_HEX_SIZE], *path;
	struct stat sb;

	int missing;
	int fd = store_open_object(store, digest, &path, &missing, err);
	if (fd < 0)
		return missing ? STORE_MISSING : STORE_CORRUPT;
	int rc;
	if (fstat(fd, &sb) < 0)
		rc = error_errno(err, ERROR_FAILED, errno, "cannot inspect object '%s'", path);
	else if (!S_ISREG(sb.st_mode))
		rc = error_set(err, ERROR_FAILED, "object '%.12s' is corrupt (not a regular file)", digest);
	else
		rc = store_stream(fd, path, NULL, got, NULL, err);
	close(fd);
	free(path);
	if (rc == 0 && strcmp(got, digest))
		rc = store_corrupt_error(digest, got, err);
	return rc < 0 ? STORE_CORRUPT : STORE_INTACT;
}

int store_verify(struct store *store, const char *digest, struct error *err)
{
	return store_check(store, digest, err) == STORE_INTACT ? 0 : -1;
}

int store_clean_tmp(struct store *store, struct error *err)
{
	DIR *d = opendir(store->tmp_dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return error_errno(err, ERROR_FAILED, errno, "cannot open folder '%s'",
				   store->tmp_dir);
	}
	int rc = 0;
	struct dirent *de;
	/* Only the lock holder writes to tmp/, and the caller holds the lock:
	 * whatever is there (objects half written, unpacked sources) was left
	 * by a process that died. */
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *p = path_join(store->tmp_dir, de->d_name);
		rc = fs_remove_tree(p, err);
		free(p);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

static int store_is_hex(const char *s, size_t len)
{
	size_t i;
	for (i = 0; s[i] && i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == len && !s[i];
}

static int store_fanout_filter(const struct dirent *de)
{
	return store_is_hex(de->d_name, 2);
}

static int store_object_filter(const struct dirent *de)
{
	return store_is_hex(de->d_name, HASH_HEX_SIZE - 3);
}

static int store_name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void store_free_names(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Names are listed (sorted, so reports are stable) before fn runs, which
 * lets fn remove the object it is given. */
int store_for_each(struct store *store,
		   int (*fn)(const char *digest, const char *path, void *ctx),
		   void *ctx, struct error *err)
{
	struct dirent **fanout;
	int nfanout = scandir(store->objects_dir, &fanout, store_fanout_filter, store_name_order);
	if (nfanout < 0) {
		if (errno == ENOENT)
			return 0;
		return error_errno(err, ERROR_FAILED, errno, "cannot list folder '%s'",
				   store->objects_dir);
	}
	int rc = 0;
	for (int i = 0; i < nfanout && !rc; i++) {
		char *dir = path_join(store->objects_dir, fanout[i]->d_name);
		struct dirent **names;
		int n = scandir(dir, &names, store_object_filter, store_name_order);
		if (n < 0) {
			rc = error_errno(err, ERROR_FAILED, errno, "cannot list folder '%s'", dir);
			free(dir);
			break;
		}
		for (int j = 0; j < n && !rc; j++) {
			char digest[HASH_HEX_SIZE];
			memcpy(digest, fanout[i]->d_name, 2);
			memcpy(digest + 2, names[j]->d_name, HASH_HEX_SIZE - 2);
			char *path = path_join(dir, names[j]->d_name);
			rc = fn(digest, path, ctx);
			free(path);
		}
		store_free_names(names, n);
		free(dir);
	}
	store_free_names(fanout, nfanout);
	return rc;
}

/* The first free name of quarantine/DIGEST, DIGEST.1, ... below dir_fd:
 * renameat2 with RENAME_NOREPLACE never replaces an earlier one. */
static int store_quarantine_move(int dir_fd, const char *object, const char *digest,
				 char **name)
{
	for (unsigned n = 0;; n++) {
		*name = n ? xstrfmt("%s.%u", digest, n) : xstrdup(digest);
		if (renameat2(AT_FDCWD, object, dir_fd, *name, RENAME_NOREPLACE) == 0)
			return 0;
		int e = errno;
		free(*name);
		*name = NULL;
		if (e != EEXIST) {
			errno = e;
			return -1;
		}
	}
}

int store_quarantine(struct store *store, const char *digest, char **where, struct error *err)
{
	const char *dir = store->quarantine_dir;
	char *object = NULL, *name = NULL;
	int dir_fd = -1, rc = -1;

	*where = NULL;
	if (store_check_name(digest, err) < 0)
		goto out;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		error_errno(err, ERROR_FAILED, errno, "cannot create folder '%s'", dir);
		goto out;
	}
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot open folder '%s'", dir);
		goto out;
	}
	object = store_object_path(store, digest);
	if (store_quarantine_move(dir_fd, object, digest, &name) < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot move object '%s' to '%s'", object, dir);
		goto out;
	}
	*where = path_join(dir, name);
	/* Both folders: the object gone from one and kept in the other. */
	if (fs_fsync_fd(dir_fd, dir, err) < 0 || fs_fsync_parent(object, err) < 0)
		goto out;
	rc = 0;
out:
	if (dir_fd >= 0)
		close(dir_fd);
	free(object);
	free(name);
	return rc;
}

int store_restore_fd(struct store *store, int fd, const char *what, const char *digest,
		     struct error *err)
{
	char got[HASH_HEX_SIZE];
	struct store_temp t;
	long long size;
	int added;

	if (store_check_name(digest, err) < 0 || store_temp_open(store, &t, err) < 0)
		return -1;
	if (store_copy_hashed(fd, what, t.fd, t.path, got, &size, err) < 0) {
		store_temp_discard(&t);
		return -1;
	}
	if (strcmp(got, digest)) {
		store_temp_discard(&t);
		return 0;
	}
	return store_install(store, &t, digest, size, &added, err) < 0 ? -1 : 1;
}

int store_remove(struct store *store, const char *digest, struct error *err)
{
	if (store_check_name(digest, err) < 0)
		return -1;
	char *path = store_object_path(store, digest);
	int rc = 0;
	if (unlink(path) < 0 && errno != ENOENT)
		rc = error_errno(err, ERROR_FAILED, errno, "cannot remove object '%s'", path);
	free(path);
	return rc;
}

void digest_set_add(struct digest_set *set, const char *digest)
{
	ALLOC_GROW(set->v, set->n + 1, set->alloc);
	memcpy(set->v[set->n++], digest, HASH_HEX_SIZE);
}

static int digest_order(const void *a, const void *b)
{
	return strcmp(a, b);
}

void digest_set_sort(struct digest_set *set)
{
	if (set->n)
		qsort(set->v, set->n, sizeof(*set->v), digest_order);
	size_t kept = 0;
	for (size_t i = 0; i < set->n; i++)
		if (!kept || strcmp(set->v[kept - 1], set->v[i]))
			memmove(set->v[kept++], set->v[i], HASH_HEX_SIZE);
	set->n = kept;
}

int digest_set_has(const struct digest_set *set, const char *digest)
{
	if (!set->n)
		return 0;
	return bsearch(digest, set->v, set->n, sizeof(*set->v), digest_order) != NULL;
}

void digest_set_clear(struct digest_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = set->alloc = 0;
}
