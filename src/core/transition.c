/*
 * What deploy and rollback share: recording the live state, building the
 * target manifest, and switching to it as one journaled operation.
 */
#include "core/transition.h"
#include "core/config.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/resource/resource.h"
#include "core/source.h"
#include "core/state.h"
#include "core/stack.h"
#include "core/store.h"
#include "core/switch.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int transition_record_live(struct state *st, const struct config *cfg, long op,
			   const char *command, struct manifest *live, long *live_id,
			   struct error *err)
{
	struct capture_stats stats = { 0 };
	long step;

	*live_id = 0;
	if (operation_step_begin(st, op, STEP_RECORD_LIVE, NULL, &step, err) < 0)
		return -1;
	/* checking the store: this release is the one to go back to */
	if (manifest_capture(st, cfg, CAPTURE_CHECK_STORE, live, &stats, err) < 0)
		goto fail;

	struct strbuf detail = STRBUF_INIT;
	if (live->n) {
		char *reason = xstrfmt("live files before %s (operation %ld)", command, op);
		struct release_meta meta = { .reason = reason, .added = stats.added_bytes,
					     .config = cfg };
		int created;
		int rc = release_create(st, live, &meta, live_id, &created, err);
		free(reason);
		if (rc < 0)
			goto fail;
		/* The live files are that release now, whatever the record
		 * said before. */
		if (*live_id != state_live_release(st) &&
		    state_set_live_release(st, *live_id, err) < 0)
			goto fail;
		strbuf_addf(&detail, created ? "unrecorded changes saved as release %ld"
					     : "live files are release %ld", *live_id);
	} else {
		strbuf_addstr(&detail, "nothing is live yet");
	}
	int rc = operation_step_end(st, step, STEP_OK, detail.buf, err);
	strbuf_release(&detail);
	return rc;
fail:
	operation_step_fail(st, step, err);
	return -1;
}

/* A file deployed from a tarball belongs to whoever owns what it
 * replaces: a tarball built elsewhere carries someone else's uids (and is
 * unpacked as ours). New paths go to us (or, inside a live folder, to its
 * owner). A folder SOURCE is the operator's own tree: its owners are kept
 * as they are, and this is not called. Both node lists are sorted by rel,
 * so one walk down each finds every match. */
static void adopt_live_owners(struct manifest_entry *entry, const struct manifest_entry *live)
{
	size_t k = 0;
	for (size_t i = 0; i < entry->nnodes; i++) {
		struct manifest_node *node = &entry->nodes[i];
		const struct manifest_node *owner = NULL;
		if (live) {
			while (k < live->nnodes && strcmp(live->nodes[k].rel, node->rel) < 0)
				k++;
			owner = k < live->nnodes && !strcmp(live->nodes[k].rel, node->rel)
				? &live->nodes[k] : &live->nodes[0];
		}
		node->uid = owner ? owner->uid : geteuid();
		node->gid = owner ? owner->gid : getegid();
	}
	manifest_entry_finish(entry);
}

int transition_target_from_source(struct state *st, const struct config *cfg,
				  const unsigned char *selected, const char *root,
				  int adopt_owners, const struct manifest *live,
				  struct manifest *target, struct capture_stats *stats,
				  struct error *err)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		for (size_t f = 0; f < svc->nfiles; f++) {
			const struct service_file *file = &svc->files[f];
			const struct manifest_entry *current = manifest_find(live, file->path);
			char *from = source_path_for(root, file->written);
			int in_source = (!selected || selected[s]) && path_exists(from);

			if (in_source) {
				ALLOC_GROW(target->entries, target->n + 1, target->alloc);
				struct manifest_entry *e = &target->entries[target->n];
				memset(e, 0, sizeof(*e));
				int rc = manifest_capture_entry(st, svc->name, file->path, from, 0, e,
								stats, err);
				if (rc < 0) {
					manifest_entry_free(e);
					free(from);
					return -1;
				}
				if (adopt_owners)
					adopt_live_owners(e, current);
				target->n++;
			} else if (current) {
				manifest_add_copy(target, current);
			}
			free(from);
		}
	}
	manifest_sort(target);
	return 0;
}

