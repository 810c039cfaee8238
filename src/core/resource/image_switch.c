/*
 * The images resource: a compose service runs the image its release
 * recorded (images.h), brought back by ID and never built or pulled. The
 * compose file names images (`image: api:1`); the switch tags that name
 * to the recorded ID, and compose's `up -d` then recreates the container
 * on it.
 *
 *   plan      for each selected compose service whose recorded image
 *             differs between the live release and the target (both
 *             recorded): "check image" (prepare) and "tag" (commit), and
 *             the service changes; a target that recorded none for it
 *             gets a "keep image" step: its names are left alone
 *   prepare   each target ID is in docker's local store (`docker image
 *             inspect`), else the whole switch is refused before anything
 *             changed; each tag is journaled (image_tags)
 *   commit    each tag: the ID its name points to now is journaled, then
 *             `docker tag ID NAME`
 *   undo, revert, recover (before the commit point)
 *             the names tagged go back to the IDs journaled, newest
 *             first; a name that pointed to nothing before keeps the new
 *             ID (untagging could delete an image no other name holds)
 *   finish, recover (past it)
 *             settle the journal: the tags stay
 */
#include "core/resource/resource.h"
#include "core/resource/images.h"
#include "core/config.h"
#include "core/manager/program.h"
#include "core/manifest.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* One name a switch tags: the service's, to the target's image. */
struct image_tag {
	const struct service *svc;
	char *name;
	char *to_id;
};

struct images_plan {
	const struct config *cfg;    /* a failed commit finds its services there */
	struct image_tag *tags;
	size_t n, alloc;
	const struct service **left; /* the target recorded no image for them */
	size_t nleft, left_alloc;
	long release;                /* the release the IDs were recorded with */
	struct error read_err;       /* the record could not be read: prepare says so */
};

/* ---- docker ---- */

/*
 * Run `docker ARGS...` in svc's environment (its DOCKER_HOST); out gets
 * what it printed, stderr too. Returns its exit status, or -1 with err
 * when it could not run.
 */
static int docker_run(const struct service *svc, char *const *args, struct strbuf *out,
		      struct error *err)
{
	int status;
	strbuf_reset(out);
	if (manager_run_program(svc, args, MANAGER_RUN_IN_WORKDIR | MANAGER_RUN_MERGE_STDERR, out,
				&status, err) < 0)
		return -1;
	while (out->len && (out->buf[out->len - 1] == '\n' || out->buf[out->len - 1] == ' '))
		strbuf_setlen(out, out->len - 1);
	return status;
}

/* docker's failure to run args, with the last line it printed. */
static int docker_failed(const struct service *svc, char *const *args, int status,
			 const struct strbuf *out, struct error *err)
{
	char line[256];
	struct strbuf command = STRBUF_INIT;
	for (size_t i = 0; args[i]; i++)
		strbuf_addf(&command, "%s%s", i ? " " : "", args[i]);
	manager_last_line(out, line, sizeof(line));
	error_set(err, ERROR_FAILED, "service '%s': '%s' exited with status %d: %s", svc->name,
		  command.buf, status, line);
	strbuf_release(&command);
	return -1;
}

/* The ID name (or an ID) stands for in docker's local store: *id gets it
 * (caller frees), or NULL when the store has no such image. A docker that
 * cannot say (its daemon away) is an error, not an absent image. */
static int docker_image_id(const struct service *svc, const char *name, char **id,
			   struct error *err)
{
	char *args[] = { "docker", "image", "inspect", "--format", "{{.Id}}", (char *)name, NULL };
	struct strbuf out = STRBUF_INIT;
	int status = docker_run(svc, args, &out, err);
	*id = status == 0 ? strbuf_detach(&out) : NULL;
	if (status > 0 && !strcasestr(out.buf, "no such image"))
		status = docker_failed(svc, args, status, &out, err);
	strbuf_release(&out);
	return status < 0 ? -1 : 0;
}

