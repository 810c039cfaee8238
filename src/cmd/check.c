/*
 * `lastgood check`: the dispatcher has already parsed and validated the
 * config; this adds the live-file check and prints a summary or JSON.
 */
#include "cmd/command.h"
#include "core/manifest.h"
#include "util/alloc.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static json_t *cmd_check_service_json(const struct service *svc)
{
	json_t *files = json_array(), *after = json_array();
	for (size_t i = 0; i < svc->nfiles; i++)
		json_array_append_new(files, command_json_text(svc->files[i].written));
	for (size_t i = 0; i < svc->nafter; i++)
		json_array_append_new(after, command_json_text(svc->after[i]));
	return command_json_pack("{s:o, s:s, s:o, s:o}", "name", command_json_text(svc->name),
				 "manager", config_manager_name(svc->manager),
				 "files", files, "after", after);
}

/* ok is false only when the files check failed; message is then its error. */
static void cmd_check_print_json(const struct config *cfg, int ok, const char *message)
{
	json_t *services = json_array();
	for (size_t i = 0; i < cfg->nservices; i++)
		json_array_append_new(services, cmd_check_service_json(&cfg->services[i]));
	json_t *out = command_json_pack("{s:o, s:b, s:o}", "config", command_json_text(cfg->path),
					"ok", ok, "services", services);
	if (!ok)
		json_object_set_new(out, "error", command_json_text(message));
	command_print_json(out);
}

COMMAND(check)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct config *cfg = &ctx->cfg;
	struct error err = ERROR_INIT;
	size_t nfiles = 0;
	int c;

	while ((c = getopt_long(ctx->argc, ctx->argv, "+", longopts, NULL)) != -1) {
		if (c != 'j')
			return command_usage(ctx, NULL);
		ctx->opt.json = 1;
	}
	if (optind < ctx->argc) {
		char *message = xstrfmt("unexpected argument '%s'", ctx->argv[optind]);
		int rc = command_usage(ctx, message);
		free(message);
		return rc;
	}

	int ok = config_check_files(cfg, &err) == 0 && manifest_check_mounts(cfg, &err) == 0;
	if (ctx->opt.json)
		cmd_check_print_json(cfg, ok, err.msg);
	if (!ok)
		return command_fail(ctx, &err);
	if (ctx->opt.json)
		return EXIT_OK;
	for (size_t i = 0; i < cfg->nservices; i++)
		nfiles += cfg->services[i].nfiles;
	printf("%s: ok (%zu service%s, %zu file%s)\n", cfg->path, cfg->nservices,
	       cfg->nservices == 1 ? "" : "s", nfiles, nfiles == 1 ? "" : "s");
	return EXIT_OK;
}
