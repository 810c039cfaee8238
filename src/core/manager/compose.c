/*
 * The compose manager: one Compose service (`service`, by default the
 * service's own name) of the project the `compose:` section names, run in
 * the service's workdir through `docker compose` (v2) or `docker-compose`
 * (v1), whichever this host has. Its container is read with `docker
 * inspect`: its own healthcheck and its restarts count beside lastgood's
 * checks.
 */
#include "core/manager/manager.h"
#include "core/manager/program.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum compose_frontend { FRONTEND_UNKNOWN, FRONTEND_V2, FRONTEND_V1 };

/* Detected at the first compose call, then kept for the process. */
static enum compose_frontend frontend = FRONTEND_UNKNOWN;

/* Run argv quietly (its stderr with its stdout in out): -1 when it could
 * not run at all, else its exit status. */
static int compose_probe(char *const *argv, struct strbuf *out)
{
	struct process_options opts = { .merge_stderr = 1 };
	struct error ignored = ERROR_INIT;
	int status;
	if (process_run_with(argv, &opts, out, &status, &ignored) < 0)
		return -1;
	return status;
}

/*
 * Which front-end this host has: `docker compose` when `docker compose
 * version` works, else `docker-compose`. The docker CLI is needed either
 * way, to inspect containers. Only a success is kept, so that installing
 * one fixes the next call.
 */
static int compose_detect(struct error *err)
{
	char *docker_version[] = { "docker", "version", "--format", "{{.Client.Version}}", NULL };
	char *v2[] = { "docker", "compose", "version", NULL };
	char *v1[] = { "docker-compose", "version", NULL };
	struct strbuf out = STRBUF_INIT;
	int rc = 0;

	if (frontend != FRONTEND_UNKNOWN)
		return 0;
	if (compose_probe(docker_version, &out) < 0)
		rc = error_set(err, ERROR_FAILED, "docker is not installed: no 'docker' on PATH");
	else if (compose_probe(v2, &out) == 0)
		frontend = FRONTEND_V2;
	else if (compose_probe(v1, &out) == 0)
		frontend = FRONTEND_V1;
	else
		rc = error_set(err, ERROR_FAILED, "neither 'docker compose' (v2) nor "
			       "'docker-compose' (v1) is installed");
	strbuf_release(&out);
	return rc;
}

/*
 * The command line of one compose call: the front-end, the project and
 * files of the `compose:` section, then args (NULL-terminated). The vector
 * is the caller's to free(); its strings are borrowed.
 */
static char **compose_command(const struct service *svc, char *const *args)
{
	char **argv = NULL;
	size_t n = 0, alloc = 0;

#define COMPOSE_PUSH(arg) do { ALLOC_GROW(argv, n + 1, alloc); argv[n++] = (arg); } while (0)
	if (frontend == FRONTEND_V2) {
		COMPOSE_PUSH("docker");
		COMPOSE_PUSH("compose");
	} else {
		COMPOSE_PUSH("docker-compose");
	}
	if (svc->compose_project) {
		COMPOSE_PUSH("-p");
		COMPOSE_PUSH(svc->compose_project);
	}
	for (size_t i = 0; i < svc->compose_files.n; i++) {
		COMPOSE_PUSH("-f");
		COMPOSE_PUSH(svc->compose_files.v[i]);
	}
	for (size_t i = 0; args[i]; i++)
		COMPOSE_PUSH(args[i]);
	COMPOSE_PUSH(NULL);
#undef COMPOSE_PUSH
	return argv;
}

/* The daemon the service's docker commands talk to, for messages. */
static const char *compose_docker_host(const struct service *svc)
{
	for (size_t i = 0; i < svc->nenv; i++)
		if (!strcmp(svc->env[i].key, "DOCKER_HOST"))
			return svc->env[i].value;
	return getenv("DOCKER_HOST");
}

/* When the docker daemon does not answer the service's environment, say
 * so in text (size bytes), naming where it was looked for, and return 1:
 * compose would only say it cannot connect, or name a socket it guessed. */
static int compose_daemon_away(const struct service *svc, char *text, size_t size)
{
	char *argv[] = { "docker", "version", "--format", "{{.Server.Version}}", NULL };
	struct strbuf out = STRBUF_INIT;
	struct error ignored = ERROR_INIT;
	int status;
	int rc = manager_run_program(svc, argv, MANAGER_RUN_IN_WORKDIR | MANAGER_RUN_MERGE_STDERR,
				     &out, &status, &ignored);
	strbuf_release(&out);
	if (rc == 0 && status == 0)
		return 0;
	const char *host = compose_docker_host(svc);
	if (host)
		snprintf(text, size, "the docker daemon does not answer at DOCKER_HOST '%s'", host);
	else
		snprintf(text, size, "the docker daemon does not answer at "
			 "'unix:///var/run/docker.sock' (DOCKER_HOST is not set)");
	return 1;
}