void transition_target_from_release(const struct config *cfg, const unsigned char *selected,
				    const struct manifest *live, const struct manifest *release,
				    struct manifest *target, struct strbuf *left_alone)
{
	/* Every entry of the config: a selected service's as the release
	 * has it (absent when it has none: a file the release did not have
	 * goes), any other's as it is live. */
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		const struct manifest *from = !selected || selected[s] ? release : live;
		for (size_t f = 0; f < svc->nfiles; f++) {
			const struct manifest_entry *e = manifest_find(from, svc->files[f].path);
			if (e)
				manifest_add_copy(target, e);
		}
	}
	/* A path the config no longer lists is not the config's to write:
	 * whatever is there now stays. */
	for (size_t i = 0; left_alone && i < release->n; i++) {
		const struct manifest_entry *e = &release->entries[i];
		if (config_service_of_path(cfg, e->path) == cfg->nservices)
			strbuf_addf(left_alone, "%s'%s'", left_alone->len ? ", " : "", e->path);
	}
	manifest_sort(target);
}

/* One switch: the steps the executor walks (the very list a dry run
 * prints), each resource's own part of the plan, and the services whose
 * part changes. */
struct transition {
	struct plan plan;
	struct switch_plan files; /* the entries that change: resource_input.files */
	void **data;             /* per resource kind, resource_kinds[] order */
	unsigned char *changed;
	size_t n;                /* things that change, over every resource */
	long preferred;          /* req->preferred when it is the target's content */
};

static void transition_free(struct transition *t)
{
	for (size_t k = 0; t->data && k < resource_kind_count; k++)
		resource_kinds[k]->free_data(t->data[k]);
	free(t->data);
	free(t->changed);
	switch_plan_free(&t->files);
	plan_free(&t->plan);
}

/* The steps between live and target, in the order they run. */
static void transition_plan_switch(const struct resource_input *in,
				   const unsigned char *selected, struct transition *t)
{
	const struct config *cfg = in->cfg;

	memset(t, 0, sizeof(*t));
	switch_plan_build(in->live, in->target, &t->files);
	struct resource_input with_files = *in;
	with_files.files = &t->files;
	with_files.selected = selected;
	if (!with_files.chosen_id)
		with_files.chosen_id = in->target_id;
	t->data = xcalloc(resource_kind_count, sizeof(*t->data));
	t->changed = xcalloc(cfg->nservices ? cfg->nservices : 1, 1);
	for (size_t k = 0; k < resource_kind_count; k++)
		t->n += resource_kinds[k]->plan(&with_files, &t->plan, t->changed, &t->data[k]);
	if (t->n == 0) {
		/* Nothing to switch: the selected services are still started
		 * or judged, so the report says what is true. */
		stack_plan_start(cfg, selected, &t->plan);
	} else {
		stack_plan_stop(cfg, t->changed, &t->plan);
		plan_add(&t->plan, STEP_COMMIT, PLAN_COMMIT, NULL, 0);
		stack_plan_start(cfg, t->changed, &t->plan);
	}
}

/* req->preferred when it has exactly the target's content, else 0. */
static long preferred_release(struct state *st, const struct transition_request *req)
{
	char digest[HASH_HEX_SIZE];
	struct release r;
	struct error ignored = ERROR_INIT;
	long id = 0;

	if (req->preferred && release_get(st, req->preferred, &r, &ignored) == 0) {
		manifest_digest(req->target, digest);
		if (!strcmp(r.digest, digest))
			id = req->preferred;
		release_clear(&r);
	}
	return id;
}

/* The target is recorded as a new release unless it is the preferred
 * one, or one with the same content and no label of its own. */
static void transition_build(struct state *st, const struct config *cfg,
			     const struct transition_request *req, struct transition *t)
{
	long preferred = preferred_release(st, req);
	struct resource_input in = {
		.st = st, .cfg = cfg, .live = req->live, .target = req->target,
		.live_id = req->live_id, .target_id = preferred,
		.restore_backup = req->restore_backup, .chosen_id = req->preferred,
	};
	transition_plan_switch(&in, req->selected, t);
	t->preferred = preferred;
	if (!t->preferred && !release_reusable(st, req->target, req->meta))
		plan_add(&t->plan, STEP_RECORD_TARGET, PLAN_RECORD, NULL, 0);
	plan_sort(&t->plan);
}

void transition_plan(struct state *st, const struct config *cfg,
		     const struct transition_request *req, struct plan *plan)
{
	struct transition t;
	transition_build(st, cfg, req, &t);
	*plan = t.plan;
	memset(&t.plan, 0, sizeof(t.plan));
	transition_free(&t);
}

