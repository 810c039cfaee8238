/*
 * Unit tests for util/fs: fs_replace_at replaces a file whole (content,
 * mode, owner), leaves no temporary behind whether it succeeds or fails,
 * and with FS_REPLACE_EXCLUSIVE replaces nothing; fs_remove_tree removes a
 * tree through descriptors, read-only folders included, and never the
 * content of another file system mounted inside it (run in a mount
 * namespace of its own, as root; skipped otherwise).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *make_file(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	struct error err = ERROR_INIT;
	assert_int_equal(fs_write_atomic(path, "x", 1, 0644, &err), 0);
	return path;
}

/* A fresh folder, open at *dir_fd; finish_folder ends it. */
static char *make_folder(int *dir_fd)
{
	char tmpl[] = "/tmp/lg-test-fs.XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	*dir_fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(*dir_fd >= 0);
	return xstrdup(tmpl);
}

/* The folder holds exactly names (sorted, one per line, "." and ".."
 * left out): no temporary is left behind. Then close and remove it. */
static void finish_folder(char *dir, int dir_fd, const char *names)
{
	struct dirent **entries;
	int n = scandir(dir, &entries, NULL, alphasort);
	assert_true(n >= 0);
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < n; i++) {
		if (strcmp(entries[i]->d_name, ".") && strcmp(entries[i]->d_name, ".."))
			strbuf_addf(&sb, "%s\n", entries[i]->d_name);
		free(entries[i]);
	}
	free(entries);
	assert_string_equal(sb.buf, names);
	strbuf_release(&sb);
	close(dir_fd);
	struct error err = ERROR_INIT;
	assert_int_equal(fs_remove_tree(dir, &err), 0);
	free(dir);
}

static void assert_file(const char *path, const char *content, mode_t mode)
{
	struct strbuf sb = STRBUF_INIT;
	struct error err = ERROR_INIT;
	struct stat st;
	assert_int_equal(fs_read_file(path, &sb, &err), 0);
	assert_string_equal(sb.buf, content);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	strbuf_release(&sb);
}

static void test_replace_at_replaces_whole(void **state)
{
	(void)state;
	int dir_fd;
	char *dir = make_folder(&dir_fd);
	char *path = path_join(dir, "app.yml");
	struct error err = ERROR_INIT;
	struct fs_replace how = { .mode = 0640, .uid = (uid_t)-1, .gid = (gid_t)-1 };

	/* created, then replaced: a new inode each time, mode exactly as asked */
	assert_int_equal(fs_replace_at(dir_fd, "app.yml", path, "one\n", 4, &how, &err), 0);
	assert_file(path, "one\n", 0640);
	struct stat first, second;
	assert_int_equal(lstat(path, &first), 0);
	how.mode = 04755;
	assert_int_equal(fs_replace_at(dir_fd, "app.yml", path, "two\n", 4, &how, &err), 0);
	assert_file(path, "two\n", 04755);
	assert_int_equal(lstat(path, &second), 0);
	assert_true(first.st_ino != second.st_ino);
	/* a temporary of an earlier process with our pid is left alone */
	char *stray = xstrfmt(".app.yml.lastgood-%ld-0", (long)getpid());
	int fd = openat(dir_fd, stray, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fs_replace_at(dir_fd, "app.yml", path, "three\n", 6, &how, &err), 0);
	assert_file(path, "three\n", 04755);
	char *expected = xstrfmt("%s\napp.yml\n", stray);
	/* as root, the owner asked for (nobody's uid, say) */
	if (geteuid() == 0) {
		how.uid = 65534;
		how.gid = 65534;
		assert_int_equal(fs_replace_at(dir_fd, "app.yml", path, "four\n", 5, &how, &err), 0);
		assert_int_equal(lstat(path, &second), 0);
		assert_int_equal(second.st_uid, 65534);
		assert_int_equal(second.st_gid, 65534);
		/* set after the owner, which would clear the set-user-ID bit */
		assert_int_equal(second.st_mode & 07777, 04755);
	}
	finish_folder(dir, dir_fd, expected);
	free(expected);
	free(stray);
	free(path);
}