/* The first line of out that names an error ("ERROR: ...",
 * "yaml.parser.ParserError: ...", "The Compose file ... is invalid
 * because:"), else its last line: the cause comes first, and what follows
 * repeats or elaborates it, while progress lines come before. */
static void compose_error_line(const struct strbuf *out, char *line, size_t size)
{
	for (const char *p = out->buf; p && *p; p = strchr(p, '\n')) {
		p += *p == '\n';
		int len = (int)strcspn(p, "\n");
		char *mark = strcasestr(p, "error");
		if (!mark || mark - p > len)
			mark = strcasestr(p, "invalid");
		if (mark && mark - p < len) {
			snprintf(line, size, "%.*s", len, p);
			return;
		}
	}
	manager_last_line(out, line, size);
}

/* Run one compose call (verb names it in messages: "start", "stop"). Its
 * failure names the daemon when that is what failed, else docker's own
 * error line. */
static int compose_action(const struct service *svc, const char *verb, char *const *args,
			  struct error *err)
{
	struct strbuf out = STRBUF_INIT;
	char line[512];
	int status, rc;

	if (compose_detect(err) < 0) {
		error_prefix(err, "cannot %s service '%s'", verb, svc->name);
		return -1;
	}
	char **argv = compose_command(svc, args);
	rc = manager_run_program(svc, argv, MANAGER_RUN_IN_WORKDIR | MANAGER_RUN_MERGE_STDERR,
				 &out, &status, err);
	if (rc < 0) {
		error_prefix(err, "cannot %s service '%s'", verb, svc->name);
	} else if (status != 0 && compose_daemon_away(svc, line, sizeof(line))) {
		rc = error_set(err, ERROR_FAILED, "cannot %s service '%s': %s", verb, svc->name, line);
	} else if (status != 0) {
		compose_error_line(&out, line, sizeof(line));
		rc = manager_action_error(svc, verb, argv, status, line, err);
	}
	free(argv);
	strbuf_release(&out);
	return rc;
}

static void compose_configure(struct service *svc)
{
	if (!svc->compose_service)
		svc->compose_service = xstrdup(svc->name);
}

/* Never builds, and never pulls: the image a release runs is on the host
 * or the start fails (v1 pulls only a missing image, so --no-build is
 * enough there; v2 is told both). */
static int compose_start(struct state *st, const struct service *svc, struct error *err)
{
	char *v2[] = { "up", "-d", "--no-build", "--no-deps", "--pull", "never",
		       svc->compose_service, NULL };
	char *v1[] = { "up", "-d", "--no-build", "--no-deps", svc->compose_service, NULL };
	(void)st;
	if (compose_detect(err) < 0) {
		error_prefix(err, "cannot start service '%s'", svc->name);
		return -1;
	}
	return compose_action(svc, "start", frontend == FRONTEND_V2 ? v2 : v1, err);
}

/*
 * Whether the service is stopped, asked of docker by the labels compose
 * puts on its containers, without reading its compose file: what a stop
 * falls back on when compose cannot read that file (a deploy of one that
 * does not parse is being undone, and its start never ran). With no
 * `compose.project`, any project's container of that compose service
 * counts: the name compose would derive is not guessed. 1 when none runs,
 * else 0 (or docker could not say).
 */
static int compose_stopped_by_labels(const struct service *svc)
{
	char *service_filter = xstrfmt("label=com.docker.compose.service=%s", svc->compose_service);
	char *project_filter = svc->compose_project
		? xstrfmt("label=com.docker.compose.project=%s", svc->compose_project) : NULL;
	char *ps[] = { "docker", "ps", "-q", "--filter", service_filter,
		       project_filter ? "--filter" : NULL, project_filter, NULL };
	struct strbuf out = STRBUF_INIT;
	struct error ignored = ERROR_INIT;
	int status;
	int stopped = manager_run_program(svc, ps, MANAGER_RUN_IN_WORKDIR, &out, &status,
					  &ignored) == 0 && status == 0 && out.len == 0;
	strbuf_release(&out);
	free(service_filter);
	free(project_filter);
	return stopped;
}