/* The steps of one phase of t's plan: *n gets how many. */
static const struct plan_step *phase_steps(const struct transition *t, enum plan_phase phase,
					   size_t *n)
{
	size_t first;
	*n = plan_phase_steps(&t->plan, phase, &first);
	return t->plan.steps + first;
}

static int record_target(struct state *st, long op, const struct transition_request *req,
			 const struct transition *t, long *to_id, struct error *err)
{
	int created = 0;

	/* release_create, not release_reusable: a release with this content
	 * it finds still gets its manifest stored again if the store lost it,
	 * and the config in use if it was recorded without one. */
	*to_id = t->preferred;
	if (!*to_id && release_create(st, req->target, req->meta, to_id, &created, err) < 0)
		return -1;
	if (!req->keep_record && operation_set_releases(st, op, req->live_id, *to_id, err) < 0)
		return -1;
	if (created)
		return operation_step_note(st, op, STEP_RECORD_TARGET, NULL, STEP_OK,
					   "recorded as a new release", err);
	return 0;
}

/* ---- every resource, in table order (undone in reverse) ---- */

static int resources_prepare(struct state *st, const struct config *cfg, long op,
			     struct transition *t, struct error *err)
{
	for (size_t k = 0; k < resource_kind_count; k++)
		if (resource_kinds[k]->prepare(st, op, t->data[k], err) < 0) {
			struct error ignored = ERROR_INIT;
			while (k-- > 0)
				resource_kinds[k]->undo(st, cfg, op, &ignored);
			return -1;
		}
	return 0;
}

static int resources_check(struct state *st, long op, struct transition *t, long live_id,
			   struct error *err)
{
	for (size_t k = 0; k < resource_kind_count; k++)
		if (resource_kinds[k]->check(st, op, t->data[k], live_id, err) < 0)
			return -1;
	return 0;
}

/* Each resource's commit, then the commit point. A resource that fails
 * puts its own part back; those before it are undone here. */
static int resources_commit(struct state *st, const struct config *cfg, long op,
			    struct transition *t, long to_id, struct error *err)
{
	size_t k = 0;
	for (; k < resource_kind_count; k++)
		if (resource_kinds[k]->commit(st, op, t->data[k], err) < 0)
			break;
	if (k == resource_kind_count && operation_commit(st, op, to_id, err) == 0)
		return 0;
	while (k-- > 0)
		resource_kinds[k]->undo(st, cfg, op, err);
	return -1;
}

/* data: the transition's, or NULL when recover or a revert finishes. */
static int resources_finish(struct state *st, const struct config *cfg, long op,
			    struct transition *t, int target_stays, struct error *err)
{
	for (size_t k = 0; k < resource_kind_count; k++)
		if (resource_kinds[k]->finish(st, cfg, op, t ? t->data[k] : NULL, target_stays,
					      err) < 0)
			return -1;
	return 0;
}

int transition_kept_copies(struct state *st, const struct config *cfg, long op,
			   struct error *err)
{
	int kept = 0;
	for (size_t k = 0; k < resource_kind_count; k++) {
		int one = resource_kinds[k]->kept(st, cfg, op, err);
		if (one < 0)
			return -1;
		kept |= one;
	}
	return kept;
}

int transition_recover(struct state *st, const struct config *cfg, long op,
		       enum switch_outcome *outcome, struct error *err)
{
	*outcome = SWITCH_NOTHING;
	for (size_t k = resource_kind_count; k-- > 0;) {
		enum switch_outcome one;
		if (resource_kinds[k]->recover(st, cfg, op, &one, err) < 0)
			return -1;
		if (one > *outcome)
			*outcome = one;
	}
	return 0;
}

/*
 * Starting services writes the state database (each step, each process)
 * and their logs, both in the state folder. The old copies are normally
 * removed once the new release is verified, but on a nearly full disk the
 * space they hold may be what the start needs: then they go before it,
 * as long as the store holds everything they hold intact. Going back
 * after that stages from the store. The margin covers the WAL growing to
 * SQLite's auto-checkpoint size (1000 pages, 4 MiB) and the checkpoint
 * copying pages into the database.
 */
#define START_ROOM_MIN (8LL << 20)

