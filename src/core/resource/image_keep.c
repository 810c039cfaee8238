/*
 * Keep containers: one created, never-started container per recorded
 * image, so that `docker image prune -a` leaves it; made when a release
 * records an image, removed by gc with the last release that records it,
 * checked by fsck (image_keep.h).
 */
#include "core/resource/image_keep.h"
#include "core/config.h"
#include "core/manager/program.h"
#include "core/resource/images.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define KEEP_LABEL "lastgood.keep"
#define KEEP_IMAGE_LABEL "lastgood.image"
#define KEEP_IDENTITY_KEY "keep_identity"
/* The identity's random bytes: 96 bits, shown as 24 hex digits. */
#define KEEP_IDENTITY_BYTES 12

/*
 * Run docker argv as svc's commands run (its workdir and `env`, so its
 * DOCKER_HOST), or in lastgood's own environment when no compose service
 * is left in the config to ask. stderr goes into out, for messages. -1
 * only when docker could not run at all.
 */
static int keep_docker(const struct service *svc, char *const *argv, struct strbuf *out,
		       int *status, struct error *err)
{
	struct process_options opts = { .merge_stderr = 1 };
	if (svc)
		return manager_run_program(svc, argv, MANAGER_RUN_IN_WORKDIR |
					   MANAGER_RUN_MERGE_STDERR, out, status, err);
	return process_run_with(argv, &opts, out, status, err);
}

/* Run docker argv and want exit 0: else ERROR_FAILED naming what (a verb
 * phrase: "list keep containers") and docker's last line. */
static int keep_docker_ok(const struct service *svc, char *const *argv, const char *what,
			  struct strbuf *out, struct error *err)
{
	char line[400];
	int status;
	strbuf_reset(out);
	if (keep_docker(svc, argv, out, &status, err) < 0) {
		error_prefix(err, "cannot %s", what);
		return -1;
	}
	if (status == 0)
		return 0;
	manager_last_line(out, line, sizeof(line));
	return error_set(err, ERROR_FAILED, "cannot %s: '%s %s' exited with status %d: %s", what,
			 argv[0], argv[1], status, line);
}

/* The first compose service of cfg, whose docker the stack uses; the one
 * named service when the config still has it. NULL when there is none. */
static const struct service *keep_service(const struct config *cfg, const char *service)
{
	const struct service *first = NULL;
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		if (svc->manager != MANAGER_COMPOSE)
			continue;
		if (service && !strcmp(svc->name, service))
			return svc;
		if (!first)
			first = svc;
	}
	return first;
}

/*
 * This state folder's identity (24 hex digits), made the first time when
 * create says so. NULL without an error when there is none yet: nothing
 * was ever kept. Two commands making it at once agree on whichever was
 * written first. The caller frees it.
 */
static char *keep_identity(struct state *st, int create, struct error *err)
{
	unsigned char bytes[KEEP_IDENTITY_BYTES];
	struct strbuf hex = STRBUF_INIT;
	sqlite3_stmt *stmt;
	char *identity = state_get_meta(st, KEEP_IDENTITY_KEY);

	if (identity || !create)
		return identity;
	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
		error_errno(err, ERROR_FAILED, errno, "cannot make the keep containers' identity");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(bytes); i++)
		strbuf_addf(&hex, "%02x", bytes[i]);
	if (state_prepare(st, "INSERT INTO meta(key, value) VALUES(?, ?) "
			  "ON CONFLICT(key) DO NOTHING", &stmt, err) == 0) {
		sqlite3_bind_text(stmt, 1, KEEP_IDENTITY_KEY, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, hex.buf, -1, SQLITE_STATIC);
		int rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (rc == SQLITE_DONE)
			identity = state_get_meta(st, KEEP_IDENTITY_KEY);
		else
			state_db_error(st, "record the keep containers' identity", err);
	}
	strbuf_release(&hex);
	return identity;
}

/* "lastgood-keep-<12 of identity>-<12 of the image>"; the caller frees. */
static char *keep_name(const char *identity, const char *image_id)
{
	char shown[IMAGE_SHORT_ID_SIZE];
	return xstrfmt("lastgood-keep-%.12s-%s", identity, image_short_id(image_id, shown));
}

int image_keep(struct state *st, const struct service *svc, const char *image_id,
	       struct error *err)
{
	struct strbuf out = STRBUF_INIT;
	int rc;
	char *identity = keep_identity(st, 1, err);
	if (!identity) {
		error_prefix(err, "image %s is not protected from pruning", image_id);
		return -1;
	}
	char *name = keep_name(identity, image_id);
	char *label = xstrfmt(KEEP_LABEL "=%s", identity);
	char *image_label = xstrfmt(KEEP_IMAGE_LABEL "=%s", image_id);
	char *inspect[] = { "docker", "container", "inspect", "--format",
			    "{{.Image}} {{index .Config.Labels \"" KEEP_LABEL "\"}}", name, NULL };
	char *create[] = { "docker", "create", "--name", name, "--network", "none",
			   "--label", label, "--label", image_label, (char *)image_id,
			   "lastgood-keep", NULL };
	char *expected = xstrfmt("%s %s\n", image_id, identity);
	struct error absent = ERROR_INIT;

