/*
 * Mount points, as a switch must see them: renaming a folder moves every
 * mount below it along, and a mount point itself cannot be renamed, so a
 * `files` entry may neither be nor hold one.
 *
 * mounts_stat_at is lstat through a folder descriptor, that also says
 * whether the node is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT,
 * which sees a bind mount of the same file system, where st_dev does
 * not), at the cost of one statx(2): what a capture calls for every node
 * anyway. mounts_read lists this process's mount points from
 * /proc/self/mountinfo, for a check that does not walk the trees.
 */
#ifndef LG_MOUNTS_H
#define LG_MOUNTS_H

#include <stddef.h>
#include <sys/stat.h>

struct error;

/* lstat of name in dir_fd into *sb; *mount_root is 1 when the node is the
 * root of a mount (as far as the kernel can tell: from Linux 5.8). -1 with
 * errno on failure. */
int mounts_stat_at(int dir_fd, const char *name, struct stat *sb, int *mount_root);

struct mount_points {
	char **paths;            /* as mountinfo gives them (absolute, unescaped) */
	size_t n;
	size_t alloc;
};

int mounts_read(struct mount_points *mounts, struct error *err);
void mounts_free(struct mount_points *mounts);

#endif
