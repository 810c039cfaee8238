/*
 * Operations and their steps: the journal and the record.
 *
 * Every command that changes anything runs as one operation. Its row is
 * written before anything changes; each step writes its intent before it
 * acts and its result after, each in its own durable transaction, so that
 * after a crash `recover` knows exactly how far it went and `history`,
 * `show` and reports read the truth rather than logs.
 *
 *   long op, step;
 *   operation_begin(&st, "deploy", "dist.tar.gz", reason, &op, &err);
 *   operation_step_begin(&st, op, STEP_SWAP, "bin/api", &step, &err);
 *   ... act ...
 *   operation_step_end(&st, step, STEP_OK, "3 files", &err);
 *   operation_end(&st, op, OP_OK, NULL, &err);
 */
#ifndef LG_OPERATION_H
#define LG_OPERATION_H

#include <stddef.h>

#include "core/plan.h"

struct error;
struct state;

enum op_result {
	OP_RUNNING = 0,
	OP_OK,
	OP_FAILED,          /* failed, nothing changed */
	OP_ROLLED_BACK,     /* failed, and lastgood put the old release back */
	OP_UNDONE,          /* interrupted, undone by recover */
	OP_FINISHED,        /* interrupted, finished by recover */
	OP_NEEDS_ATTENTION,
};

enum step_result {
	STEP_RUNNING = 0,
	STEP_OK,
	STEP_FAILED,
	STEP_SKIPPED,
	STEP_UNDONE,
};

/*
 * Where an operation's switch stands (operations.phase), the word recover
 * reads first. The engine passes the commit point by writing
 * OP_PHASE_COMMITTED together with the new live release, in one
 * transaction; before it a crash is undone, after it finished. The names
 * are what the journal stores: they never change.
 */
enum op_phase {
	OP_PHASE_RUNNING,       /* begun; nothing live touched yet */
	OP_PHASE_STAGING,       /* resources preparing: nothing live yet */
	OP_PHASE_SWAPPING,      /* resources committing: some may be live */
	OP_PHASE_COMMITTED,     /* the target is live (commit point passed) */
	OP_PHASE_REVERTING,     /* going back after the target failed */
	OP_PHASE_REVERTED,      /* back: the old release is live again */
	OP_PHASE_SWITCHED,      /* settled on the target */
	OP_PHASE_UNDONE,        /* settled on the old release */
	OP_PHASE_ENDED,         /* the operation has its result */
	OP_PHASE_COUNT
};

const char *op_phase_name(enum op_phase phase);
/* op's phase and the release a revert goes back to (0 when none). */
int operation_phase(struct state *st, long op, enum op_phase *phase, long *revert_to,
		    struct error *err);
/* 1 when op passed its commit point and stays on its target (recover
 * then finishes what a resource began), 0 when not, -1 with err. */
int operation_stays_on_target(struct state *st, long op, struct error *err);
/* 1 when op's phase is one where a resource keeps what a revert needs
 * (committed, or going back), 0 when not, -1 with err. */
int operation_may_revert(struct state *st, long op, struct error *err);
/* Write op's phase; inside a transaction it is part of it. */
int operation_set_phase(struct state *st, long op, enum op_phase phase, struct error *err);

/* The commit point: from this transaction on `release` is live. It writes
 * the phase OP_PHASE_COMMITTED, the live release and the operation's
 * "commit" step together, so a crash finds all three or none. */
int operation_commit(struct state *st, long op, long release, struct error *err);

struct step_record {
	long id;
	int seq;
	enum step_kind kind;      /* STEP_KIND_COUNT: a kind this lastgood does
	                             not know (a newer one wrote it) */
	char *kind_name;          /* as the journal holds it */
	char *target;
	char *detail;
	enum step_result result;
	long long started_ms;
	long long ended_ms;        /* 0 while running */
};

struct operation_record {
	long id;
	char *command;
	char *args;
	char *reason;
	char *actor;
	long pid;
	long long started_ms;
	long long ended_ms;
	enum op_result result;
	char *error;
	long from_release;
	long to_release;
	struct step_record *steps;
	size_t nsteps;
};

int operation_begin(struct state *st, const char *command, const char *args,
		    const char *reason, long *op, struct error *err);
int operation_set_releases(struct state *st, long op, long from, long to, struct error *err);
/* The releases op switches from and to (0 when not set), without its steps. */
int operation_releases(struct state *st, long op, long *from, long *to, struct error *err);
int operation_end(struct state *st, long op, enum op_result result,
		  const char *error_text, struct error *err);
int operation_step_begin(struct state *st, long op, enum step_kind kind,
			 const char *target, long *step, struct error *err);
int operation_step_end(struct state *st, long step, enum step_result result,
		       const char *detail, struct error *err);
/* Mark the step failed with err's message. The step failed already, and
 * err says why: a failure to record that is ignored, as it would only
 * hide the first one (recover closes the step with its operation). */
void operation_step_fail(struct state *st, long step, const struct error *err);
/* A step that is already over, with the times it spanned (wall clock). */
int operation_step_record(struct state *st, long op, enum step_kind kind,
			  const char *target, enum step_result result, const char *detail,
			  long long started_ms, long long ended_ms, struct error *err);
/* A step that is already over and took no time. */
int operation_step_note(struct state *st, long op, enum step_kind kind,
			const char *target, enum step_result result,
			const char *detail, struct error *err);

/* Read one operation with its steps, or the newest `limit` ones without
 * steps (limit <= 0: all), newest first. */
int operation_get(struct state *st, long op, struct operation_record *rec, struct error *err);
int operation_list(struct state *st, int limit, struct operation_record **list,
		   size_t *n, struct error *err);
void operation_record_clear(struct operation_record *rec);
void operation_list_free(struct operation_record *list, size_t n);
/* Operations still marked running (interrupted), oldest first. */
int operation_unfinished(struct state *st, long **ops, size_t *n, struct error *err);
const char *op_result_name(enum op_result r);
const char *step_result_name(enum step_result r);

#endif
