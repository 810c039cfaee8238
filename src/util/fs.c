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
		return error_errno(err, EXIT_FAILED, errno, "cannot fsync '%s'", what);
	return 0;
}

int fs_syncfs(int fd, const char *what, struct error *err)
{
	if (syncfs(fd) < 0)
		return error_errno(err, EXIT_FAILED, errno, "cannot sync the file system of '%s'", what);
	return 0;
}

int fs_fsync_dir(const char *dir, struct error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, EXIT_FAILED, errno, "cannot open folder '%s'", dir);
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

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct error *err)
{
	char *tmp = xstrfmt("%s.lastgood-tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST) {
		unlink(tmp);   /* left by a crashed process with our pid */
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	}
	if (fd < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot create '%s'", tmp);
		free(tmp);
		return -1;
	}
	if (fs_write_all(fd, data, len) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot write '%s'", tmp);
		goto fail;
	}
	if (fchmod(fd, mode) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot set mode of '%s'", tmp);
		goto fail;
	}
	if (fs_fsync_fd(fd, tmp, err) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		error_errno(err, EXIT_FAILED, errno, "cannot close '%s'", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot rename '%s' to '%s'", tmp, path);
		goto fail;
	}
	free(tmp);
	return fs_fsync_parent(path, err);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

int fs_read_file(const char *path, struct strbuf *sb, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, EXIT_FAILED, errno, "cannot open '%s'", path);
	for (;;) {
		strbuf_grow(sb, 65536);
		ssize_t n = read(fd, sb->buf + sb->len, sb->alloc - sb->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return error_errno(err, EXIT_FAILED, e, "cannot read '%s'", path);
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
			error_errno(err, EXIT_FAILED, errno, "cannot create folder '%s'", sb.buf);
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
		return error_errno(err, EXIT_FAILED, e, "cannot read folder '%s'", what);
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
		rc = error_errno(err, EXIT_FAILED, errno, "cannot read folder '%s'", what);
	closedir(d);
	return rc;
}

int fs_remove_at(int dir_fd, const char *name, const char *what, struct error *err)
{
	if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return error_errno(err, EXIT_FAILED, errno, "cannot remove '%s'", what);
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, EXIT_FAILED, errno, "cannot open folder '%s'", what);
	struct stat sb, parent;
	if (fstat(fd, &sb) < 0 || fstatat(dir_fd, "", &parent, AT_EMPTY_PATH) < 0) {
		int e = errno;
		close(fd);
		return error_errno(err, EXIT_FAILED, e, "cannot inspect folder '%s'", what);
	}
	/* Another file system mounted below: its content is not ours to
	 * remove (as nftw's FTW_MOUNT kept a removal on one file system). */
	if (sb.st_dev != parent.st_dev) {
		close(fd);
		return error_set(err, EXIT_FAILED, "refusing to remove '%s': another file system "
				 "is mounted there", what);
	}
	if ((sb.st_mode & 0700) != 0700 && fchmod(fd, (sb.st_mode & 07777) | 0700) < 0) {
		int e = errno;
		close(fd);
		return error_errno(err, EXIT_FAILED, e, "cannot open up folder '%s'", what);
	}
	if (remove_contents(fd, what, err) < 0)
		return -1;
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return error_errno(err, EXIT_FAILED, errno, "cannot remove folder '%s'", what);
	return 0;
}

int fs_remove_tree(const char *path, struct error *err)
{
	char *dir = path_dirname(path);
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;
	if (dir_fd < 0)
		rc = errno == ENOENT ? 0 : error_errno(err, EXIT_FAILED, errno,
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
		return error_errno(err, EXIT_FAILED, errno, "cannot inspect folder '%s'", path);
	if (geteuid() != 0)
		return 0;
	if (sb.st_uid != 0)
		return error_set(err, EXIT_USAGE, "refusing folder '%s' on the way to live files: "
				 "owned by uid %ld, who could replace what lastgood writes there "
				 "as root", path, (long)sb.st_uid);
	if ((sb.st_mode & S_IWOTH || (sb.st_mode & S_IWGRP && sb.st_gid != 0)) &&
	    !(sb.st_mode & S_ISVTX))
		return error_set(err, EXIT_USAGE, "refusing folder '%s' on the way to live files: "
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
			return error_set(err, EXIT_USAGE, "refusing '%s' on the way to live files: "
					 "it is a symbolic link", path);
		if (e == ENOENT && !create)
			return 1;
		if (e != ENOENT || tries > 0)
			return error_errno(err, EXIT_FAILED, e, "cannot open folder '%s'", path);
		if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
			return error_errno(err, EXIT_FAILED, errno, "cannot create folder '%s'", path);
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
		return error_errno(err, EXIT_FAILED, errno, "cannot open folder '/'");
	if (path[0] != '/') {
		close(fd);
		return error_set(err, EXIT_FAILED, "internal error: '%s' is not an absolute path",
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
			error_errno(err, EXIT_FAILED, ENOENT, "cannot open folder '%s'", walked.buf);
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
