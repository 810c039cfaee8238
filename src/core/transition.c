/*
 * What deploy and rollback share: recording the live state, building the
 * target manifest, and switching to it as one journaled operation.
 */
#include "core/transition.h"
#include "core/config.h"
#include "core/operation.h"
#include "core/source.h"
#include "core/state.h"
#include "core/stack.h"
#include "core/store.h"
#include "core/switch.h"
#include "util/alloc.h"
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
	if (operation_step_begin(st, op, "record live", NULL, &step, err) < 0)
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
fail:;
	struct error ignored = ERROR_INIT;
	operation_step_end(st, step, STEP_FAILED, err->msg, &ignored);
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

/* The index of the service whose `files` list path, or cfg->nservices. */
static size_t service_of_path(const struct config *cfg, const char *path)
{
	for (size_t s = 0; s < cfg->nservices; s++)
		for (size_t f = 0; f < cfg->services[s].nfiles; f++)
			if (!strcmp(cfg->services[s].files[f].path, path))
				return s;
	return cfg->nservices;
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
		if (service_of_path(cfg, e->path) == cfg->nservices)
			strbuf_addf(left_alone, "%s'%s'", left_alone->len ? ", " : "", e->path);
	}
	manifest_sort(target);
}

unsigned char *transition_changed_services(const struct config *cfg,
					   const struct switch_plan *plan)
{
	unsigned char *changed = xcalloc(cfg->nservices ? cfg->nservices : 1, 1);
	for (size_t i = 0; i < plan->n; i++) {
		size_t s = service_of_path(cfg, switch_change_entry(&plan->changes[i])->path);
		if (s < cfg->nservices)
			changed[s] = 1;
	}
	return changed;
}

static int record_target(struct state *st, long op, const struct transition_request *req,
			 long *to_id, struct error *err)
{
	char digest[HASH_HEX_SIZE];
	int created = 0;

	*to_id = 0;
	manifest_digest(req->target, digest);
	if (req->preferred) {
		struct release r;
		if (release_get(st, req->preferred, &r, err) < 0)
			return -1;
		if (!strcmp(r.digest, digest))
			*to_id = req->preferred;
		release_clear(&r);
	}
	if (!*to_id && release_create(st, req->target, req->meta, to_id, &created, err) < 0)
		return -1;
	if (!req->keep_record && operation_set_releases(st, op, req->live_id, *to_id, err) < 0)
		return -1;
	if (created)
		return operation_step_note(st, op, "record target", NULL, STEP_OK,
					   "recorded as a new release", err);
	return 0;
}

/*
 * Starting services writes the state database (each step, each process)
 * and their logs, both in the state folder. The old copies are normally
 * removed once the new release is verified, but on a nearly full disk the
 * space they hold may be what the start needs: then they go before it,
 * as long as the store holds every file they hold intact (re-hashed here:
 * they may be the only good copy, and the disk is nearly full only
 * rarely). Going back after that stages from the store. The margin covers
 * the WAL growing to SQLite's auto-checkpoint size (1000 pages, 4 MiB)
 * and the checkpoint copying pages into the database.
 */
#define START_ROOM_MIN (8LL << 20)

static int store_holds_entries(struct state *st, const struct switch_plan *plan)
{
	struct error ignored = ERROR_INIT;
	for (size_t i = 0; i < plan->n; i++) {
		const struct manifest_entry *from = plan->changes[i].from;
		for (size_t k = 0; from && k < from->nnodes; k++) {
			char hex[HASH_HEX_SIZE];
			if (from->nodes[k].type != NODE_FILE)
				continue;
			hash_to_hex(from->nodes[k].digest, hex);
			if (store_verify(&st->store, hex, &ignored) < 0)
				return 0;
		}
	}
	return 1;
}