static int clean_up_if_room_is_short(struct state *st, const struct config *cfg, long op,
				     struct transition *t, struct error *err)
{
	struct statvfs vfs;
	if (statvfs(st->dir, &vfs) == 0 &&
	    (long long)vfs.f_bavail * (long long)vfs.f_frsize >= START_ROOM_MIN)
		return 0;
	for (size_t k = 0; k < resource_kind_count; k++)
		if (!resource_kinds[k]->recoverable_from_store(st, t->data[k]))
			return 0;
	return resources_finish(st, cfg, op, t, 0, err);
}

/*
 * Room to finish. Past the commit point a switch still writes the state
 * database (steps, processes, the verdict) before it is done, and on a
 * full disk those writes would fail with the new files live and the
 * services down. So ROOM_TO_FINISH bytes are set aside in tmp/ before
 * anything is staged, and given back once the switch is committed: a
 * switch that cannot fit fails before the live files change. (A crash
 * leaves the file in tmp/, which recover empties.)
 */
#define ROOM_TO_FINISH (256LL << 10)

/* One name: only the lock holder writes to tmp/, and a file a failed
 * unlink left is taken again by the next switch. */
static char *room_path(const struct state *st)
{
	return path_join(st->store.tmp_dir, "room-to-finish");
}

static int room_set_aside(const struct state *st, struct error *err)
{
	char *path = room_path(st);
	int rc = 0, e;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = error_errno(err, ERROR_FAILED, errno, "cannot set aside room to finish in '%s'",
				 path);
	} else {
		e = posix_fallocate(fd, 0, ROOM_TO_FINISH);
		close(fd);
		if (e) {
			unlink(path);
			rc = error_errno(err, ERROR_FAILED, e, "cannot set aside the %lld KiB a switch "
					 "needs to finish in '%s'", ROOM_TO_FINISH >> 10,
					 st->store.tmp_dir);
		}
	}
	free(path);
	return rc;
}

static void room_give_back(const struct state *st)
{
	char *path = room_path(st);
	unlink(path);
	free(path);
}

/* lastgood could not go on: say where that left the host. */
static int transition_stuck(struct transition_report *report, enum transition_host host,
			    long live_id)
{
	report->host = host;
	report->live_id = live_id;
	return -1;
}

/* The switch away from release `from` failed before its commit point
 * (stopping, the check of the live files, or a resource's commit): its
 * files are back unless err says even that failed. Settle the journal and
 * start the stopped services again; the host is unchanged only when all
 * of it worked. */
static void transition_undo(struct state *st, const struct config *cfg, long op, long from,
			    const unsigned char *changed, struct transition_report *report,
			    const struct error *err)
{
	struct stack_failure ignored_failure = { 0 };
	struct error ignored = ERROR_INIT;
	enum switch_outcome undone;

	if (err->kind == ERROR_ATTENTION) {
		transition_stuck(report, HOST_SWITCHING, 0);
		return;
	}
	/* The old files are live whatever the journal says, so the services
	 * start even when settling it failed. */
	int settled = transition_recover(st, cfg, op, &undone, &ignored) == 0;
	int started = stack_start(st, cfg, changed, op, &ignored_failure, &ignored);
	stack_failure_clear(&ignored_failure);
	transition_stuck(report, settled && started == 0 ? HOST_UNCHANGED : HOST_LIVE, from);
}

/* The old release's files are live again: start its services, judge
 * them, and settle the switch. */
static int transition_back_started(struct state *st, const struct config *cfg, long op,
				   long back_to, const unsigned char *changed,
				   struct transition_report *report, struct error *err)
{
	int rc = stack_start(st, cfg, changed, op, &report->second, err);
	if (rc < 0)
		return transition_stuck(report, HOST_LIVE, back_to);
	if (rc == 0) {
		report->outcome = TRANSITION_ROLLED_BACK;
		report->recovered_ms = clock_wall_ms();
		if (release_set_mark(st, back_to, MARK_GOOD, err) < 0)
			return transition_stuck(report, HOST_VERIFIED, back_to);
	}
	if (resources_finish(st, cfg, op, NULL, 0, err) < 0)
		return transition_stuck(report, HOST_LIVE, back_to);
	return 0;
}

/* Go back to req->live_id after the target failed: stop the changed
 * services, put the old release back (from what the resources kept, else
 * switched to again from the store), start, verify. Returns 0 with the
 * outcome set, -1 when lastgood could not act (the outcome is then "needs
 * attention" too, report->host says where it stopped). */
