/*
 * `lastgood verify`: run every health check now, all at once, and print
 * each with its result and, for a failure, the response that failed.
 */
#include "cmd/command.h"
#include "core/health.h"
#include "core/service.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* A process-managed service whose process is gone fails whatever its
 * checks say (something else may be answering on its port). */
static int verify_processes(struct command_context *ctx, const unsigned char *selected,
			    json_t *out, struct error *err)
{
	int failed = 0;
	for (size_t s = 0; s < ctx->cfg.nservices; s++) {
		const struct service *svc = &ctx->cfg.services[s];
		struct service_info info;
		if ((selected && !selected[s]) || !service_tracks_process(svc))
			continue;
		if (!ctx->have_state) {
			info.running = 0;
			snprintf(info.detail, sizeof(info.detail), "never started by lastgood");
		} else if (service_inspect(&ctx->st, svc, &info, err) < 0) {
			return -1;
		}
		int ok = info.running == 1;
		failed |= !ok;
		if (out)
			json_array_append_new(out, command_json_pack("{s:o, s:s, s:b, s:o}", "service",
				command_json_text(svc->name), "check", "process", "ok", ok,
				"response", command_json_text(info.detail)));
		else
			printf("%s  %-20s process %s%s%s\n", ok ? "ok  " : "FAIL", svc->name,
			       ok ? "running" : "not running", ok ? "" : ": ", ok ? "" : info.detail);
	}
	return failed;
}

int cmd_verify(struct command_context *ctx)
{
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct error err = ERROR_INIT;
	struct health_round round = { 0 };
	unsigned char *selected = NULL;
	const char *services = NULL;
	int c, failed;

	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		if (c != 's')
			return command_usage(ctx, NULL);
		services = optarg;
	}
	if (optind < ctx->argc)
		return command_usage(ctx, "unexpected argument");
	if (services && config_select_services(&ctx->cfg, services, &selected, &err) < 0)
		return command_fail(ctx, &err);

	json_t *out = ctx->opt.json ? json_array() : NULL;
	failed = verify_processes(ctx, selected, out, &err);
	if (failed < 0 || health_round_run(&ctx->cfg, selected, &round, &err) < 0) {
		json_decref(out);
		free(selected);
		return command_fail(ctx, &err);
	}
	for (size_t i = 0; i < round.n; i++) {
		const struct health_result *r = &round.results[i];
		const char *name = ctx->cfg.services[r->service].name;
		failed |= !r->ok;
		if (out)
			json_array_append_new(out, command_json_pack("{s:o, s:o, s:b, s:I, s:o?}",
				"service", command_json_text(name), "check", command_json_text(r->summary),
				"ok", r->ok, "elapsed_ms", (json_int_t)r->elapsed_ms,
				"response", command_json_text(r->response)));
		else
			printf("%s  %-20s %s (%lldms)%s%s\n", r->ok ? "ok  " : "FAIL", name, r->summary,
			       r->elapsed_ms, r->ok ? "" : ": ", r->ok ? "" : r->response);
	}
	if (out)
		command_print_json(out);
	health_round_free(&round);
	free(selected);
	return failed ? EXIT_FAILED : EXIT_OK;
}
