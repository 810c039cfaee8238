/*
 * `lastgood status`: the live release, an interrupted operation awaiting
 * recover, and per service its state, pid, uptime, health, the release
 * its files came from and (compose) the image the live release recorded.
 */
#include "cmd/command.h"
#include "core/health.h"
#include "core/operation.h"
#include "core/release.h"
#include "core/resource/images.h"
#include "core/service.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/format.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct service_status {
	struct service_info info;
	int healthy;             /* 1, 0, or -1 when it has no checks */
	char *failure;           /* first failing check and response */
	long release;            /* where its files came from, 0 unknown */
};

struct status_facts {
	struct release live;     /* id 0 when none */
	long *unfinished;
	size_t nunfinished;
	struct service_status *services;
	struct release_image *images;   /* recorded with the live release */
	size_t nimages;
};

/*
 * A service's files came from the oldest release that holds exactly these
 * files: after a selective rollback, the release rolled back to rather
 * than the composite made by it. An index lookup per service
 * (release_files_origin), whatever the size of the releases or the length
 * of the history; the live release itself when it has no record.
 */
static void find_service_releases(struct command_context *ctx, struct status_facts *facts)
{
	for (size_t s = 0; s < ctx->cfg.nservices; s++) {
		long origin = release_files_origin(&ctx->st, facts->live.id,
						   ctx->cfg.services[s].name);
		facts->services[s].release = origin ? origin : facts->live.id;
	}
}

static int status_gather(struct command_context *ctx, struct status_facts *facts,
			 struct error *err)
{
	struct health_round round = { 0 };

	facts->services = xcalloc(ctx->cfg.nservices ? ctx->cfg.nservices : 1,
				  sizeof(*facts->services));
	for (size_t s = 0; s < ctx->cfg.nservices; s++) {
		struct service_status *ss = &facts->services[s];
		ss->healthy = ctx->cfg.services[s].nhealth ? 1 : -1;
		ss->info.running = 0;
		snprintf(ss->info.detail, sizeof(ss->info.detail), "never started");
		if (ctx->have_state &&
		    service_inspect(&ctx->st, &ctx->cfg.services[s], &ss->info, err) < 0)
			return -1;
	}
	if (health_round_run(&ctx->cfg, NULL, &round, err) < 0)
		return -1;
	for (size_t i = 0; i < round.n; i++) {
		struct service_status *ss = &facts->services[round.results[i].service];
		if (round.results[i].ok || !ss->healthy)
			continue;
		ss->healthy = 0;
		ss->failure = xstrfmt("%s: %s", round.results[i].summary, round.results[i].response);
	}
	health_round_free(&round);
	if (!ctx->have_state)
		return 0;
	long live = state_live_release(&ctx->st);
	if (live && release_get(&ctx->st, live, &facts->live, err) < 0)
		return -1;
	if (live) {
		find_service_releases(ctx, facts);
		if (release_images(&ctx->st, live, live, &facts->images, &facts->nimages, err) < 0)
			return -1;
	}
	return operation_unfinished(&ctx->st, &facts->unfinished, &facts->nunfinished, err);
}

static void status_clear(struct command_context *ctx, struct status_facts *facts)
{
	for (size_t s = 0; facts->services && s < ctx->cfg.nservices; s++)
		free(facts->services[s].failure);
	free(facts->services);
	release_clear(&facts->live);
	release_images_free(facts->images, facts->nimages);
	free(facts->unfinished);
}

static const char *state_name(int running)
{
	return running == 1 ? "running" : running == 0 ? "stopped" : "unknown";
}

static const char *health_name(int healthy)
{
	return healthy == 1 ? "healthy" : healthy == 0 ? "unhealthy" : "no checks";
}

/* The image the live release recorded for service, NULL when none. */
static const struct release_image *status_image(const struct status_facts *facts,
						const char *service)
{
	for (size_t i = 0; i < facts->nimages; i++)
		if (!strcmp(facts->images[i].service, service))
			return &facts->images[i];
	return NULL;
}