/* Stopping a stopped service succeeds, even when compose cannot read its
 * file to do it. */
static int compose_stop(struct state *st, const struct service *svc, struct error *err)
{
	char *args[] = { "stop", svc->compose_service, NULL };
	(void)st;
	if (compose_action(svc, "stop", args, err) == 0)
		return 0;
	if (!compose_stopped_by_labels(svc))
		return -1;
	error_clear(err);
	return 0;
}

/* What `docker inspect` says of the service's container. */
struct container_state {
	char id[72];
	char status[16];             /* running, restarting, exited, created... */
	char health[16];             /* starting, healthy, unhealthy; "" without one */
	long restarts;               /* RestartCount */
	long exit_code;
	char image[80];              /* the image's ID: "sha256:<64 hex>" */
	char image_name[256];        /* what it was created from: "api:latest" */
};

static void json_copy_text(json_t *value, char *to, size_t size)
{
	snprintf(to, size, "%s", json_is_string(value) ? json_string_value(value) : "");
}

/*
 * Read the service's container: `ps -a -q` for its ID (stopped ones too,
 * so that an exited container is told from a missing one), then `docker
 * inspect`. Returns 1 with *cs filled, 0 when the service has no container,
 * -1 when docker could not say (the reason in why).
 */
static int compose_container(const struct service *svc, struct container_state *cs, char *why,
			     size_t size)
{
	char *ps[] = { "ps", "-a", "-q", svc->compose_service, NULL };
	/* Only what is judged, as one JSON object: a whole inspect, healthcheck
	 * logs and all, could outgrow the output kept. */
	char *inspect[] = { "docker", "inspect", "--type", "container", "--format",
			    "{\"status\":{{json .State.Status}},\"health\":"
			    "{{if .State.Health}}{{json .State.Health.Status}}{{else}}\"\"{{end}},"
			    "\"restarts\":{{.RestartCount}},\"exit_code\":{{.State.ExitCode}},"
			    "\"image\":{{json .Image}},\"image_name\":{{json .Config.Image}}}",
			    cs->id, NULL };
	struct strbuf out = STRBUF_INIT;
	struct error failed = ERROR_INIT;
	int status, rc = -1;

	memset(cs, 0, sizeof(*cs));
	if (compose_detect(&failed) < 0) {
		snprintf(why, size, "%s", failed.msg);
		return -1;
	}
	char **argv = compose_command(svc, ps);
	/* Its stderr too, kept from lastgood's own (v1 writes a Python
	 * traceback there when the daemon is away): the IDs are the lines of
	 * 64 hex digits among its warnings. */
	if (manager_run_program(svc, argv, MANAGER_RUN_IN_WORKDIR | MANAGER_RUN_MERGE_STDERR, &out,
				&status, &failed) < 0) {
		snprintf(why, size, "%s", failed.msg);
		goto out;
	}
	if (status != 0) {
		char line[160];
		if (!compose_daemon_away(svc, line, sizeof(line)))
			compose_error_line(&out, line, sizeof(line));
		snprintf(why, size, "'%s ps' exited with status %d: %s", argv[0], status, line);
		goto out;
	}
	/* The first one: a service scaled up has several containers. */
	for (const char *p = out.buf; p && !cs->id[0]; p = strchr(p, '\n')) {
		p += *p == '\n';
		if (strspn(p, "0123456789abcdef") == 64 && (p[64] == '\n' || !p[64]))
			memcpy(cs->id, p, 64);
	}
	if (!cs->id[0]) {
		rc = 0;
		goto out;
	}
	strbuf_reset(&out);
	if (manager_run_program(svc, inspect, MANAGER_RUN_IN_WORKDIR | MANAGER_RUN_MERGE_STDERR, &out,
				&status, &failed) < 0) {
		snprintf(why, size, "%s", failed.msg);
		goto out;
	}
	json_t *state = status == 0 ? json_loadb(out.buf, out.len, 0, NULL) : NULL;
	json_t *container_status = json_object_get(state, "status");
	if (!json_is_string(container_status)) {
		snprintf(why, size, "'docker inspect %.12s' gave no container state", cs->id);
	} else {
		json_copy_text(container_status, cs->status, sizeof(cs->status));
		json_copy_text(json_object_get(state, "health"), cs->health, sizeof(cs->health));
		cs->restarts = (long)json_integer_value(json_object_get(state, "restarts"));
		cs->exit_code = (long)json_integer_value(json_object_get(state, "exit_code"));
		json_copy_text(json_object_get(state, "image"), cs->image, sizeof(cs->image));
		json_copy_text(json_object_get(state, "image_name"), cs->image_name,
			       sizeof(cs->image_name));
		rc = 1;
	}
	json_decref(state);
out:
	free(argv);
	strbuf_release(&out);
	return rc;
}