static int clean_up_if_room_is_short(struct state *st, long op, const struct switch_plan *plan,
				     struct error *err)
{
	struct statvfs vfs;
	if (statvfs(st->dir, &vfs) == 0 &&
	    (long long)vfs.f_bavail * (long long)vfs.f_frsize >= START_ROOM_MIN)
		return 0;
	if (!store_holds_entries(st, plan))
		return 0;
	return switch_finish(st, op, err);
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
		rc = error_errno(err, EXIT_FAILED, errno, "cannot set aside room to finish in '%s'",
				 path);
	} else {
		e = posix_fallocate(fd, 0, ROOM_TO_FINISH);
		close(fd);
		if (e) {
			unlink(path);
			rc = error_errno(err, EXIT_FAILED, e, "cannot set aside the %lld KiB a switch "
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
 * (stack_stop, the check of the live files, or switch_commit): its files
 * are back unless err says even that failed. Settle the journal and start
 * the stopped services again; the host is unchanged only when all of it
 * worked. */
static void transition_undo(struct state *st, const struct config *cfg, long op, long from,
			    const unsigned char *changed, struct transition_report *report,
			    const struct error *err)
{
	struct stack_failure ignored_failure = { 0 };
	struct error ignored = ERROR_INIT;
	enum switch_outcome undone;

	if (err->code == EXIT_NEEDS_ATTENTION) {
		transition_stuck(report, HOST_SWITCHING, 0);
		return;
	}
	/* The old files are live whatever the journal says, so the services
	 * start even when settling it failed. */
	int settled = switch_recover(st, op, &undone, &ignored) == 0;
	int started = stack_start(st, cfg, changed, op, &ignored_failure, &ignored);
	stack_failure_clear(&ignored_failure);
	transition_stuck(report, settled && started == 0 ? HOST_UNCHANGED : HOST_LIVE, from);
}

/*
 * A live entry about to be swapped out must still be what was recorded:
 * someone may have edited it since, while the services took their
 * stop_timeout to stop, and that edit would be in no release once it is
 * swapped out. It is captured again (the stat cache makes that a stat per
 * unchanged file) and compared; a change stops the switch, which is then
 * undone, so the edit stays live and the next operation records it.
 */
static int check_live_unchanged(struct state *st, long op, const struct switch_plan *plan,
				long live_id, struct error *err)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct manifest_entry *from = plan->changes[i].from;
		const struct manifest_entry *e = switch_change_entry(&plan->changes[i]);
		int present, same = 0;
		if (manifest_entry_present(e->path, &present, err) < 0)
			return -1;
		if (present && from) {
			struct manifest_entry now;
			memset(&now, 0, sizeof(now));
			if (manifest_capture_entry(st, from->service, from->path, from->path,
						   CAPTURE_CACHE_READ_ONLY, &now, NULL, err) < 0)
				return -1;
			same = !strcmp(now.digest, from->digest);
			manifest_entry_free(&now);
		} else {
			same = !present && !from;
		}
		if (same)
			continue;
		error_set(err, EXIT_FAILED, "'%s' changed after it was recorded%s%.0ld, while the "
			  "services were stopping: nothing was switched and they are started again; "
			  "run the command again to record the change first", e->path,
			  live_id ? " as part of release " : "", live_id);
		struct error ignored = ERROR_INIT;
		operation_step_note(st, op, "check live", e->path, STEP_FAILED, err->msg, &ignored);
		return -1;
	}
	return 0;
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
		report->recovered_ms = state_now_ms();
		if (release_set_mark(st, back_to, MARK_GOOD, err) < 0)
			return transition_stuck(report, HOST_VERIFIED, back_to);
	}
	if (switch_finish(st, op, err) < 0)
		return transition_stuck(report, HOST_LIVE, back_to);
	return 0;
}

/* Go back to req->live_id after the target failed: stop the changed
 * services, put the old files back (swapped back when the switch kept
 * them, else staged from the store), start, verify. Returns 0 with the
 * outcome set, -1 when lastgood could not act (the outcome is then "needs
 * attention" too, report->host says where it stopped). */
static int transition_go_back(struct state *st, const struct config *cfg, long op,
			      const struct transition_request *req, const unsigned char *changed,
			      struct transition_report *report, struct error *err)
{
	struct switch_plan back;
	int rc, committed;

	report->outcome = TRANSITION_NEEDS_ATTENTION;
	char *detail = xstrfmt("back to release %ld", req->live_id);
	rc = operation_step_note(st, op, "roll back", NULL, STEP_OK, detail, err);
	free(detail);
	if (rc < 0)
		return transition_stuck(report, HOST_LIVE, report->to_id);
	if (switch_kept_copies(st, op))
		return transition_revert(st, cfg, op, req->live_id, changed, report, err);