	if (keep_docker_ok(svc, inspect, "inspect", &out, &absent) == 0)
		rc = strcmp(out.buf, expected) ? error_set(err, ERROR_FAILED, "a container "
			"named '%s' that lastgood did not create for it is in the way", name) : 0;
	else
		rc = keep_docker_ok(svc, create, "create its keep container", &out, err);
	free(expected);
	free(image_label);
	free(label);
	free(name);
	free(identity);
	strbuf_release(&out);
	if (rc < 0)
		error_prefix(err, "image %s is not protected from pruning", image_id);
	return rc;
}

/* A keep container of ours, as `docker ps` lists it. */
struct keep_container {
	char *container;             /* its full ID */
	char *name;
	char *image;
};

static void keep_containers_free(struct keep_container *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].container);
		free(list[i].name);
		free(list[i].image);
	}
	free(list);
}

/*
 * Every container docker has with this identity's label, kept only when
 * its name is the one the label and its image give: a container someone
 * else named alike, or labelled alike under another name, is not ours.
 * identity NULL lists none but still asks docker, so that a daemon that
 * does not answer is an error either way.
 */
static int keep_containers(const struct service *svc, const char *identity,
			   struct keep_container **list, size_t *n, struct error *err)
{
	char *filter = xstrfmt("label=" KEEP_LABEL "=%s", identity ? identity : "");
	char *ps[] = { "docker", "ps", "-a", "--no-trunc", "--filter", filter, "--format",
		       "{{.ID}}\t{{.Names}}\t{{.Label \"" KEEP_IMAGE_LABEL "\"}}", NULL };
	struct strbuf out = STRBUF_INIT;
	size_t alloc = 0;
	int rc = keep_docker_ok(svc, ps, "list keep containers", &out, err);

	*list = NULL;
	*n = 0;
	for (char *line = out.buf; rc == 0 && identity && *line;) {
		char *end = line + strcspn(line, "\n");
		char *next = *end ? end + 1 : end;
		*end = '\0';
		char *name = strchr(line, '\t');
		char *image = name ? strchr(name + 1, '\t') : NULL;
		if (image) {
			*name++ = '\0';
			*image++ = '\0';
			char *expected = keep_name(identity, image);
			if (!strcmp(name, expected)) {
				ALLOC_GROW(*list, *n + 1, alloc);
				(*list)[(*n)++] = (struct keep_container){ xstrdup(line), xstrdup(name),
									   xstrdup(image) };
			}
			free(expected);
		}
		line = next;
	}
	strbuf_release(&out);
	free(filter);
	return rc;
}

static int keep_recorded(const struct release_image *rows, size_t n, const char *image_id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].id, image_id))
			return 1;
	return 0;
}

void image_keep_release_unused(struct state *st, const struct config *cfg,
			       struct image_keep_sweep *sweep)
{
	const struct service *svc = keep_service(cfg, NULL);
	struct error err = ERROR_INIT;
	struct release_image *rows = NULL;
	struct keep_container *kept = NULL;
	size_t nrows = 0, nkept = 0;
	struct strbuf out = STRBUF_INIT;
	char *identity = keep_identity(st, 0, &err);

	if (!identity)
		return;   /* nothing was ever kept */
	if (release_images(st, 0, LONG_MAX, &rows, &nrows, &err) < 0 ||
	    keep_containers(svc, identity, &kept, &nkept, &err) < 0)
		goto out;
	for (size_t i = 0; i < nkept && err.kind == ERROR_NONE; i++) {
		char *rm[] = { "docker", "rm", kept[i].container, NULL };
		if (keep_recorded(rows, nrows, kept[i].image))
			continue;
		if (keep_docker_ok(svc, rm, "remove a keep container", &out, &err) == 0) {
			ALLOC_GROW(sweep->released, sweep->nreleased + 1, sweep->alloc);
			sweep->released[sweep->nreleased++] = xstrdup(kept[i].image);
		} else {
			error_prefix(&err, "keep container '%s'", kept[i].name);
		}
	}
out:
	if (err.kind != ERROR_NONE)
		sweep->note = xstrfmt("the keep containers of images no release records were not "
				      "all removed (a later gc removes them): %s", err.msg);
	strbuf_release(&out);
	keep_containers_free(kept, nkept);
	release_images_free(rows, nrows);
	free(identity);
}