static int docker_tag(const struct service *svc, const char *id, const char *name,
		      struct error *err)
{
	char *args[] = { "docker", "tag", (char *)id, (char *)name, NULL };
	struct strbuf out = STRBUF_INIT;
	int status = docker_run(svc, args, &out, err);
	if (status > 0)
		docker_failed(svc, args, status, &out, err);
	strbuf_release(&out);
	return status == 0 ? 0 : -1;
}

/* ---- the journal: image_tags ---- */

struct tag_record {
	char *service;
	char *name;
	char *from_id;               /* "" when the name pointed to nothing */
	char *to_id;
	int tagging;                 /* the tag may have happened */
};

static void tag_records_free(struct tag_record *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].service);
		free(r[i].name);
		free(r[i].from_id);
		free(r[i].to_id);
	}
	free(r);
}

/* op's tags not settled yet, the newest first: the order they go back in
 * (two services may share a name). */
static int tag_records_load(struct state *st, long op, struct tag_record **out, size_t *n,
			    struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	int rc;
	*out = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT service, name, from_id, to_id, tagging FROM image_tags "
			  "WHERE operation = ? AND settled = 0 ORDER BY id DESC", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, op);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*out, *n + 1, alloc);
		struct tag_record *r = &(*out)[(*n)++];
		r->service = state_column_text(stmt, 0);
		r->name = state_column_text(stmt, 1);
		r->from_id = state_column_text(stmt, 2);
		r->to_id = state_column_text(stmt, 3);
		r->tagging = sqlite3_column_int(stmt, 4);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		tag_records_free(*out, *n);
		*out = NULL;
		*n = 0;
		return state_db_error(st, "read image tags", err);
	}
	return 0;
}

/* A row a going back of the same operation settled is replaced: the
 * switch back tags anew. */
static int tag_begin(struct state *st, long op, const struct image_tag *tag, struct error *err)
{
	return state_exec_bound(st, "INSERT OR REPLACE INTO image_tags(operation, service, name, "
				"to_id) VALUES(?1, ?2, ?3, ?4)", op, tag->svc->name, tag->name,
				tag->to_id, "record image tag", err);
}

static int tag_tagging(struct state *st, long op, const char *service, const char *from_id,
		       struct error *err)
{
	return state_exec_bound(st, "UPDATE image_tags SET tagging = 1, from_id = ?3 "
				"WHERE operation = ?1 AND service = ?2", op, service, from_id,
				NULL, "record image tag", err);
}

static int tag_settle(struct state *st, long op, const char *service, struct error *err)
{
	return state_exec_bound(st, "UPDATE image_tags SET settled = 1 "
				"WHERE operation = ?1 AND service = ?2", op, service, NULL, NULL,
				"settle image tag", err);
}

/* ---- going back ---- */

/* Tag r's name back to the ID it pointed to, journaled as a "tag" step
 * ("back"); a name that pointed to nothing is left on the new ID. */
static int tag_back(struct state *st, const struct config *cfg, long op,
		    const struct tag_record *r, struct error *err)
{
	const struct service *svc = config_find_service(cfg, r->service);
	char was[IMAGE_SHORT_ID_SIZE], back[IMAGE_SHORT_ID_SIZE];
	long step;

	if (!*r->from_id)
		return 0;
	if (!svc)
		return error_set(err, ERROR_ATTENTION, "service '%s' tagged by operation %ld is no "
				 "longer in the config: tag it back by hand with 'docker tag %s "
				 "%s'", r->service, op, r->from_id, r->name);
	if (operation_step_begin(st, op, STEP_TAG, r->service, &step, err) < 0)
		return -1;
	if (docker_tag(svc, r->from_id, r->name, err) < 0) {
		operation_step_fail(st, step, err);
		err->kind = ERROR_ATTENTION;
		return -1;
	}
	char *detail = xstrfmt("%s %s -> %s (back)", r->name, image_short_id(r->to_id, was),
			       image_short_id(r->from_id, back));
	int rc = operation_step_end(st, step, STEP_OK, detail, err);
	free(detail);
	return rc;
}