int compose_running_image(const struct service *svc, char **id, char **name,
			  struct error *err)
{
	struct container_state cs;
	char why[512];
	int found = compose_container(svc, &cs, why, sizeof(why));
	if (found < 0)
		return error_set(err, ERROR_FAILED, "%s", why);
	if (!found || strcmp(cs.status, "running"))
		return error_set(err, ERROR_FAILED, "no running container of compose service '%s'",
				 svc->compose_service);
	*id = xstrdup(cs.image);
	*name = xstrdup(cs.image_name);
	return 0;
}

static int compose_inspect(struct state *st, const struct service *svc,
			   struct service_info *info, struct error *err)
{
	struct container_state cs;
	char why[sizeof(info->detail)];

	(void)st;
	(void)err;
	int found = compose_container(svc, &cs, why, sizeof(why));
	if (found < 0) {
		manager_info_unknown(info, why);
	} else if (!found) {
		info->running = 0;
		snprintf(info->detail, sizeof(info->detail), "no container");
	} else {
		info->running = !strcmp(cs.status, "running") || !strcmp(cs.status, "restarting");
		snprintf(info->detail, sizeof(info->detail), "container %.12s %s%s%s, restarted %ld times",
			 cs.id, cs.status, cs.health[0] ? ", health " : "", cs.health, cs.restarts);
	}
	return 0;
}

/* The restart count each container had when this process first looked at
 * it: a count rising past it is a restart loop, whatever came before. */
static struct seen_container {
	char id[72];
	long restarts;
} *seen;
static size_t nseen, seen_alloc;

static long compose_restarts_first_seen(const struct container_state *cs)
{
	for (size_t i = 0; i < nseen; i++)
		if (!strcmp(seen[i].id, cs->id))
			return seen[i].restarts;
	ALLOC_GROW(seen, nseen + 1, seen_alloc);
	memcpy(seen[nseen].id, cs->id, sizeof(cs->id));
	seen[nseen].restarts = cs->restarts;
	nseen++;
	return cs->restarts;
}

/*
 * The container's own account, between health rounds: a container that
 * restarts (restarting now, or its count risen), has exited, or whose
 * healthcheck says unhealthy has failed at once; one whose healthcheck is
 * starting, or that docker cannot describe, is not ready yet.
 */
static enum health_liveness compose_liveness(struct state *st, const struct service *svc,
					     char *why, size_t size)
{
	struct container_state cs;
	char reason[200];

	(void)st;
	int found = compose_container(svc, &cs, reason, sizeof(reason));
	if (found < 0) {
		snprintf(why, size, "cannot inspect its container: %s", reason);
		return HEALTH_NOT_READY;
	}
	if (!found) {
		snprintf(why, size, "no container");
		return HEALTH_GONE;
	}
	long first = compose_restarts_first_seen(&cs);
	if (!strcmp(cs.status, "restarting") || cs.restarts > first) {
		snprintf(why, size, "container %.12s restarting in a loop (restarted %ld times, "
			 "last exit status %ld)", cs.id, cs.restarts, cs.exit_code);
		return HEALTH_GONE;
	}
	if (!strcmp(cs.status, "exited") || !strcmp(cs.status, "dead")) {
		snprintf(why, size, "container %.12s exited with status %ld", cs.id, cs.exit_code);
		return HEALTH_GONE;
	}
	if (!strcmp(cs.health, "unhealthy")) {
		snprintf(why, size, "container %.12s healthcheck: unhealthy", cs.id);
		return HEALTH_GONE;
	}
	if (strcmp(cs.status, "running") || (cs.health[0] && strcmp(cs.health, "healthy"))) {
		snprintf(why, size, "container %.12s %s%s%s", cs.id, cs.status,
			 cs.health[0] ? ", healthcheck " : "", cs.health);
		return HEALTH_NOT_READY;
	}
	return HEALTH_UP;
}

static const struct manager_key compose_keys[] = {
	{ "service", 0 },
	{ NULL, 0 },
};

const struct service_manager manager_compose = {
	.name = "compose",
	.keys = compose_keys,
	.configure = compose_configure,
	.start = compose_start,
	.stop = compose_stop,
	.inspect = compose_inspect,
	.liveness = compose_liveness,
};
