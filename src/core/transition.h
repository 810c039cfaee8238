/*
 * Moving the live system from one release to another: what deploy and
 * rollback share.
 *
 *   struct manifest live = MANIFEST_INIT, target = MANIFEST_INIT;
 *   transition_record_live(&st, &cfg, op, "deploy", &live, &live_id, &err);
 *   transition_target_from_source(&st, &cfg, selected, root, adopt, &live, &target, &stats,
 *                                 &err);
 *      or transition_target_from_release(selected, &live, &release_manifest, &target);
 *   transition_run(&st, &cfg, op, &request, &report, &err);
 *
 * transition_record_live makes sure the state before every change is a
 * release: live files that no release records yet are recorded first.
 * transition_run is the engine: it builds the plan of the switch (plan.h:
 * each resource kind's steps, resource.h, then the stack's stops and
 * starts) and walks it: records the target as a release when no existing
 * one has exactly its content, prepares every resource while the services
 * run, stops the services whose part changes, checks and commits every
 * resource, passes the commit point (operation_commit), starts them in
 * order and verifies (stack.h), and marks the release good or bad; a
 * failed deploy goes back on its own. transition_plan gives the same
 * list without acting (the dry run).
 */
#ifndef LG_TRANSITION_H
#define LG_TRANSITION_H

#include "core/manifest.h"
#include "core/release.h"
#include "core/stack.h"
#include "core/switch.h"

struct config;
struct error;
struct state;
struct strbuf;
struct switch_plan;

/* Capture every live `files` entry that exists (a deploy may bring ones
 * that do not exist yet) and record it as a release unless the live
 * release already has that content. *live_id is 0 when nothing is live. */
int transition_record_live(struct state *st, const struct config *cfg, long op,
			   const char *command, struct manifest *live, long *live_id,
			   struct error *err);

/* The target of a deploy: each selected service's entries found below the
 * source root replace the live ones whole (mode from the source; owner
 * from the live entry when adopt_owners is set, as for a tarball, else
 * from the source); everything else keeps its live content (an entry
 * neither live nor in the source stays absent). selected may be NULL
 * (all). */
int transition_target_from_source(struct state *st, const struct config *cfg,
				  const unsigned char *selected, const char *root,
				  int adopt_owners, const struct manifest *live,
				  struct manifest *target, struct capture_stats *stats,
				  struct error *err);

/* The target of a rollback: every entry the config lists for a selected
 * service as `release` recorded it, and absent where it recorded none
 * (the switch removes it); the other services' entries keep their live
 * content. Entries of the release at paths the config no longer lists
 * are left alone: when left_alone is not NULL, their paths are appended
 * to it, quoted and comma-separated, for the operator. */
void transition_target_from_release(const struct config *cfg, const unsigned char *selected,
				    const struct manifest *live, const struct manifest *release,
				    struct manifest *target, struct strbuf *left_alone);

/* What happens when the target fails verification. */
enum transition_on_failure {
	ON_FAILURE_ROLL_BACK,    /* deploy: mark bad, switch back, restart, verify */
	ON_FAILURE_LEAVE,        /* deploy --no-auto-rollback: leave it live */
	ON_FAILURE_STOP,         /* rollback: nothing older to go to; stop there */
};

enum transition_outcome {
	TRANSITION_OK,           /* target live and verified (marked good) */
	TRANSITION_FAILED,       /* target live but failed verification */
	TRANSITION_ROLLED_BACK,  /* target failed; the old release is back, verified */
	TRANSITION_NEEDS_ATTENTION, /* target failed and so did putting the old back */
};

struct transition_request {
	const unsigned char *selected;   /* the services asked for (NULL: all):
	                                    those verified when nothing changes */
	long live_id;
	const struct manifest *live;
	const struct manifest *target;
	long preferred;          /* release to reuse when its content is target's */
	const struct release_meta *meta;  /* for a new release */
	enum transition_on_failure on_failure;
	int keep_record;         /* leave the operation's from/to as they are
	                            (recover going back for a dead deploy) */
	int restore_backup;      /* a database that cannot go down with down
	                            scripts may be restored from a backup at the
	                            target's version (discarding later writes) */
};

/* Where lastgood left the host when it could not go on itself (its state
 * database failed, or it could not undo a switch): transition_run returned
 * -1. Only HOST_UNCHANGED lets the operation end as failed; otherwise it
 * must stay unfinished, so that `recover` finishes from the journal. */
enum transition_host {
	HOST_UNCHANGED,          /* the old release live, its services running and
	                            verified: nothing changed, or all of it undone */
	HOST_LIVE,               /* live_id's files are live; services may be down */
	HOST_VERIFIED,           /* live_id is live, running and verified, but
	                            that could not be recorded */
	HOST_SWITCHING,          /* the files may be half way between from_id and
	                            to_id */
};

struct transition_report {
	long from_id;            /* the release live before */
	long to_id;              /* the release the operation aimed at */
	size_t changed;          /* entries switched */
	enum transition_outcome outcome;
	struct stack_failure failure;     /* why the target failed */
	struct stack_failure second;      /* why the way back failed */
	long long recovered_ms;  /* wall clock: the old release verified again */
	enum transition_host host;        /* after -1: where the host is */
	long live_id;            /* after -1: the release live (HOST_LIVE, _VERIFIED) */
};

/* Switch from the live release to the target: stop the services whose
 * files change, switch atomically, start them in order and verify; on
 * failure act as req->on_failure says. Returns 0 whenever lastgood itself
 * could act (the outcome says how it went), -1 with err otherwise, and
 * report->host says where that left the host. A failure of lastgood's own
 * is never taken for the release failing: no release is marked for it. */
int transition_run(struct state *st, const struct config *cfg, long op,
		   const struct transition_request *req, struct transition_report *report,
		   struct error *err);
void transition_report_clear(struct transition_report *report);

/* transition_revert for an operation that switched from release back_to
 * to from_id (the services to stop and start are those whose part of the
 * two releases differs); report is cleared first. */
int transition_revert_releases(struct state *st, const struct config *cfg, long op,
			       long from_id, long back_to, struct transition_report *report,
			       struct error *err);

/* Go back to back_to after the target of op's switch failed, the old
 * files still kept beside the live ones (switch_kept_copies): stop the
 * changed services, swap the old files back, start and verify them, then
 * remove the failed release's files. Returns like transition_run. */
int transition_revert(struct state *st, const struct config *cfg, long op, long back_to,
		      const unsigned char *changed, struct transition_report *report,
		      struct error *err);

/* The steps transition_run would walk for req, in order (plan.h): what
 * `rollback --dry-run` prints. Reads the state, changes nothing. */
struct plan;
void transition_plan(struct state *st, const struct config *cfg,
		     const struct transition_request *req, struct plan *plan);

/* 1 when op's switch passed its commit point and its resources kept what
 * going back needs (transition_revert), 0 when not, -1 when the journal
 * could not be read (err). */
int transition_kept_copies(struct state *st, const struct config *cfg, long op,
			   struct error *err);
/* Finish or undo the switch of an interrupted operation, every resource
 * (resource.h); *outcome is the furthest any got. Safe to run again. */
int transition_recover(struct state *st, const struct config *cfg, long op,
		       enum switch_outcome *outcome, struct error *err);

#endif
