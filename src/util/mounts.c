/*
 * Mount points: statx's mount-root attribute for one node, and the list of
 * this process's mounts from /proc/self/mountinfo. See mounts.h.
 */
#include "util/mounts.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#define MOUNTINFO "/proc/self/mountinfo"

int mounts_stat_at(int dir_fd, const char *name, struct stat *sb, int *mount_root)
{
	struct statx stx;
	if (statx(dir_fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &stx) < 0)
		return -1;
	memset(sb, 0, sizeof(*sb));
	sb->st_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	sb->st_ino = stx.stx_ino;
	sb->st_mode = stx.stx_mode;
	sb->st_nlink = stx.stx_nlink;
	sb->st_uid = stx.stx_uid;
	sb->st_gid = stx.stx_gid;
	sb->st_rdev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
	sb->st_size = (off_t)stx.stx_size;
	sb->st_blksize = stx.stx_blksize;
	sb->st_blocks = (blkcnt_t)stx.stx_blocks;
	sb->st_atim.tv_sec = stx.stx_atime.tv_sec;
	sb->st_atim.tv_nsec = stx.stx_atime.tv_nsec;
	sb->st_mtim.tv_sec = stx.stx_mtime.tv_sec;
	sb->st_mtim.tv_nsec = stx.stx_mtime.tv_nsec;
	sb->st_ctim.tv_sec = stx.stx_ctime.tv_sec;
	sb->st_ctim.tv_nsec = stx.stx_ctime.tv_nsec;
	*mount_root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
		      (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	return 0;
}

/* A mount point as mountinfo writes it: space, tab, newline and backslash
 * as three octal digits after a backslash. */
static char *mounts_unescape(const char *s, size_t len)
{
	struct strbuf out = STRBUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			strbuf_addch(&out, (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 +
						  (s[i + 3] - '0')));
			i += 3;
		} else {
			strbuf_addch(&out, s[i]);
		}
	}
	return strbuf_detach(&out);
}

int mounts_read(struct mount_points *mounts, struct error *err)
{
	struct strbuf text = STRBUF_INIT;

	memset(mounts, 0, sizeof(*mounts));
	if (fs_read_file(MOUNTINFO, &text, err) < 0) {
		strbuf_release(&text);
		return -1;
	}
	/* "ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS ...": the fifth field */
	for (const char *line = text.buf; *line;) {
		const char *end = strchrnul(line, '\n'), *field = line;
		for (int i = 0; i < 4 && field < end; i++) {
			const char *space = memchr(field, ' ', (size_t)(end - field));
			field = space ? space + 1 : end;
		}
		const char *stop = memchr(field, ' ', (size_t)(end - field));
		if (field < end && stop) {
			ALLOC_GROW(mounts->paths, mounts->n + 1, mounts->alloc);
			mounts->paths[mounts->n++] = mounts_unescape(field, (size_t)(stop - field));
		}
		line = *end ? end + 1 : end;
	}
	strbuf_release(&text);
	return 0;
}

void mounts_free(struct mount_points *mounts)
{
	for (size_t i = 0; i < mounts->n; i++)
		free(mounts->paths[i]);
	free(mounts->paths);
	memset(mounts, 0, sizeof(*mounts));
}
