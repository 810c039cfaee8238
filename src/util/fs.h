/*
 * File-system helpers with durable, atomic semantics.
 *
 * The rule everywhere in lastgood: a file that matters is never written in
 * place. fs_replace_at creates a sibling with O_EXCL, writes, fsyncs,
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

/*
 * Atomic file replace, the one way lastgood writes a whole file that
 * matters. fs_replace_at puts data[0..len) at name below the folder open
 * at dir_fd (reached through that descriptor only, so a caller that opened
 * it with fs_open_parent knows where the file lands):
 *
 *   1. a temporary ".NAME.lastgood-PID-N" is created beside it with O_EXCL
 *      and O_NOFOLLOW (mode 0600 while it is written, so a secret in data
 *      is never readable by others, unless FS_REPLACE_UMASK), written,
 *      given its owner and mode, and fsynced;
 *   2. it is renamed over name (renameat; with FS_REPLACE_EXCLUSIVE,
 *      renameat2 RENAME_NOREPLACE, so nothing already there, not even a
 *      link, is replaced);
 *   3. the folder is fsynced.
 *
 * After a crash name holds its old content or the new one, never a mix.
 * A failure before the rename leaves name as it was and removes the
 * temporary; a failure to fsync the folder (the last step) leaves the new
 * content at name, perhaps not yet durable. path names the file in every
 * message ("cannot write 'PATH': ..."), ERROR_FAILED; an existing name with
 * FS_REPLACE_EXCLUSIVE is an ERROR_USAGE error, "'PATH' already exists; not
 * overwriting", found before anything is written.
 */
enum fs_replace_flags {
	FS_REPLACE_EXCLUSIVE = 1,   /* create only: a name already there is an error */
	FS_REPLACE_UMASK = 2,       /* the mode goes through the umask, as open(2)'s does */
};
struct fs_replace {
	mode_t mode;                /* the new file's mode, exactly unless FS_REPLACE_UMASK */
	uid_t uid;                  /* its owner and group; (uid_t)-1 and (gid_t)-1 */
	gid_t gid;                  /*   leave the writer's */
	int flags;                  /* enum fs_replace_flags */
};
int fs_replace_at(int dir_fd, const char *name, const char *path, const void *data, size_t len,
		  const struct fs_replace *how, struct error *err);
/* fs_replace_at for a file named by path, its folder opened by name: for
 * files of lastgood's own and the unit tests' trees, never live paths.
 * The file gets mode exactly and the writer's owner. */
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
/* rm -rf that never follows symbolic links; a missing path is success.
 * For scratch space of lastgood's own, named by path: live paths go
 * through fs_remove_at below a folder descriptor. */
int fs_remove_tree(const char *path, struct error *err);
/* Remove name below dir_fd, and everything in it when it is a folder,
 * through descriptors only (no path is resolved again, whatever its
 * depth); what names it in messages. A missing name is success. */
int fs_remove_at(int dir_fd, const char *name, const char *what, struct error *err);
/* Write all of buf to fd, retrying short writes and EINTR. */
int fs_write_all(int fd, const void *buf, size_t len);

/*
 * Live paths are reached through folder descriptors, never by name: a name
 * is looked up again at every use, and whoever can write a folder on the
 * way can point it elsewhere between two uses. fs_open_parent walks an
 * absolute path from "/" one component at a time, never following a
 * symbolic link, and checks that each folder on the way is one only its
 * owner could have changed: as root, a folder that another user owns or
 * can write (a sticky folder owned by root, such as /tmp, is fine: others
 * cannot rename or remove what is not theirs there) is refused, since that
 * user could swap what lastgood is about to write as root. Such a refusal
 * and a symbolic link on the way are ERROR_USAGE errors naming the folder.
 */
enum fs_open_flags {
	FS_OPEN_CREATE = 1,      /* create missing folders (mode 0755) */
};
/* Open the folder holding path (absolute, as path_absolute leaves it):
 * *dir_fd gets an O_DIRECTORY descriptor of it. Without FS_OPEN_CREATE a
 * missing folder is an ENOENT error; *missing (when not NULL) is then set
 * to 1 rather than an error being returned. */
int fs_open_parent(const char *path, int flags, int *dir_fd, int *missing, struct error *err);
/* The rule fs_open_parent applies to each folder: 0 when the folder open
 * at fd (named path in the message) is trusted, else -1 with err. */
int fs_dir_trusted(int fd, const char *path, struct error *err);

/* Path helpers: results are freshly allocated. */
char *path_join(const char *a, const char *b);
char *path_dirname(const char *path);
const char *path_basename(const char *path);
/* Make path absolute against base (when relative) and drop "." and "//". */
char *path_absolute(const char *base, const char *path);
/* 1 when path exists (lstat succeeds). */
int path_exists(const char *path);

#endif
