/*
 * Durable file operations: atomic replace, folder fsync, tree removal and
 * the path helpers the rest of lastgood builds on.
 */
#include "util/fs.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_fsync_fd(int fd, const char *what, struct error *err)
{
	if (fsync(fd) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot fsync '%s'", what);
	return 0;
}

int fs_syncfs(int fd, const char *what, struct error *err)
{
	if (syncfs(fd) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot sync the file system of '%s'", what);
	return 0;
}

int fs_fsync_dir(const char *dir, struct error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot open folder '%s'", dir);
	int rc = fs_fsync_fd(fd, dir, err);
	close(fd);
	return rc;
}

int fs_fsync_parent(const char *path, struct error *err)
{
	char *dir = path_dirname(path);
	int rc = fs_fsync_dir(dir, err);
	free(dir);
	return rc;
}

/* Create the temporary fs_replace_at writes: the first free name of
 * ".NAME.lastgood-PID-N" below dir_fd (one a crashed process with our pid
 * left is not ours to remove, so the next N is taken). *temp gets it. */
static int replace_temp_open(int dir_fd, const char *name, mode_t mode, char **temp)
{
	for (unsigned long n = 0;; n++) {
		*temp = xstrfmt(".%s.lastgood-%ld-%lu", name, (long)getpid(), n);
		int fd = openat(dir_fd, *temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				mode);
		if (fd >= 0 || errno != EEXIST)
			return fd;
		free(*temp);
	}
}

/* Write, own, mode and fsync the temporary open at fd (steps of
 * fs_replace_at, which names the file path in messages). */
static int replace_temp_fill(int fd, const char *path, const void *data, size_t len,
			     const struct fs_replace *how, struct error *err)
{
	if (fs_write_all(fd, data, len) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot write '%s'", path);
	if ((how->uid != (uid_t)-1 || how->gid != (gid_t)-1) && fchown(fd, how->uid, how->gid) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot set the owner of '%s'", path);
	/* after fchown, which may clear the set-user-ID and set-group-ID bits */
	if (!(how->flags & FS_REPLACE_UMASK) && fchmod(fd, how->mode) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot set mode %04o of '%s'",
				   (unsigned)how->mode, path);
	return fs_fsync_fd(fd, path, err);
}

static int replace_exists_error(const char *path, struct error *err)
{
	return error_set(err, ERROR_USAGE, "'%s' already exists; not overwriting", path);
}

int fs_replace_at(int dir_fd, const char *name, const char *path, const void *data, size_t len,
		  const struct fs_replace *how, struct error *err)
{
	int exclusive = how->flags & FS_REPLACE_EXCLUSIVE;
	struct stat sb;
	char *temp;

	/* An empty name is what a path ending in '/' leaves: a folder's, as
	 * open(2) would say. */
	if (!*name)
		return error_errno(err, ERROR_FAILED, EISDIR, "cannot create '%s'", path);
	/* Refused before anything is written; the rename below still
	 * refuses a name that appears meanwhile. */
	if (exclusive && fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return replace_exists_error(path, err);
	int fd = replace_temp_open(dir_fd, name, how->flags & FS_REPLACE_UMASK ? how->mode : 0600,
				   &temp);
	if (fd < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot create '%s'", path);
		free(temp);
		return -1;
	}
	int rc = replace_temp_fill(fd, path, data, len, how, err);
	if (close(fd) < 0 && rc == 0)
		rc = error_errno(err, ERROR_FAILED, errno, "cannot close '%s'", path);
	if (rc == 0 && (exclusive ? renameat2(dir_fd, temp, dir_fd, name, RENAME_NOREPLACE)
				  : renameat(dir_fd, temp, dir_fd, name)) < 0)
		rc = exclusive && errno == EEXIST
			     ? replace_exists_error(path, err)
			     : error_errno(err, ERROR_FAILED, errno, "cannot put '%s' in place", path);
	if (rc < 0) {
		unlinkat(dir_fd, temp, 0);
		free(temp);
		return -1;
	}
	free(temp);
	char *dir = path_dirname(path);
	rc = fs_fsync_fd(dir_fd, dir, err);
	free(dir);
	return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct error *err)
{
	const struct fs_replace how = { .mode = mode, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	char *dir = path_dirname(path);
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = dir_fd < 0 ? error_errno(err, ERROR_FAILED, errno, "cannot open folder '%s'", dir)
			    : fs_replace_at(dir_fd, path_basename(path), path, data, len, &how, err);
	if (dir_fd >= 0)
		close(dir_fd);
	free(dir);
	return rc;
}

int fs_read_file(const char *path, struct strbuf *sb, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot open '%s'", path);
	for (;;) {
		strbuf_grow(sb, 65536);
		ssize_t n = read(fd, sb->buf + sb->len, sb->alloc - sb->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return error_errno(err, ERROR_FAILED, e, "cannot read '%s'", path);
		}
		if (n == 0)
			break;
		strbuf_setlen(sb, sb->len + (size_t)n);
	}
	close(fd);
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode, struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, path);
	for (size_t i = 1; i <= sb.len; i++) {
		if (sb.buf[i] != '/' && sb.buf[i] != '\0')
			continue;
		char saved = sb.buf[i];
		sb.buf[i] = '\0';
		if (mkdir(sb.buf, mode) < 0 && errno != EEXIST) {
			error_errno(err, ERROR_FAILED, errno, "cannot create folder '%s'", sb.buf);
			strbuf_release(&sb);
			return -1;
		}
		sb.buf[i] = saved;
	}
	strbuf_release(&sb);
	return 0;
}

/* Remove everything inside the folder open at fd, then close it. Folders
 * are opened below it without following links, and opened up (through
 * the descriptor) when their mode keeps their owner out: a release may
 * hold read-only folders. what names the folder in messages. */
static int remove_contents(int fd, const char *what, struct error *err)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return error_errno(err, ERROR_FAILED, e, "cannot read folder '%s'", what);
	}
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *child = path_join(what, de->d_name);
		rc = fs_remove_at(dirfd(d), de->d_name, child, err);
		free(child);
		errno = 0;
	}
	if (rc == 0 && errno)
		rc = error_errno(err, ERROR_FAILED, errno, "cannot read folder '%s'", what);
	closedir(d);
	return rc;
}

int fs_remove_at(int dir_fd, const char *name, const char *what, struct error *err)
{
	if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return error_errno(err, ERROR_FAILED, errno, "cannot remove '%s'", what);
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot open folder '%s'", what);
	struct stat sb, parent;
	if (fstat(fd, &sb) < 0 || fstatat(dir_fd, "", &parent, AT_EMPTY_PATH) < 0) {
		int e = errno;
		close(fd);
		return error_errno(err, ERROR_FAILED, e, "cannot inspect folder '%s'", what);
	}
	/* Another file system mounted below: its content is not ours to
	 * remove (as nftw's FTW_MOUNT kept a removal on one file system). */
	if (sb.st_dev != parent.st_dev) {
		close(fd);
		return error_set(err, ERROR_FAILED, "refusing to remove '%s': another file system "
				 "is mounted there", what);
	}
	if ((sb.st_mode & 0700) != 0700 && fchmod(fd, (sb.st_mode & 07777) | 0700) < 0) {
		int e = errno;
		close(fd);
		return error_errno(err, ERROR_FAILED, e, "cannot open up folder '%s'", what);
	}
	if (remove_contents(fd, what, err) < 0)
		return -1;
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return error_errno(err, ERROR_FAILED, errno, "cannot remove folder '%s'", what);
	return 0;
}

int fs_remove_tree(const char *path, struct error *err)
{
	char *dir = path_dirname(path);
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;
	if (dir_fd < 0)
		rc = errno == ENOENT ? 0 : error_errno(err, ERROR_FAILED, errno,
						      "cannot open folder '%s'", dir);
	else
		rc = fs_remove_at(dir_fd, path_basename(path), path, err);
	if (dir_fd >= 0)
		close(dir_fd);
	free(dir);
	return rc;
}

int fs_dir_trusted(int fd, const char *path, struct error *err)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot inspect folder '%s'", path);
	if (geteuid() != 0)
		return 0;
	if (sb.st_uid != 0)
		return error_set(err, ERROR_USAGE, "refusing folder '%s' on the way to live files: "
				 "owned by uid %ld, who could replace what lastgood writes there "
				 "as root", path, (long)sb.st_uid);
	if ((sb.st_mode & S_IWOTH || (sb.st_mode & S_IWGRP && sb.st_gid != 0)) &&
	    !(sb.st_mode & S_ISVTX))
		return error_set(err, ERROR_USAGE, "refusing folder '%s' on the way to live files: "
				 "writable by %s (mode %04o), who could replace what lastgood "
				 "writes there as root", path,
				 sb.st_mode & S_IWOTH ? "every user" : "its group",
				 (unsigned)(sb.st_mode & 07777));
	return 0;
}

/* Open one component below dir_fd as a folder, never through a link; a
 * link found there is refused by name. Returns 1 when it does not exist
 * and create is not set. */
static int open_component(int dir_fd, const char *name, const char *path, int create,
			  int *fd, struct error *err)
{
	for (int tries = 0; ; tries++) {
		*fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*fd >= 0)
			return 0;
		int e = errno;
		struct stat sb;
		if ((e == ELOOP || e == ENOTDIR) &&
		    fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
			return error_set(err, ERROR_USAGE, "refusing '%s' on the way to live files: "
					 "it is a symbolic link", path);
		if (e == ENOENT && !create)
			return 1;
		if (e != ENOENT || tries > 0)
			return error_errno(err, ERROR_FAILED, e, "cannot open folder '%s'", path);
		if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
			return error_errno(err, ERROR_FAILED, errno, "cannot create folder '%s'", path);
	}
}

int fs_open_parent(const char *path, int flags, int *dir_fd, int *missing, struct error *err)
{
	struct strbuf walked = STRBUF_INIT;
	const char *p = path;
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*dir_fd = -1;
	if (missing)
		*missing = 0;
	if (fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot open folder '/'");
	if (path[0] != '/') {
		close(fd);
		return error_set(err, ERROR_FAILED, "internal error: '%s' is not an absolute path",
				 path);
	}
	if (fs_dir_trusted(fd, "/", err) < 0)
		goto fail;
	for (;;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		if (!*end)
			break;   /* p is the last component: fd is its folder */
		char *name = xstrndup(p, (size_t)(end - p));
		int next;
		strbuf_addch(&walked, '/');
		strbuf_addstr(&walked, name);
		int rc = open_component(fd, name, walked.buf, flags & FS_OPEN_CREATE, &next, err);
		free(name);
		if (rc > 0 && missing) {
			*missing = 1;
			close(fd);
			strbuf_release(&walked);
			return 0;
		}
		if (rc > 0)
			error_errno(err, ERROR_FAILED, ENOENT, "cannot open folder '%s'", walked.buf);
		if (rc != 0)
			goto fail;
		close(fd);
		fd = next;
		if (fs_dir_trusted(fd, walked.buf, err) < 0)
			goto fail;
		p = end;
	}
	strbuf_release(&walked);
	*dir_fd = fd;
	return 0;
fail:
	close(fd);
	strbuf_release(&walked);
	return -1;
}

char *path_join(const char *a, const char *b)
{
	if (!*a)
		return xstrdup(b);
	/* by hand, not xstrfmt: a capture joins a name per file it sees */
	size_t la = strlen(a), lb = strlen(b), slash = a[la - 1] != '/';
	char *p = xmalloc(la + slash + lb + 1);
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + slash, b, lb + 1);
	return p;
}

char *path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

const char *path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

char *path_absolute(const char *base, const char *path)
{
	struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
	if (path[0] != '/')
		strbuf_addf(&in, "%s/", base);
	strbuf_addstr(&in, path);

	/* Collapse "//" and "/./"; ".." is kept as written (never resolved
	 * lexically, since a symlink may stand in between). */
	const char *p = in.buf;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0)
			break;
		if (!(n == 1 && p[0] == '.')) {
			strbuf_addch(&out, '/');
			strbuf_add(&out, p, n);
		}
		p = end;
	}
	if (!out.len)
		strbuf_addch(&out, '/');
	strbuf_release(&in);
	return strbuf_detach(&out);
}

int path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}
