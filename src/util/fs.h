/*
 * File-system helpers with durable, atomic semantics.
 *
 * The rule everywhere in lastgood: a file that matters is never written in
 * place. fs_write_atomic creates a sibling with O_EXCL, writes, fsyncs,
 * renames over the target and fsyncs the folder, so after a crash the
 * target holds either its old or its new content. Every failure names the
 * step and the path in err.
 *
 * Paths passed here are plain strings; nothing is ever handed to a shell.
 */
#ifndef LG_FS_H
#define LG_FS_H

#include <stddef.h>
#include <sys/types.h>

struct error;
struct strbuf;

/* Replace path with data[0..len) atomically and durably, with mode. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct error *err);
/* Read a whole file into sb (appending). */
int fs_read_file(const char *path, struct strbuf *sb, struct error *err);
/* fsync the folder that holds path (or path itself when it is a folder). */
int fs_fsync_parent(const char *path, struct error *err);
int fs_fsync_dir(const char *dir, struct error *err);
/* fsync an open descriptor; an fsync failure is final, never retried. */
int fs_fsync_fd(int fd, const char *what, struct error *err);
/* From this many files written together on, one syncfs(2) of their file
 * system costs less than an fsync each. */
#define FS_SYNCFS_MIN 16
/* syncfs(2) the file system fd is on. It reports the write-back errors
 * since fd was opened, so fd must be opened before the writes it is to
 * make durable; what names the place in the message. Final, like fsync. */
int fs_syncfs(int fd, const char *what, struct error *err);
/* mkdir -p with mode for the folders it creates. */
int fs_mkdir_p(const char *path, mode_t mode, struct error *err);
/* rm -rf that never follows symbolic links; a missing path is success. */
int fs_remove_tree(const char *path, struct error *err);
/* Write all of buf to fd, retrying short writes and EINTR. */
int fs_write_all(int fd, const void *buf, size_t len);
/* Copy all bytes from in_fd to out_fd (copy_file_range, then read/write). */
int fs_copy_fd(int in_fd, int out_fd, const char *what, struct error *err);

/* Path helpers: results are freshly allocated. */
char *path_join(const char *a, const char *b);
char *path_dirname(const char *path);
const char *path_basename(const char *path);
/* Make path absolute against base (when relative) and drop "." and "//". */
char *path_absolute(const char *base, const char *path);
/* 1 when path exists (lstat succeeds). */
int path_exists(const char *path);

#endif
