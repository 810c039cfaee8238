/*
 * A recorded node's content and metadata put back on staged files,
 * folders and links through descriptors, in the order nodemeta.h gives.
 */
#include "core/nodemeta.h"
#include "core/manifest.h"
#include "util/error.h"
#include "util/xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Without root, a file can only be ours: a chown to ourselves that the
 * group refuses is let be, as `cp -p` does. */
static int node_owner_refused(const struct manifest_node *node, int e)
{
	return !(e == EPERM && node->uid == geteuid());
}

static int node_known(const struct manifest_node *node)
{
	return node->mtime_nsec != MTIME_UNKNOWN;
}

static int node_mtime_error(const char *what, struct error *err)
{
	return error_errno(err, ERROR_FAILED, errno, "cannot set mtime of '%s'", what);
}

/* The mtime as utimensat wants it; the atime is left alone. */
static void node_times(const struct manifest_node *node, struct timespec times[2])
{
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_OMIT;
	times[1].tv_sec = (time_t)node->mtime_sec;
	times[1].tv_nsec = node->mtime_nsec;
}

int node_meta_apply_fd(int fd, const struct manifest_node *node, const char *what,
		       struct error *err)
{
	if (fchown(fd, node->uid, node->gid) < 0 && node_owner_refused(node, errno))
		return error_errno(err, ERROR_FAILED, errno, "cannot set owner %ld:%ld of '%s'",
				   (long)node->uid, (long)node->gid, what);
	if (fchmod(fd, node->mode) < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot set mode %04o of '%s'",
				   (unsigned)node->mode, what);
	if (!node_known(node))
		return 0;
	if (xattr_apply_fd(fd, node->xattrs, what, err) < 0)
		return -1;
	struct timespec times[2];
	node_times(node, times);
	if (futimens(fd, times) < 0)
		return node_mtime_error(what, err);
	return 0;
}

int node_meta_apply_link(int dir_fd, const char *name, const struct manifest_node *node,
			 const char *what, struct error *err)
{
	if (fchownat(dir_fd, name, node->uid, node->gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    node_owner_refused(node, errno))
		return error_errno(err, ERROR_FAILED, errno, "cannot set owner %ld:%ld of '%s'",
				   (long)node->uid, (long)node->gid, what);
	if (!node_known(node))
		return 0;
	if (xattr_apply_link(dir_fd, name, node->xattrs, what, err) < 0)
		return -1;
	struct timespec times[2];
	node_times(node, times);
	if (utimensat(dir_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return node_mtime_error(what, err);
	return 0;
}
