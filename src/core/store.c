/*
 * The content store: objects named by their SHA-256 under objects/xx/,
 * written through tmp/ and renamed into place so that a crash leaves either
 * no object or a whole one. See store.h.
 */
#include "core/store.h"
#include "core/state.h"
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
#include <sys/stat.h>
#include <unistd.h>

#define STORE_CHUNK 65536

/* Temporary names are obj.<pid>.<counter>; the counter keeps two puts of
 * one process apart, the pid two processes. */
static unsigned long store_temp_counter;

struct store_temp {
	char *path;
	int fd;
};

/* Object names come from manifests and the database; refuse anything
 * that is not a digest before it becomes part of a path. */
static int store_check_name(const char *digest, struct error *err)
{
	if (!hash_is_valid_hex(digest))
		return error_set(err, EXIT_FAILED, "'%s' is not an object name", digest);
	return 0;
}

char *store_object_path(const struct state *st, const char *digest)
{
	return xstrfmt("%s/%.2s/%s", st->objects_dir, digest, digest + 2);
}

int store_has(const struct state *st, const char *digest)
{
	if (!hash_is_valid_hex(digest))
		return 0;
	char *path = store_object_path(st, digest);
	struct stat sb;
	int found = lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
	free(path);
	return found;
}

/*
 * Read in_fd to its end, hashing every byte and handing it on to out_fd
 * (when >= 0) and to sb (when non-NULL). Every way an object is read or
 * written goes through here, so every copy is also a verification.
 */
static int store_stream(int in_fd, const char *in_name, int out_fd, const char *out_name,
			struct strbuf *sb, char digest[HASH_HEX_SIZE], long long *size,
			struct error *err)
{
	char buf[STORE_CHUNK];
	struct hasher h;
	long long total = 0;

	hasher_init(&h);
	for (;;) {
		ssize_t n = read(in_fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			error_errno(err, EXIT_FAILED, errno, "cannot read '%s'", in_name);
			goto fail;
		}
		if (n == 0)
			break;
		hasher_update(&h, buf, (size_t)n);
		if (out_fd >= 0 && fs_write_all(out_fd, buf, (size_t)n) < 0) {
			error_errno(err, EXIT_FAILED, errno, "cannot write '%s'", out_name);
			goto fail;
		}
		if (sb)
			strbuf_add(sb, buf, (size_t)n);
		total += n;
	}
	hasher_final(&h, digest);
	if (size)
		*size = total;
	return 0;
fail:
	hasher_final(&h, digest);   /* releases the context */
	return -1;
}

static int store_corrupt_error(const char *digest, const char *got, struct error *err)
{
	return error_set(err, EXIT_FAILED, "object '%.12s' is corrupt (expected %.12s, got %.12s)",
			 digest, digest, got);
}

/* Open an object for reading; a missing one gets the message fsck and
 * switch rely on, and *missing (when given) says so. */
static int store_open_object(const struct state *st, const char *digest, char **path,
			     int *missing, struct error *err)
{
	if (missing)
		*missing = 0;
	if (store_check_name(digest, err) < 0)
		return -1;
	*path = store_object_path(st, digest);
	int fd = open(*path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT) {
		if (missing)
			*missing = 1;
		error_set(err, EXIT_FAILED, "object '%.12s' is missing from the store", digest);
	} else
		error_errno(err, EXIT_FAILED, errno, "cannot open object '%s'", *path);
	free(*path);
	*path = NULL;
	return -1;
}