static void status_print_json(struct command_context *ctx, const struct status_facts *facts)
{
	long long now = clock_wall_ms();
	json_t *services = json_array();
	for (size_t s = 0; s < ctx->cfg.nservices; s++) {
		const struct service_status *ss = &facts->services[s];
		const struct release_image *image = status_image(facts, ctx->cfg.services[s].name);
		int up = ss->info.running == 1 && ss->info.started_ms;
		json_t *image_json = image ? command_json_pack("{s:o, s:o}",
			"id", command_json_text(image->id), "name", command_json_text(image->name))
					   : json_null();
		json_array_append_new(services, command_json_pack("{s:o, s:s, s:s, s:I, s:I, s:s, "
								  "s:o?, s:I, s:o, s:o}",
			"name", command_json_text(ctx->cfg.services[s].name),
			"manager", config_manager_name(ctx->cfg.services[s].manager),
			"state", state_name(ss->info.running), "pid", (json_int_t)ss->info.pid,
			"uptime_ms", (json_int_t)(up ? now - ss->info.started_ms : 0),
			"health", health_name(ss->healthy), "failure", command_json_text(ss->failure),
			"release", (json_int_t)ss->release, "detail", command_json_text(ss->info.detail),
			"image", image_json));
	}
	json_t *unfinished = json_array();
	for (size_t i = 0; i < facts->nunfinished; i++)
		json_array_append_new(unfinished, json_integer(facts->unfinished[i]));
	command_print_json(command_json_pack("{s:I, s:o?, s:o?, s:s?, s:o, s:o}",
		"live_release", (json_int_t)facts->live.id, "label", command_json_text(facts->live.label),
		"commit", command_json_text(facts->live.commit),
		"mark", facts->live.mark ? release_mark_name(facts->live.mark) : NULL,
		"interrupted_operations", unfinished, "services", services));
}

static void status_print_text(struct command_context *ctx, const struct status_facts *facts)
{
	char when[FORMAT_SIZE], uptime[FORMAT_SIZE];
	long long now = clock_wall_ms();

	if (facts->live.id) {
		printf("live release %ld", facts->live.id);
		if (facts->live.label)
			printf(" '%s'", facts->live.label);
		if (facts->live.commit)
			printf(" commit %.12s", facts->live.commit);
		printf(", recorded %s", format_time(facts->live.created_ms, when));
		if (facts->live.mark)
			printf(", %s", release_mark_name(facts->live.mark));
		putchar('\n');
	} else {
		printf("no live release recorded; run 'lastgood snapshot'\n");
	}
	for (size_t i = 0; i < facts->nunfinished; i++)
		printf("operation %ld was interrupted: run 'lastgood recover'\n", facts->unfinished[i]);
	printf("\n  %-20s %-8s %8s %8s  %-9s %7s\n", "SERVICE", "STATE", "PID", "UPTIME", "HEALTH",
	       "RELEASE");
	for (size_t s = 0; s < ctx->cfg.nservices; s++) {
		const struct service_status *ss = &facts->services[s];
		int up = ss->info.running == 1 && ss->info.started_ms;
		char pid[24] = "-", release[24] = "-";
		if (ss->info.pid)
			snprintf(pid, sizeof(pid), "%ld", ss->info.pid);
		if (ss->release)
			snprintf(release, sizeof(release), "%ld", ss->release);
		printf("  %-20s %-8s %8s %8s  %-9s %7s", ctx->cfg.services[s].name,
		       state_name(ss->info.running), pid,
		       up ? format_duration(now - ss->info.started_ms, uptime) : "-",
		       health_name(ss->healthy), release);
		if (ss->info.running != 1 && *ss->info.detail)
			printf("  (%s)", ss->info.detail);
		putchar('\n');
		if (ss->failure)
			printf("  %-20s %s\n", "", ss->failure);
		const struct release_image *image = status_image(facts, ctx->cfg.services[s].name);
		char short_id[IMAGE_SHORT_ID_SIZE];
		if (image)
			printf("  %-20s image %s %s\n", "", image_short_id(image->id, short_id),
			       image->name);
	}
}

int cmd_status(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	struct status_facts facts;

	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	memset(&facts, 0, sizeof(facts));
	if (status_gather(ctx, &facts, &err) < 0) {
		status_clear(ctx, &facts);
		return command_fail(ctx, &err);
	}
	if (ctx->opt.json)
		status_print_json(ctx, &facts);
	else
		status_print_text(ctx, &facts);
	status_clear(ctx, &facts);
	return EXIT_OK;
}