/* Every unsettled tag of op goes back (those that may have happened),
 * newest first, and is settled. *moved: any went back. */
static int tags_go_back(struct state *st, const struct config *cfg, long op, int *moved,
			struct error *err)
{
	struct tag_record *r;
	size_t n;
	int rc = 0;
	*moved = 0;
	if (tag_records_load(st, op, &r, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (r[i].tagging) {
			rc = tag_back(st, cfg, op, &r[i], err);
			*moved = 1;
		}
		if (rc == 0)
			rc = tag_settle(st, op, r[i].service, err);
	}
	tag_records_free(r, n);
	return rc;
}

static int tags_settle_all(struct state *st, long op, struct error *err)
{
	struct tag_record *r;
	size_t n;
	int rc = 0;
	if (tag_records_load(st, op, &r, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = tag_settle(st, op, r[i].service, err);
	tag_records_free(r, n);
	return rc;
}

/* ---- the protocol ---- */

static int selected_compose(const struct resource_input *in, const struct service *svc)
{
	size_t s = (size_t)(svc - in->cfg->services);
	return svc->manager == MANAGER_COMPOSE && (!in->selected || in->selected[s]);
}

/* The files compose reads for svc's project when none are configured,
 * in its workdir. */
static const char *const compose_default_files[] = {
	"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml", ".env", NULL,
};

/* Whether path is, or holds, a file compose reads for svc's project: its
 * compose files (or the defaults in its workdir) and the workdir's .env. */
static int compose_reads(const struct service *svc, const char *path)
{
	int found = 0;
	for (size_t i = 0; !found && i < svc->compose_files.n; i++)
		found = path_within(svc->compose_files.v[i], path);
	for (size_t i = 0; !found && compose_default_files[i]; i++) {
		if (svc->compose_files.n && strcmp(compose_default_files[i], ".env"))
			continue;
		char *file = path_join(svc->workdir, compose_default_files[i]);
		found = path_within(file, path);
		free(file);
	}
	return found;
}

/* The whole project switches as one: when the switch changes a file its
 * compose reads, every selected service of it is stopped and started
 * (compose's `up -d` recreates the containers whose definition changed),
 * not only the service whose files hold it. */
static void mark_project(const struct resource_input *in, unsigned char *changed)
{
	for (size_t c = 0; c < in->files->n; c++) {
		const char *path = switch_change_entry(&in->files->changes[c])->path;
		for (size_t s = 0; s < in->cfg->nservices; s++) {
			const struct service *svc = &in->cfg->services[s];
			if (selected_compose(in, svc) && compose_reads(svc, path))
				changed[s] = 1;
		}
	}
}

/* Read from the two releases' records alone: docker is asked in prepare,
 * so a dry run says what the switch would do without it. */
static size_t images_plan(const struct resource_input *in, struct plan *plan,
			  unsigned char *changed, void **data)
{
	const struct config *cfg = in->cfg;
	struct images_plan *ip = xcalloc(1, sizeof(*ip));
	struct release_image *old = NULL, *new = NULL;
	size_t nold = 0, nnew = 0;

	*data = ip;
	ip->cfg = cfg;
	ip->release = in->chosen_id;
	mark_project(in, changed);
	if (!in->live_id || !in->chosen_id || in->live_id == in->chosen_id)
		return 0;
	if (release_images(in->st, in->live_id, in->live_id, &old, &nold, &ip->read_err) < 0 ||
	    release_images(in->st, in->chosen_id, in->chosen_id, &new, &nnew, &ip->read_err) < 0) {
		release_images_free(old, nold);
		return 1;   /* prepare refuses, saying why */
	}
	struct image_change *changes;
	size_t nchanges;
	images_changed(old, nold, new, nnew, &changes, &nchanges);
	for (size_t i = 0; i < nchanges; i++) {
		const struct image_change *c = &changes[i];
		const struct service *svc = config_find_service(cfg, c->service);
		if (!svc || !selected_compose(in, svc) || !c->old)
			continue;
		if (!c->new) {
			ALLOC_GROW(ip->left, ip->nleft + 1, ip->left_alloc);
			ip->left[ip->nleft++] = svc;
			plan_add(plan, STEP_KEEP_IMAGE, PLAN_PREPARE, svc->name, 0);
			char *note = xstrfmt("release %ld recorded no image for it: the image its "
					     "name points to stays", in->chosen_id);
			plan_note(plan, note);
			free(note);
			continue;
		}
		char shown[IMAGE_SHORT_ID_SIZE];
		ALLOC_GROW(ip->tags, ip->n + 1, ip->alloc);
		ip->tags[ip->n++] = (struct image_tag){ svc, xstrdup(c->new->name),
							 xstrdup(c->new->id) };
		changed[svc - cfg->services] = 1;
		char *note = xstrfmt("%s (release %ld)", image_short_id(c->new->id, shown),
				     in->chosen_id);
		plan_add(plan, STEP_CHECK_IMAGE, PLAN_PREPARE, svc->name, 0);
		plan_note(plan, note);
		free(note);
		note = xstrfmt("%s to %s", c->new->name, shown);
		plan_add(plan, STEP_TAG, PLAN_COMMIT, svc->name, 0);
		plan_note(plan, note);
		free(note);
	}
	free(changes);
	release_images_free(old, nold);
	release_images_free(new, nnew);
	return ip->n;
}

/* Each target ID must be in docker's store, or nothing changes: lastgood
 * never pulls or builds. Then each tag is journaled. */
static int images_prepare(struct state *st, long op, void *data, struct error *err)
{
	struct images_plan *ip = data;
	if (ip->read_err.kind != ERROR_NONE) {
		*err = ip->read_err;
		return -1;
	}
	for (size_t i = 0; i < ip->nleft; i++)
		if (operation_step_note(st, op, STEP_KEEP_IMAGE, ip->left[i]->name, STEP_SKIPPED,
					"the target recorded no image for it", err) < 0)
			return -1;
	for (size_t i = 0; i < ip->n; i++) {
		const struct image_tag *tag = &ip->tags[i];
		char shown[IMAGE_SHORT_ID_SIZE];
		char *present;
		long step;
		if (operation_step_begin(st, op, STEP_CHECK_IMAGE, tag->svc->name, &step, err) < 0)
			return -1;
		if (docker_image_id(tag->svc, tag->to_id, &present, err) < 0) {
			operation_step_fail(st, step, err);
			return -1;
		}
		if (!present) {
			error_set(err, ERROR_FAILED, "service '%s': image %s of release %ld is not in "
				  "docker's local store (lastgood never pulls or builds): load it "
				  "with 'docker load', or roll back to another release",
				  tag->svc->name, tag->to_id, ip->release);
			operation_step_fail(st, step, err);
			return -1;
		}
		free(present);
		if (operation_step_end(st, step, STEP_OK, image_short_id(tag->to_id, shown), err) < 0)
			return -1;
	}
	for (size_t i = 0; i < ip->n; i++)
		if (tag_begin(st, op, &ip->tags[i], err) < 0)
			return -1;
	return 0;
}

static int images_check(struct state *st, long op, void *data, long live_id, struct error *err)
{
	(void)st, (void)op, (void)data, (void)live_id, (void)err;
	return 0;
}

/* One tag, journaled before (the ID its name points to now) and after
 * (the step's end). */
static int tag_one(struct state *st, long op, const struct image_tag *tag, struct error *err)
{
	char was[IMAGE_SHORT_ID_SIZE], now[IMAGE_SHORT_ID_SIZE];
	char *from;
	long step;

	if (operation_step_begin(st, op, STEP_TAG, tag->svc->name, &step, err) < 0)
		return -1;
	if (docker_image_id(tag->svc, tag->name, &from, err) < 0 ||
	    tag_tagging(st, op, tag->svc->name, from ? from : "", err) < 0 ||
	    docker_tag(tag->svc, tag->to_id, tag->name, err) < 0) {
		free(from);
		operation_step_fail(st, step, err);
		return -1;
	}
	char *detail = xstrfmt("%s %s -> %s", tag->name, from ? image_short_id(from, was) : "none",
			       image_short_id(tag->to_id, now));
	free(from);
	int rc = operation_step_end(st, step, STEP_OK, detail, err);
	free(detail);
	return rc;
}

/* On a failure the names tagged so far go back before it returns. */
static int images_commit(struct state *st, long op, void *data, struct error *err)
{
	struct images_plan *ip = data;
	for (size_t i = 0; i < ip->n; i++)
		if (tag_one(st, op, &ip->tags[i], err) < 0) {
			struct error back_err = ERROR_INIT;
			int moved;
			if (tags_go_back(st, ip->cfg, op, &moved, &back_err) < 0)
				error_undo_failed(err, &back_err);
			return -1;
		}
	return 0;
}

static int images_undo(struct state *st, const struct config *cfg, long op, struct error *err)
{
	int moved;
	struct error own = ERROR_INIT;
	if (tags_go_back(st, cfg, op, &moved, &own) < 0)
		error_undo_failed(err, &own);
	return -1;
}

static int images_kept(struct state *st, const struct config *cfg, long op, struct error *err)
{
	struct tag_record *r;
	size_t n;
	(void)cfg;
	int may_revert = operation_may_revert(st, op, err);
	if (may_revert < 0 || tag_records_load(st, op, &r, &n, err) < 0)
		return -1;
	int kept = 0;
	for (size_t i = 0; i < n; i++)
		kept |= r[i].tagging;
	tag_records_free(r, n);
	return kept && may_revert;
}

static int images_revert(struct state *st, const struct config *cfg, long op, long back_to,
			 struct error *err)
{
	int moved;
	(void)back_to;   /* the journal's from-IDs are back_to's */
	return tags_go_back(st, cfg, op, &moved, err);
}

static int images_finish(struct state *st, const struct config *cfg, long op, void *data,
			 int target_stays, struct error *err)
{
	(void)cfg, (void)data, (void)target_stays;
	return tags_settle_all(st, op, err);
}

static int images_recover(struct state *st, const struct config *cfg, long op,
			  enum switch_outcome *outcome, struct error *err)
{
	int moved;
	*outcome = SWITCH_NOTHING;
	int stays = operation_stays_on_target(st, op, err);
	if (stays < 0)
		return -1;
	if (stays) {
		*outcome = SWITCH_FINISHED;
		return tags_settle_all(st, op, err);
	}
	if (tags_go_back(st, cfg, op, &moved, err) < 0)
		return -1;
	if (moved)
		*outcome = SWITCH_UNDONE;
	return 0;
}

/* Going back needs only the journal and the images, which finish keeps. */
static int images_recoverable_from_store(struct state *st, void *data)
{
	(void)st, (void)data;
	return 1;
}

static void images_free(void *data)
{
	struct images_plan *ip = data;
	if (!ip)
		return;
	for (size_t i = 0; i < ip->n; i++) {
		free(ip->tags[i].name);
		free(ip->tags[i].to_id);
	}
	free(ip->tags);
	free(ip->left);
	free(ip);
}

const struct resource_kind resource_images = {
	.name = "images",
	.plan = images_plan,
	.prepare = images_prepare,
	.check = images_check,
	.commit = images_commit,
	.undo = images_undo,
	.kept = images_kept,
	.revert = images_revert,
	.finish = images_finish,
	.recover = images_recover,
	.recoverable_from_store = images_recoverable_from_store,
	.free_data = images_free,
};