static int transition_go_back(struct state *st, const struct config *cfg, long op,
			      const struct transition_request *req, const unsigned char *changed,
			      struct transition_report *report, struct error *err)
{
	struct transition back;
	int rc;

	report->outcome = TRANSITION_NEEDS_ATTENTION;
	char *detail = xstrfmt("back to release %ld", req->live_id);
	rc = operation_step_note(st, op, STEP_ROLL_BACK, NULL, STEP_OK, detail,
				 err);
	free(detail);
	if (rc < 0)
		return transition_stuck(report, HOST_LIVE, report->to_id);
	int kept = transition_kept_copies(st, cfg, op, err);
	if (kept < 0)
		return transition_stuck(report, HOST_LIVE, report->to_id);
	if (kept)
		return transition_revert(st, cfg, op, req->live_id, changed, report, err);

	/* going back on its own after a failure: a database that cannot go
	 * down is restored without asking */
	struct resource_input in = {
		.st = st, .cfg = cfg, .live = req->target, .target = req->live,
		.live_id = report->to_id, .target_id = req->live_id, .restore_backup = 1,
	};
	transition_plan_switch(&in, NULL, &back);
	rc = resources_prepare(st, cfg, op, &back, err);
	if (rc == 0)
		rc = stack_stop(st, cfg, changed, op, err);
	if (rc < 0) {
		transition_free(&back);
		return transition_stuck(report, HOST_LIVE, report->to_id);
	}
	rc = resources_commit(st, cfg, op, &back, req->live_id, err);
	transition_free(&back);
	if (rc < 0)
		return transition_stuck(report, err->kind == ERROR_ATTENTION ? HOST_SWITCHING
										   : HOST_LIVE,
					report->to_id);
	return transition_back_started(st, cfg, op, req->live_id, changed, report, err);
}

int transition_revert(struct state *st, const struct config *cfg, long op, long back_to,
		      const unsigned char *changed, struct transition_report *report,
		      struct error *err)
{
	report->outcome = TRANSITION_NEEDS_ATTENTION;
	if (stack_stop(st, cfg, changed, op, err) < 0)
		return transition_stuck(report, HOST_LIVE, report->to_id);
	/* in reverse, as an undo: what committed last goes back first */
	for (size_t k = resource_kind_count; k-- > 0;) {
		int kept = resource_kinds[k]->kept(st, cfg, op, err);
		if (kept < 0 || (kept && resource_kinds[k]->revert(st, cfg, op, back_to, err) < 0))
			return transition_stuck(report, HOST_SWITCHING, report->to_id);
	}
	return transition_back_started(st, cfg, op, back_to, changed, report, err);
}

int transition_revert_releases(struct state *st, const struct config *cfg, long op,
				long from_id, long back_to, struct transition_report *report,
				struct error *err)
{
	struct manifest from = MANIFEST_INIT, back = MANIFEST_INIT;
	struct transition t;
	int rc = -1;

	memset(report, 0, sizeof(*report));
	report->to_id = from_id;
	if (release_manifest(st, from_id, &from, err) == 0 &&
	    release_manifest(st, back_to, &back, err) == 0) {
		struct resource_input in = {
			.st = st, .cfg = cfg, .live = &from, .target = &back,
			.live_id = from_id, .target_id = back_to, .restore_backup = 1,
		};
		transition_plan_switch(&in, NULL, &t);
		rc = transition_revert(st, cfg, op, back_to, t.changed, report, err);
		transition_free(&t);
	}
	manifest_free(&from);
	manifest_free(&back);
	return rc;
}

/* Nothing to switch: the target is live already. It is still verified
 * (services not running are started, running ones judged), so that the
 * report says what is true, not what was hoped. */
static int transition_verify_only(struct state *st, const struct config *cfg, long op,
				  const struct transition_request *req, const struct transition *t,
				  struct transition_report *report, struct error *err)
{
	size_t n;
	const struct plan_step *start = phase_steps(t, PLAN_START, &n);