void image_keep_sweep_clear(struct image_keep_sweep *sweep)
{
	for (size_t i = 0; i < sweep->nreleased; i++)
		free(sweep->released[i]);
	free(sweep->released);
	free(sweep->note);
	memset(sweep, 0, sizeof(*sweep));
}

static struct image_keep_problem *keep_problem_add(struct image_keep_check *check,
						   enum image_keep_problem_kind kind,
						   const char *id, const char *service)
{
	ALLOC_GROW(check->problems, check->nproblems + 1, check->alloc);
	struct image_keep_problem *p = &check->problems[check->nproblems++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->id = xstrdup(id);
	p->service = service ? xstrdup(service) : NULL;
	return p;
}

/* The keep container of image_id among kept, or NULL. */
static const struct keep_container *keep_find(const struct keep_container *kept, size_t n,
					      const char *image_id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kept[i].image, image_id))
			return &kept[i];
	return NULL;
}

/*
 * One image ID, recorded by rows[first] and maybe later rows: gone from
 * the daemon, or there without its keep container (created again here:
 * nothing else would put it back, and creating one is all a snapshot
 * would do).
 */
static void keep_check_image(struct state *st, const struct config *cfg,
			     const struct release_image *rows, size_t nrows, size_t first,
			     const struct keep_container *kept, size_t nkept,
			     struct image_keep_check *check)
{
	const struct release_image *row = &rows[first];
	const struct service *svc = keep_service(cfg, row->service);
	char *inspect[] = { "docker", "image", "inspect", "--format", "{{.Id}}", row->id, NULL };
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	struct image_keep_problem *p = NULL;

	check->images++;
	if (keep_docker_ok(svc, inspect, "inspect", &out, &err) < 0)
		p = keep_problem_add(check, IMAGE_KEEP_GONE, row->id, row->service);
	else if (!keep_find(kept, nkept, row->id))
		p = keep_problem_add(check, IMAGE_KEEP_UNKEPT, row->id, row->service);
	strbuf_release(&out);
	if (!p)
		return;
	for (size_t i = first; i < nrows; i++)
		if (!strcmp(rows[i].id, row->id) &&
		    (!p->nreleases || p->releases[p->nreleases - 1] != rows[i].release)) {
			ALLOC_GROW(p->releases, p->nreleases + 1, p->alloc);
			p->releases[p->nreleases++] = rows[i].release;
		}
	if (p->kind != IMAGE_KEEP_UNKEPT)
		return;
	error_clear(&err);
	if (image_keep(st, svc, row->id, &err) < 0)
		p->repair_error = xstrdup(err.msg);
	else
		p->recreated = 1;
	char *identity = keep_identity(st, 0, &err);
	if (identity)
		p->container = keep_name(identity, row->id);
	free(identity);
}

void image_keep_check(struct state *st, const struct config *cfg,
		      struct image_keep_check *check)
{
	struct error err = ERROR_INIT;
	struct release_image *rows = NULL;
	struct keep_container *kept = NULL;
	size_t nrows = 0, nkept = 0;
	char *identity = keep_identity(st, 0, &err);

	if (release_images(st, 0, LONG_MAX, &rows, &nrows, &err) < 0 ||
	    (nrows && keep_containers(keep_service(cfg, NULL), identity, &kept, &nkept,
				      &err) < 0)) {
		check->note = xstrfmt("images were not checked: %s", err.msg);
		goto out;
	}
	/* rows are by release: an image is checked at its first row. */
	for (size_t i = 0; i < nrows; i++) {
		size_t first = 0;
		while (strcmp(rows[first].id, rows[i].id))
			first++;
		if (first == i)
			keep_check_image(st, cfg, rows, nrows, i, kept, nkept, check);
	}
	for (size_t i = 0; i < nkept; i++)
		if (!keep_recorded(rows, nrows, kept[i].image))
			keep_problem_add(check, IMAGE_KEEP_STRAY, kept[i].image, NULL)->container =
				xstrdup(kept[i].name);
out:
	keep_containers_free(kept, nkept);
	release_images_free(rows, nrows);
	free(identity);
}

int image_keep_check_damaged(const struct image_keep_check *check)
{
	for (size_t i = 0; i < check->nproblems; i++)
		if (check->problems[i].kind != IMAGE_KEEP_STRAY)
			return 1;
	return 0;
}

void image_keep_check_clear(struct image_keep_check *check)
{
	for (size_t i = 0; i < check->nproblems; i++) {
		struct image_keep_problem *p = &check->problems[i];
		free(p->id);
		free(p->service);
		free(p->releases);
		free(p->container);
		free(p->repair_error);
	}
	free(check->problems);
	free(check->note);
	memset(check, 0, sizeof(*check));
}
