/*
 * What the use cases share and the command layer does not need: ending a
 * report, ending a deploy's or rollback's operation by its outcome, and
 * switching the live files back to a recorded release.
 */
#ifndef LG_USECASE_ENDING_H
#define LG_USECASE_ENDING_H

#include "core/usecase/usecase.h"

struct strbuf;

/* Set how rep ended and why (err may be NULL: no error), then fill the
 * live release after it and, when asked for or the host needs attention,
 * the services. The operation's end is the caller's to record. */
void usecase_end(struct state *st, const struct config *cfg, struct usecase_report *rep,
		 enum usecase_ending ending, enum op_result result, const struct error *err);

/* A failure before anything changed: op (when begun) ends as failed, with
 * err's message, and rep says so. */
void usecase_fail(struct state *st, const struct config *cfg, struct usecase_report *rep,
		  const struct error *err);

/* End rep->op by the outcome of a deploy or rollback: rc and err are
 * transition_run's (err is prefixed when the operation cannot end), tr its
 * report. A target live and verified is recorded, then older releases
 * beyond cfg->keep_releases are dropped. */
void usecase_end_transition(struct state *st, const struct config *cfg, int rc,
			    const struct transition_report *tr, struct error *err,
			    struct usecase_report *rep);

/* Record with release the image each compose service's container runs
 * (core/usecase/images.c); a service none is recorded for gets a line in
 * rep->imageless instead, whatever the reason. */
void usecase_record_images(struct state *st, const struct config *cfg, long release,
			   struct usecase_report *rep);

struct switch_back {
	const unsigned char *selected;   /* NULL: all */
	long target_id;                  /* the release to put back */
	const struct release_meta *meta; /* for a new release (a composite) */
	/* Record the live files first, as `command` (a rollback), and put back
	 * the selected services' entries only; 0: the live release's record
	 * stands for the live files and the target is the release whole
	 * (recover, going back for a deploy it knows the switch of) */
	const char *record_as;
	int keep_record;                 /* transition_request's */
	int restore_backup;              /* transition_request's */
};
/* Switch from what is live to a recorded release and verify, stopping
 * there on failure (there is nothing older to go to). With record_as,
 * entries of the release the config no longer lists are appended to
 * left_alone and noted as a step. Returns like transition_run. */
int usecase_switch_back(struct state *st, const struct config *cfg, long op,
			const struct switch_back *req, struct strbuf *left_alone,
			struct transition_report *tr, struct error *err);

#endif
