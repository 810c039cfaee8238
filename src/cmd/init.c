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

/* Exclusive, so that nothing already there, not even a dangling symlink,
 * is ever replaced; and through a temporary, so that a crash never leaves
 * half a starter file for the next init to refuse. The mode goes through
 * the umask, as any new file's does. */
static int cmd_init_write(const char *path, struct error *err)
{
	const struct fs_replace how = {
		.mode = 0644, .uid = (uid_t)-1, .gid = (gid_t)-1,
		.flags = FS_REPLACE_EXCLUSIVE | FS_REPLACE_UMASK,
	};
	char *dir = path_dirname(path);
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = dir_fd < 0 ? error_errno(err, ERROR_FAILED, errno, "cannot create '%s'", path)
			    : fs_replace_at(dir_fd, path_basename(path), path, init_starter_text,
					    strlen(init_starter_text), &how, err);
	if (dir_fd >= 0)
		close(dir_fd);
	free(dir);
	return rc;
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
