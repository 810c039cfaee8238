/*
 * Unit tests for util/fs removal: fs_remove_tree removes a tree through
 * descriptors, read-only folders included, and never the content of
 * another file system mounted inside it (run in a mount namespace of its
 * own, as root; skipped otherwise).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"

#include <errno.h>
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
		cmocka_unit_test(test_remove_tree_read_only),
		cmocka_unit_test(test_remove_tree_stops_at_a_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