static int store_temp_open(struct state *st, struct store_temp *t, struct error *err)
{
	for (;;) {
		t->path = xstrfmt("%s/obj.%ld.%lu", st->tmp_dir, (long)getpid(),
				  store_temp_counter++);
		t->fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (t->fd >= 0)
			return 0;
		int e = errno;
		if (e != EEXIST) {
			error_errno(err, EXIT_FAILED, e, "cannot create temporary object '%s'", t->path);
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

/* 1 when the object is in place with the expected size. A size mismatch
 * can only be damage, and putting the content again repairs it. */
static int store_present(const struct state *st, const char *digest, long long size)
{
	char *object = store_object_path(st, digest);
	struct stat sb;
	int present = lstat(object, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size;
	free(object);
	return present;
}

/*
 * Seal a written temporary object and move it to its name. An object
 * already present at the right size is kept and the temporary dropped
 * (dedupe); one of the wrong size is damaged and is replaced. Takes
 * ownership of t either way.
 */
static int store_install(struct state *st, struct store_temp *t, const char *digest,
			 long long size, int *added, struct error *err)
{
	char *object = NULL, *dir = NULL;

	if (fchmod(t->fd, 0444) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot make '%s' read-only", t->path);
		goto fail;
	}
	if (fs_fsync_fd(t->fd, t->path, err) < 0)
		goto fail;
	if (close(t->fd) < 0) {
		t->fd = -1;
		error_errno(err, EXIT_FAILED, errno, "cannot close '%s'", t->path);
		goto fail;
	}
	t->fd = -1;

	if (store_present(st, digest, size)) {
		store_temp_discard(t);
		*added = 0;
		return 0;
	}
	object = store_object_path(st, digest);
	dir = path_dirname(object);
	int new_dir = mkdir(dir, 0700) == 0;
	if (!new_dir && errno != EEXIST) {
		error_errno(err, EXIT_FAILED, errno, "cannot create store folder '%s'", dir);
		goto fail;
	}
	if (rename(t->path, object) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot rename '%s' to '%s'", t->path, object);
		goto fail;
	}
	free(t->path);
	t->path = NULL;
	if (fs_fsync_dir(dir, err) < 0)
		goto fail;
	if (new_dir && fs_fsync_dir(st->objects_dir, err) < 0)
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

int store_put_fd(struct state *st, int fd, const char *what,
		 char digest[HASH_HEX_SIZE], int *added, long long *size,
		 struct error *err)
{
	struct store_temp t;
	long long total;

	if (store_temp_open(st, &t, err) < 0)
		return -1;
	if (store_stream(fd, what, t.fd, t.path, NULL, digest, &total, err) < 0) {
		store_temp_discard(&t);
		return -1;
	}
	if (store_install(st, &t, digest, total, added, err) < 0)
		return -1;
	if (size)
		*size = total;
	return 0;
}

int store_put_buffer(struct state *st, const void *data, size_t len,
		     char digest[HASH_HEX_SIZE], int *added, struct error *err)
{
	struct store_temp t;

	/* The bytes are at hand, so hashing first spares the write when the
	 * object exists (manifests of unchanged releases). */
	hash_buffer(data, len, digest);
	if (store_present(st, digest, (long long)len)) {
		*added = 0;
		return 0;
	}
	if (store_temp_open(st, &t, err) < 0)
		return -1;
	if (fs_write_all(t.fd, data, len) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot write '%s'", t.path);
		store_temp_discard(&t);
		return -1;
	}
	return store_install(st, &t, digest, (long long)len, added, err);
}

int store_read(struct state *st, const char *digest, struct strbuf *sb, struct error *err)
{
	char got[HASH_HEX_SIZE], *path;
	size_t old_len = sb->len;

	int fd = store_open_object(st, digest, &path, NULL, err);
	if (fd < 0)
		return -1;
	int rc = store_stream(fd, path, -1, NULL, sb, got, NULL, err);
	close(fd);
	free(path);
	if (rc == 0 && strcmp(got, digest))
		rc = store_corrupt_error(digest, got, err);
	if (rc < 0)
		strbuf_setlen(sb, old_len);
	return rc;
}

int store_materialize(struct state *st, const char *digest, const char *path,
		      mode_t mode, struct error *err)
{
	char got[HASH_HEX_SIZE], *object;

	int in = store_open_object(st, digest, &object, NULL, err);
	if (in < 0)
		return -1;
	/* Private while it is written; the real mode is set once the content
	 * is known to be right, and exactly (no umask). */
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot create '%s'", path);
		close(in);
		free(object);
		return -1;
	}
	int rc = store_stream(in, object, out, path, NULL, got, NULL, err);
	close(in);
	free(object);
	if (rc == 0 && strcmp(got, digest))
		rc = store_corrupt_error(digest, got, err);
	if (rc == 0 && fchmod(out, mode) < 0)
		rc = error_errno(err, EXIT_FAILED, errno, "cannot set mode of '%s'", path);
	if (rc == 0)
		rc = fs_fsync_fd(out, path, err);
	if (close(out) < 0 && rc == 0)
		rc = error_errno(err, EXIT_FAILED, errno, "cannot close '%s'", path);
	if (rc < 0)
		unlink(path);
	return rc;
}

enum store_damage store_check(struct state *st, const char *digest, struct error *err)
{
	char got[HASH_HEX_SIZE], *path;
	struct stat sb;

	int missing;
	int fd = store_open_object(st, digest, &path, &missing, err);
	if (fd < 0)
		return missing ? STORE_MISSING : STORE_CORRUPT;
	int rc;
	if (fstat(fd, &sb) < 0)
		rc = error_errno(err, EXIT_FAILED, errno, "cannot inspect object '%s'", path);
	else if (!S_ISREG(sb.st_mode))
		rc = error_set(err, EXIT_FAILED, "object '%.12s' is corrupt (not a regular file)", digest);
	else
		rc = store_stream(fd, path, -1, NULL, NULL, got, NULL, err);
	close(fd);
	free(path);
	if (rc == 0 && strcmp(got, digest))
		rc = store_corrupt_error(digest, got, err);
	return rc < 0 ? STORE_CORRUPT : STORE_INTACT;
}

int store_verify(struct state *st, const char *digest, struct error *err)
{
	return store_check(st, digest, err) == STORE_INTACT ? 0 : -1;
}

int store_clean_tmp(struct state *st, struct error *err)
{
	DIR *d = opendir(st->tmp_dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return error_errno(err, EXIT_FAILED, errno, "cannot open folder '%s'", st->tmp_dir);
	}
	int rc = 0;
	struct dirent *de;
	/* Only the lock holder writes to tmp/, and the caller holds the lock:
	 * whatever is there (objects half written, unpacked sources) was left
	 * by a process that died. */
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *p = path_join(st->tmp_dir, de->d_name);
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
int store_for_each(struct state *st,
		   int (*fn)(const char *digest, const char *path, void *ctx),
		   void *ctx, struct error *err)
{
	struct dirent **fanout;
	int nfanout = scandir(st->objects_dir, &fanout, store_fanout_filter, store_name_order);
	if (nfanout < 0) {
		if (errno == ENOENT)
			return 0;
		return error_errno(err, EXIT_FAILED, errno, "cannot list folder '%s'", st->objects_dir);
	}
	int rc = 0;
	for (int i = 0; i < nfanout && !rc; i++) {
		char *dir = path_join(st->objects_dir, fanout[i]->d_name);
		struct dirent **names;
		int n = scandir(dir, &names, store_object_filter, store_name_order);
		if (n < 0) {
			rc = error_errno(err, EXIT_FAILED, errno, "cannot list folder '%s'", dir);
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

int store_remove(struct state *st, const char *digest, struct error *err)
{
	if (store_check_name(digest, err) < 0)
		return -1;
	char *path = store_object_path(st, digest);
	int rc = 0;
	if (unlink(path) < 0 && errno != ENOENT)
		rc = error_errno(err, EXIT_FAILED, errno, "cannot remove object '%s'", path);
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
