/*
 * libFuzzer target for the tarball reader: each input is written to a file
 * and opened as a deploy SOURCE with source_open, which unpacks it into the
 * scratch space of a state folder made once per process. Besides the
 * sanitizers it checks what source.h promises, after every input:
 *
 *   - an unpacked tree holds only files, folders and symlinks, none of them
 *     set-user-ID or set-group-ID;
 *   - nothing is left in scratch space once the source is closed (or the
 *     open failed);
 *   - nothing escaped: beside the state folder sits a canary file that an
 *     archive can reach by name ("../../../outside/canary") or through a
 *     symlink it made; it must keep its content and its single link.
 *
 * Extraction is bounded by RLIMIT_FSIZE (a compressed input may unpack to
 * far more than it is), and libFuzzer's -timeout bounds the rest.
 */
#include "core/source.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_FILE_MAX (64L << 20)        /* no unpacked file grows beyond this */
#define FUZZ_CANARY_TEXT "canary\n"
#define FUZZ_OPERATION 1

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct state fuzz_state;
static char *fuzz_base;       /* BASE/{input.tar, outside/canary, state/tmp/} */
static char *fuzz_input;
static char *fuzz_outside;
static char *fuzz_canary;

static void fuzz_source_broken(const char *what, const char *path)
{
	fprintf(stderr, "fuzz_source: %s: '%s'\n", what, path);
	abort();
}

static void fuzz_source_cleanup(void)
{
	struct error ignored = ERROR_INIT;
	if (fuzz_base)
		fs_remove_tree(fuzz_base, &ignored);
}

static void fuzz_source_write(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fs_write_all(fd, data, size) < 0 || close(fd) < 0)
		fuzz_source_broken("cannot write", path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct error err = ERROR_INIT;
	const char *tmp = getenv("TMPDIR");
	char *pattern = xstrfmt("%s/lastgood-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");

	if (!mkdtemp(pattern))
		fuzz_source_broken("cannot create", pattern);
	fuzz_base = pattern;
	atexit(fuzz_source_cleanup);
	fuzz_state.dir = path_join(fuzz_base, "state");
	fuzz_state.store.tmp_dir = path_join(fuzz_state.dir, "tmp");
	fuzz_state.lock_fd = -1;
	fuzz_input = path_join(fuzz_base, "input.tar");
	fuzz_outside = path_join(fuzz_base, "outside");
	fuzz_canary = path_join(fuzz_outside, "canary");
	if (fs_mkdir_p(fuzz_state.store.tmp_dir, 0700, &err) < 0 ||
	    fs_mkdir_p(fuzz_outside, 0700, &err) < 0)
		fuzz_source_broken("cannot set up", err.msg);
	fuzz_source_write(fuzz_canary, FUZZ_CANARY_TEXT, strlen(FUZZ_CANARY_TEXT));

	struct rlimit limit = { FUZZ_FILE_MAX, FUZZ_FILE_MAX };
	if (setrlimit(RLIMIT_FSIZE, &limit) < 0)
		fuzz_source_broken("cannot limit file sizes", fuzz_base);
	/* A write past the limit then fails with EFBIG instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
	return 0;
}

static int fuzz_source_named(const struct dirent *de)
{
	return strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
}

/* The names in dir other than . and .., sorted, as " a b c" (caller frees). */
static char *fuzz_source_list(const char *dir)
{
	struct dirent **entries;
	char *names = xstrdup("");
	int n = scandir(dir, &entries, fuzz_source_named, alphasort);

	if (n < 0)
		fuzz_source_broken("cannot list", dir);
	for (int i = 0; i < n; i++) {
		char *more = xstrfmt("%s %s", names, entries[i]->d_name);
		free(names);
		names = more;
		free(entries[i]);
	}
	free(entries);
	return names;
}

static void fuzz_source_expect_names(const char *dir, const char *want)
{
	char *names = fuzz_source_list(dir);
	if (strcmp(names, want)) {
		fprintf(stderr, "fuzz_source: '%s' holds '%s', expected '%s'\n", dir, names, want);
		abort();
	}
	free(names);
}

static int fuzz_source_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode) && !S_ISLNK(st->st_mode))
		fuzz_source_broken("special file unpacked", path);
	if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)))
		fuzz_source_broken("set-ID bit unpacked", path);
	return 0;
}

static void fuzz_source_check_canary(void)
{
	struct stat st;
	char text[sizeof(FUZZ_CANARY_TEXT)] = "";
	int fd = open(fuzz_canary, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		fuzz_source_broken("the canary is gone", fuzz_canary);
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || n != (ssize_t)strlen(FUZZ_CANARY_TEXT) ||
	    strcmp(text, FUZZ_CANARY_TEXT))
		fuzz_source_broken("the canary was linked or written to", fuzz_canary);
	fuzz_source_expect_names(fuzz_outside, " canary");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = ERROR_INIT;
	char *root;
	int temporary;

	fuzz_source_write(fuzz_input, data, size);
	if (source_open(&fuzz_state, fuzz_input, 0, FUZZ_OPERATION, &root, &temporary, &err) == 0) {
		if (!temporary)
			fuzz_source_broken("a tarball opened in place", root);
		if (nftw(root, fuzz_source_visit, 16, FTW_PHYS) < 0)
			fuzz_source_broken("cannot walk", root);
		source_close(root, temporary);
	} else if (!err.msg[0]) {
		fuzz_source_broken("a failed open without a message", fuzz_input);
	}
	fuzz_source_expect_names(fuzz_state.store.tmp_dir, "");
	fuzz_source_expect_names(fuzz_state.dir, " tmp");
	fuzz_source_expect_names(fuzz_base, " input.tar outside state");
	fuzz_source_check_canary();
	return 0;
}