static void test_replace_at_failure_leaves_no_trace(void **state)
{
	(void)state;
	int dir_fd;
	char *dir = make_folder(&dir_fd);
	char *path = path_join(dir, "conf");
	char *inside = path_join(path, "kept");
	struct error err = ERROR_INIT;
	const struct fs_replace how = { .mode = 0644, .uid = (uid_t)-1, .gid = (gid_t)-1 };

	/* a folder that holds something cannot be renamed over: the rename,
	 * the last step that can fail before anything changes, fails */
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	free(make_file(path, "kept"));
	assert_int_equal(fs_replace_at(dir_fd, "conf", path, "new\n", 4, &how, &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	char *msg = xstrfmt("cannot put '%s' in place: Is a directory", path);
	assert_string_equal(err.msg, msg);
	assert_file(inside, "x", 0644);
	finish_folder(dir, dir_fd, "conf\n");
	free(msg);
	free(inside);
	free(path);
}

static void test_replace_at_exclusive_replaces_nothing(void **state)
{
	(void)state;
	int dir_fd;
	char *dir = make_folder(&dir_fd);
	char *path = path_join(dir, "lastgood.yml");
	char *link = path_join(dir, "dangling");
	struct error err = ERROR_INIT;
	const struct fs_replace how = {
		.mode = 0666, .uid = (uid_t)-1, .gid = (gid_t)-1,
		.flags = FS_REPLACE_EXCLUSIVE | FS_REPLACE_UMASK,
	};

	mode_t old_umask = umask(027);
	assert_int_equal(fs_replace_at(dir_fd, "lastgood.yml", path, "a\n", 2, &how, &err), 0);
	umask(old_umask);
	assert_file(path, "a\n", 0640);
	assert_int_equal(fs_replace_at(dir_fd, "lastgood.yml", path, "b\n", 2, &how, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	char *msg = xstrfmt("'%s' already exists; not overwriting", path);
	assert_string_equal(err.msg, msg);
	assert_file(path, "a\n", 0640);
	/* a link counts as there, even one leading nowhere */
	assert_int_equal(symlink("nowhere", link), 0);
	error_clear(&err);
	assert_int_equal(fs_replace_at(dir_fd, "dangling", link, "b\n", 2, &how, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	char target[16] = "";
	assert_int_equal(readlink(link, target, sizeof(target) - 1), 7);
	assert_string_equal(target, "nowhere");
	finish_folder(dir, dir_fd, "dangling\nlastgood.yml\n");
	free(msg);
	free(link);
	free(path);
}

static void test_remove_tree_read_only(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/lg-test-fs.XXXXXX";
	char *top = mkdtemp(tmpl);
	assert_non_null(top);
	char *tree = path_join(top, "tree");
	char *sub = path_join(tree, "sub");
	struct error err = ERROR_INIT;
	assert_int_equal(fs_mkdir_p(sub, 0755, &err), 0);
	free(make_file(sub, "f"));
	assert_int_equal(chmod(sub, 0500), 0);
	assert_int_equal(fs_remove_tree(tree, &err), 0);
	assert_int_equal(access(tree, F_OK), -1);
	rmdir(top);
	free(sub);
	free(tree);
}

/* In a child with its own mount namespace: a tmpfs mounted on tree/mnt
 * holding a file. The removal must fail naming the mount point and leave
 * that file; what is beside the mount may be gone. Exit 0 when it held,
 * 77 when the child cannot make a namespace (not root). */
static int remove_across_mount(const char *tree)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 77;
	char *mnt = path_join(tree, "mnt");
	if (mount("lg-test", mnt, "tmpfs", 0, "size=1m") < 0)
		return 77;
	char *kept = make_file(mnt, "kept");
	struct error err = ERROR_INIT;
	int rc = fs_remove_tree(tree, &err);
	int held = rc < 0 && strstr(err.msg, "another file system is mounted there") &&
		   strstr(err.msg, "/mnt") && access(kept, F_OK) == 0;
	if (!held)
		fprintf(stderr, "remove: rc %d, '%s', kept file %s\n", rc, err.msg,
			access(kept, F_OK) == 0 ? "there" : "gone");
	umount2(mnt, MNT_DETACH);
	free(kept);
	free(mnt);
	return held ? 0 : 1;
}

static void test_remove_tree_stops_at_a_mount(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/lg-test-fs.XXXXXX";
	char *top = mkdtemp(tmpl);
	assert_non_null(top);
	char *tree = path_join(top, "tree");
	char *mnt = path_join(tree, "mnt");
	struct error err = ERROR_INIT;
	assert_int_equal(fs_mkdir_p(mnt, 0755, &err), 0);
	free(make_file(tree, "beside"));

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(remove_across_mount(tree));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		fs_remove_tree(top, &err);
		free(mnt);
		free(tree);
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the mount is gone with the child's namespace: now it all goes */
	assert_int_equal(fs_remove_tree(top, &err), 0);
	free(mnt);
	free(tree);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_at_replaces_whole),
		cmocka_unit_test(test_replace_at_failure_leaves_no_trace),
		cmocka_unit_test(test_replace_at_exclusive_replaces_nothing),
		cmocka_unit_test(test_remove_tree_read_only),
		cmocka_unit_test(test_remove_tree_stops_at_a_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