	switch_plan_build(req->target, req->live, &back);
	rc = switch_prepare(st, op, &back, err);
	switch_plan_free(&back);
	if (rc < 0 || stack_stop(st, cfg, changed, op, err) < 0)
		return transition_stuck(report, HOST_LIVE, report->to_id);
	if (switch_commit(st, op, req->live_id, &committed, err) < 0) {
		if (committed)
			return transition_stuck(report, HOST_LIVE, req->live_id);
		return transition_stuck(report, err->code == EXIT_NEEDS_ATTENTION ? HOST_SWITCHING
										   : HOST_LIVE,
					report->to_id);
	}
	return transition_back_started(st, cfg, op, req->live_id, changed, report, err);
}

int transition_revert(struct state *st, const struct config *cfg, long op, long back_to,
		      const unsigned char *changed, struct transition_report *report,
		      struct error *err)
{
	report->outcome = TRANSITION_NEEDS_ATTENTION;
	if (stack_stop(st, cfg, changed, op, err) < 0)
		return transition_stuck(report, HOST_LIVE, report->to_id);
	if (switch_revert(st, op, back_to, err) < 0)
		return transition_stuck(report, HOST_SWITCHING, report->to_id);
	return transition_back_started(st, cfg, op, back_to, changed, report, err);
}

/* Nothing to switch: the target is live already. It is still verified
 * (services not running are started, running ones judged), so that the
 * report says what is true, not what was hoped. */
static int transition_verify_only(struct state *st, const struct config *cfg, long op,
				  const struct transition_request *req,
				  struct transition_report *report, struct error *err)
{
	if (state_set_live_release(st, report->to_id, err) < 0)
		return -1;
	int started = stack_start(st, cfg, req->selected, op, &report->failure, err);
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
	struct switch_plan plan;
	unsigned char *changed = NULL;
	int rc = -1, committed;

	memset(report, 0, sizeof(*report));
	report->from_id = req->live_id;
	report->host = HOST_UNCHANGED;
	report->live_id = req->live_id;
	if (record_target(st, op, req, &report->to_id, err) < 0)
		return -1;
	switch_plan_build(req->live, req->target, &plan);
	report->changed = plan.n;
	if (plan.n == 0) {
		rc = transition_verify_only(st, cfg, op, req, report, err);
		goto out;
	}
	changed = transition_changed_services(cfg, &plan);
	if (room_set_aside(st, err) < 0)
		goto out;
	/* Stage first: a damaged or oversized target is refused while every
	 * service still runs, and the services are down for the swaps only.
	 * Stages that could not be removed are left for recover. */
	if (switch_prepare(st, op, &plan, err) < 0) {
		if (err->code == EXIT_NEEDS_ATTENTION)
			transition_stuck(report, HOST_LIVE, req->live_id);
		goto out;
	}
	long long staged_ns = manifest_cache_clock();
	if (stack_stop(st, cfg, changed, op, err) < 0 ||
	    check_live_unchanged(st, op, &plan, req->live_id, err) < 0) {
		transition_undo(st, cfg, op, req->live_id, changed, report, err);
		goto out;
	}
	if (switch_commit(st, op, report->to_id, &committed, err) < 0) {
		/* Past the commit point the target is live: never undone
		 * here, and never started unverified; recover decides. */
		if (committed)
			transition_stuck(report, HOST_LIVE, report->to_id);
		else
			transition_undo(st, cfg, op, req->live_id, changed, report, err);
		goto out;
	}
	room_give_back(st);
	if (clean_up_if_room_is_short(st, op, &plan, err) < 0) {
		transition_stuck(report, HOST_LIVE, report->to_id);
		goto out;
	}
	int started = stack_start(st, cfg, changed, op, &report->failure, err);
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
		switch_remember_staged(st, op, &plan, staged_ns);
		if (switch_finish(st, op, err) < 0) {
			transition_stuck(report, HOST_LIVE, report->to_id);
			goto out;
		}
		if (started)
			report->outcome = req->on_failure == ON_FAILURE_LEAVE
					  ? TRANSITION_FAILED : TRANSITION_NEEDS_ATTENTION;
		rc = 0;
		goto out;
	}
	rc = transition_go_back(st, cfg, op, req, changed, report, err);
out:
	room_give_back(st);   /* when a failure came before the commit */
	free(changed);
	switch_plan_free(&plan);
	return rc;
}

void transition_report_clear(struct transition_report *report)
{
	stack_failure_clear(&report->failure);
	stack_failure_clear(&report->second);
}
