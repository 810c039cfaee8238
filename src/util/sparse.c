/*
 * A copy that keeps holes: data ranges found with SEEK_DATA/SEEK_HOLE,
 * copied in the kernel where it can, then the size set. See sparse.h.
 */
#include "util/sparse.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPARSE_BUFFER 65536

/* [at, at + len) of in_fd to the same offsets of out_fd, through a buffer:
 * for file systems and kernels copy_file_range does not serve. */
static int sparse_copy_buffered(int in_fd, int out_fd, off_t at, off_t len, const char *what,
				struct error *err)
{
	char buf[SPARSE_BUFFER];
	while (len > 0) {
		ssize_t n = pread(in_fd, buf, len < SPARSE_BUFFER ? (size_t)len : SPARSE_BUFFER, at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(err, ERROR_FAILED, errno, "cannot read '%s'", what);
		if (n == 0)
			return 0;   /* it shrank: the caller's stat check tells */
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(out_fd, buf + done, (size_t)(n - done), at + done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return error_errno(err, ERROR_FAILED, errno, "cannot write copy of '%s'",
						   what);
			done += w;
		}
		at += n;
		len -= n;
	}
	return 0;
}

/* One data range, in the kernel when it can (no bytes through us). */
static int sparse_copy_range(int in_fd, int out_fd, off_t at, off_t len, const char *what,
			     struct error *err)
{
	off_t in_at = at, out_at = at;
	while (len > 0) {
		ssize_t n = copy_file_range(in_fd, &in_at, out_fd, &out_at, (size_t)len, 0);
		if (n > 0) {
			len -= n;
			continue;
		}
		if (n == 0)
			return 0;   /* it shrank */
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
		    errno != EBADF)
			return error_errno(err, ERROR_FAILED, errno, "cannot copy '%s'", what);
		return sparse_copy_buffered(in_fd, out_fd, in_at, len, what, err);
	}
	return 0;
}

int sparse_copy(int in_fd, int out_fd, const char *what, struct error *err)
{
	struct stat sb;
	if (fstat(in_fd, &sb) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot inspect '%s'", what);
	off_t end = sb.st_size;
	for (off_t at = 0; at < end;) {
		off_t data = lseek(in_fd, at, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			break;   /* a hole to the end */
		if (data < 0 && errno != EINVAL && errno != EOPNOTSUPP)
			return error_errno(err, ERROR_FAILED, errno, "cannot read '%s'", what);
		if (data < 0) {
			data = at;   /* holes not reported: all of it is data */
			hole = end;
		} else if ((hole = lseek(in_fd, data, SEEK_HOLE)) < 0) {
			return error_errno(err, ERROR_FAILED, errno, "cannot read '%s'", what);
		}
		if (data >= end)
			break;
		if (hole > end)
			hole = end;
		if (sparse_copy_range(in_fd, out_fd, data, hole - data, what, err) < 0)
			return -1;
		at = hole;
	}
	if (end > 0 && ftruncate(out_fd, end) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot write copy of '%s'", what);
	return 0;
}
