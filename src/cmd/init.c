/*
 * `lastgood init`: write the commented starter lastgood.yml, refusing to
 * touch a file that is already there.
 */
#include "cmd/command.h"
#include "util/alloc.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* O_EXCL rather than a check then a rename: nothing that appears between
 * the two, not even a dangling symlink, is ever replaced. */
static int cmd_init_write(const char *path, struct error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return error_set(err, EXIT_USAGE, "'%s' already exists; not overwriting", path);
		return error_errno(err, EXIT_FAILED, errno, "cannot create '%s'", path);
	}
	if (fs_write_all(fd, init_starter_text, strlen(init_starter_text)) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot write '%s'", path);
		goto fail;
	}
	if (fs_fsync_fd(fd, path, err) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		error_errno(err, EXIT_FAILED, errno, "cannot close '%s'", path);
		goto fail;
	}
	return fs_fsync_parent(path, err);
fail:
	/* We created it, so a half-written file is ours to remove. */
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
}

COMMAND(init)
{
	static const struct option longopts[] = {
		{ NULL, 0, NULL, 0 },
	};
	struct error err = ERROR_INIT;
	const char *path = ctx->opt.config_path;

	if (getopt_long(ctx->argc, ctx->argv, "+", longopts, NULL) != -1)
		return command_usage(ctx, NULL);
	if (optind < ctx->argc) {
		char *message = xstrfmt("unexpected argument '%s'", ctx->argv[optind]);
		int rc = command_usage(ctx, message);
		free(message);
		return rc;
	}
	if (cmd_init_write(path, &err) < 0)
		return command_fail(ctx, &err);
	if (ctx->opt.json) {
		json_t *out = command_json_pack("{s:o}", "config", command_json_text(path));
		json_dumpf(out, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(out);
	} else {
		printf("%s\n", path);
	}
	command_progress(ctx, "wrote a starter config; edit it, then run 'lastgood check'");
	return EXIT_OK;
}
