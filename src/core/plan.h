/*
 * The plan of an operation: the list of steps it takes, in order, each a
 * kind from one table and a target (a path, a service). The executor walks
 * this list, the journal records each step under the same kind and
 * target, and `--dry-run` prints it: the three cannot drift apart.
 *
 *   struct plan plan = PLAN_INIT;
 *   plan_add(&plan, STEP_STOP, PLAN_STOP, "api", s);
 *   ...
 *   plan_sort(&plan);            phases in order, steps of a phase as added
 *   for each step: ...           (see transition.c)
 *   plan_free(&plan);
 *
 * A step kind's name is what the journal stores (steps.kind) and prints:
 * "stage", "swap", "start". Names never change (old journals are read
 * with them); add new kinds at the end of the table.
 */
#ifndef LG_PLAN_H
#define LG_PLAN_H

#include <stddef.h>

enum step_kind {
	STEP_RECORD_LIVE,      /* capture the live files as a release */
	STEP_READ_SOURCE,      /* deploy: read SOURCE into the target */
	STEP_LEFT_ALONE,       /* rollback: paths the config no longer lists */
	STEP_RECORD_TARGET,    /* the target becomes a new release */
	STEP_STAGE,            /* files: build an entry beside its live path */
	STEP_STOP,             /* a service stops */
	STEP_CHECK_LIVE,       /* the live files are still as recorded */
	STEP_SWAP,             /* files: the staged entry swapped in */
	STEP_REMOVE,           /* files: an entry the target lacks moved out */
	STEP_COMMIT,           /* the commit point: the target is live */
	STEP_START,            /* a service starts */
	STEP_HEALTHY,          /* a service judged healthy (health checks) */
	STEP_CLEAN_UP,         /* what the switch kept for going back goes */
	STEP_RESTORE_CONFIG,   /* rollback --config: the release's config file */
	STEP_ROLL_BACK,        /* off the plan: the target failed, going back */
	STEP_SWAP_BACK,        /* off the plan: the old files swapped back */
	STEP_MOVE_LABEL,       /* a label given from a failed release to a retry */
	STEP_CAPTURE,          /* snapshot: capture and record */
	STEP_GC,               /* gc: old releases and objects removed */
	STEP_BACKUP,           /* schema: a database backed up before it changes */
	STEP_MIGRATE,          /* schema: one migration's up script */
	STEP_MIGRATE_DOWN,     /* schema: one migration's down script */
	STEP_RESTORE,          /* schema: a database restored from its backup */
	STEP_CHECK_IMAGE,      /* images: the target's image ID is in docker's store */
	STEP_TAG,              /* images: a name the compose file uses tagged to it */
	STEP_KEEP_IMAGE,       /* images: the target recorded none: left alone */
	STEP_KIND_COUNT
};

/* The part of an operation a step belongs to. Phases run in this order;
 * the services of a switch are down from PLAN_STOP to PLAN_START. */
enum plan_phase {
	PLAN_RECORD,           /* record what is live, read what comes */
	PLAN_PREPARE,          /* everything that can happen while services run */
	PLAN_STOP,
	PLAN_CHECK,
	PLAN_COMMIT,           /* the short part, each step journaled */
	PLAN_START,            /* start and judge */
	PLAN_FINISH,           /* after the verdict */
};

struct plan_step {
	enum step_kind kind;
	enum plan_phase phase;
	char *target;          /* the journal's target: a path, a service; may be NULL */
	size_t index;          /* what the target is to its phase: a change of
	                          the switch plan, a service of the config */
	char *note;            /* what a dry run says beside the step (the backup
	                          a restore puts back); NULL for nothing */
};

struct plan {
	struct plan_step *steps;
	size_t n;
	size_t alloc;
};

#define PLAN_INIT { NULL, 0, 0 }

/* The journal's name of a kind ("swap back"). */
const char *step_kind_name(enum step_kind kind);
/* The kind a journal name stands for; -1 for a name no kind has (a
 * journal written by a newer lastgood). */
int step_kind_parse(const char *name, enum step_kind *kind);

void plan_add(struct plan *plan, enum step_kind kind, enum plan_phase phase,
	      const char *target, size_t index);
/* Put note (copied) beside the step added last, for a dry run to show. */
void plan_note(struct plan *plan, const char *note);
/* Order the steps by phase, keeping the order they were added in within
 * a phase. */
void plan_sort(struct plan *plan);
/* The steps of one phase: *first gets the index of the first, the return
 * value how many (they are consecutive once sorted). */
size_t plan_phase_steps(const struct plan *plan, enum plan_phase phase, size_t *first);
void plan_free(struct plan *plan);

#endif