	if (state_set_live_release(st, report->to_id, err) < 0)
		return -1;
	int started = stack_run_start(st, cfg, start, n, op, &report->failure, err);
	if (started < 0)
		return transition_stuck(report, HOST_LIVE, report->to_id);
	if (started > 0) {
		/* Not marked bad: nothing changed, so nothing here is what
		 * made it fail. */
		report->outcome = req->on_failure == ON_FAILURE_STOP ? TRANSITION_NEEDS_ATTENTION
								     : TRANSITION_FAILED;
		return 0;
	}
	report->outcome = TRANSITION_OK;
	if (release_set_mark(st, report->to_id, MARK_GOOD, err) < 0)
		return transition_stuck(report, HOST_VERIFIED, report->to_id);
	return 0;
}

int transition_run(struct state *st, const struct config *cfg, long op,
		   const struct transition_request *req, struct transition_report *report,
		   struct error *err)
{
	struct transition t;
	const struct plan_step *steps;
	size_t n;
	int rc = -1;

	memset(report, 0, sizeof(*report));
	report->from_id = req->live_id;
	report->host = HOST_UNCHANGED;
	report->live_id = req->live_id;
	transition_build(st, cfg, req, &t);
	if (record_target(st, op, req, &t, &report->to_id, err) < 0)
		goto out;
	report->changed = t.n;
	if (t.n == 0) {
		rc = transition_verify_only(st, cfg, op, req, &t, report, err);
		goto out;
	}
	if (room_set_aside(st, err) < 0)
		goto out;
	/* Prepare first: a damaged or oversized target is refused while
	 * every service still runs, and the services are down for the
	 * commit only. What could not be removed is left for recover. */
	if (resources_prepare(st, cfg, op, &t, err) < 0) {
		if (err->kind == ERROR_ATTENTION)
			transition_stuck(report, HOST_LIVE, req->live_id);
		goto out;
	}
	steps = phase_steps(&t, PLAN_STOP, &n);
	if (stack_run_stop(st, cfg, steps, n, op, err) < 0 ||
	    resources_check(st, op, &t, req->live_id, err) < 0 ||
	    resources_commit(st, cfg, op, &t, report->to_id, err) < 0) {
		/* Before the commit point: the old release goes back. Past it
		 * the target is live, never undone here and never started
		 * unverified. */
		transition_undo(st, cfg, op, req->live_id, t.changed, report, err);
		goto out;
	}
	room_give_back(st);
	if (clean_up_if_room_is_short(st, cfg, op, &t, err) < 0) {
		transition_stuck(report, HOST_LIVE, report->to_id);
		goto out;
	}
	steps = phase_steps(&t, PLAN_START, &n);
	int started = stack_run_start(st, cfg, steps, n, op, &report->failure, err);
	if (started < 0) {
		/* lastgood's own failure says nothing about the release: it is
		 * not marked, and recover settles the operation. */
		transition_stuck(report, HOST_LIVE, report->to_id);
		goto out;
	}
	/* The verdict is recorded before the old copies go, or are swapped
	 * back: a crash in between leaves recover a release it knows to be
	 * good or bad, and the copies to act on. */
	if (started == 0) {
		report->outcome = TRANSITION_OK;
		if (release_set_mark(st, report->to_id, MARK_GOOD, err) < 0) {
			transition_stuck(report, HOST_VERIFIED, report->to_id);
			goto out;
		}
	} else if (!report->failure.interrupted &&
		   release_set_mark(st, report->to_id, MARK_BAD, err) < 0) {
		/* Interrupted by the operator, the release proved nothing
		 * either way: it goes back unmarked. */
		transition_stuck(report, HOST_LIVE, report->to_id);
		goto out;
	}
	if (started == 0 || req->on_failure != ON_FAILURE_ROLL_BACK) {
		/* The verdict is final: the target stays. */
		if (resources_finish(st, cfg, op, &t, 1, err) < 0) {
			transition_stuck(report, HOST_LIVE, report->to_id);
			goto out;
		}
		if (started)
			report->outcome = req->on_failure == ON_FAILURE_LEAVE
					  ? TRANSITION_FAILED : TRANSITION_NEEDS_ATTENTION;
		rc = 0;
		goto out;
	}
	rc = transition_go_back(st, cfg, op, req, t.changed, report, err);
out:
	room_give_back(st);   /* when a failure came before the commit */
	transition_free(&t);
	return rc;
}

void transition_report_clear(struct transition_report *report)
{
	stack_failure_clear(&report->failure);
	stack_failure_clear(&report->second);
}
