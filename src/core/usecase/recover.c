/*
 * The recover use case: finish or undo operations a crash interrupted, so
 * that the host ends entirely on the old or entirely on the new release,
 * and bring back the services they left down. Every mutating command runs
 * it first, under the lock.
 */
#include "core/usecase/db.h"
#include "core/usecase/ending.h"
#include "core/config.h"
#include "core/service.h"
#include "core/stack.h"
#include "core/state.h"
#include "core/store.h"
#include "core/switch.h"
#include "util/alloc.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* The services the interrupted operation stopped or was starting that are
 * not running now: after its files are settled they must run again. */
static unsigned char *services_left_down(struct state *st, const struct config *cfg,
					 const struct operation_record *rec, struct error *err)
{
	unsigned char *down = xcalloc(cfg->nservices ? cfg->nservices : 1, 1);
	for (size_t i = 0; i < rec->nsteps; i++) {
		const struct step_record *step = &rec->steps[i];
		const struct service *svc;
		struct service_info info;
		if ((step->kind != STEP_STOP && step->kind != STEP_START) || !step->target ||
		    !(svc = config_find_service(cfg, step->target)))
			continue;
		if (service_inspect(st, svc, &info, err) < 0) {
			free(down);
			return NULL;
		}
		if (info.running != 1)
			down[svc - cfg->services] = 1;
	}
	return down;
}

/* "api, web": the services of services_left_down, NULL on error. */
static char *services_down_names(struct state *st, const struct config *cfg,
				 const struct operation_record *rec, struct error *err)
{
	unsigned char *down = services_left_down(st, cfg, rec, err);
	struct strbuf names = STRBUF_INIT;
	if (!down)
		return NULL;
	for (size_t s = 0; s < cfg->nservices; s++)
		if (down[s])
			strbuf_addf(&names, "%s%s", names.len ? ", " : "", cfg->services[s].name);
	free(down);
	return strbuf_detach(&names);
}

/* Start what the operation left down, recorded on that operation. A
 * failure here does not stop recover: the files are settled, and the
 * operator needs the commands that come next to work. */
static int recover_services(struct state *st, const struct config *cfg, long op,
			    const struct operation_record *rec, const char **problem,
			    struct stack_failure *failure, struct error *err)
{
	unsigned char *down = services_left_down(st, cfg, rec, err);
	int rc = 0, none = 1;
	if (!down)
		return -1;
	for (size_t s = 0; s < cfg->nservices; s++)
		none &= !down[s];
	if (!none) {
		rc = stack_start(st, cfg, down, op, failure, err);
		if (rc > 0)
			*problem = failure->text;
		rc = rc < 0 ? -1 : 0;
	}
	free(down);
	return rc;
}

/* A deploy interrupted after its switch but before its verdict left a
 * release live that nothing verified: put back the release it replaced,
 * as the deploy itself would have done on a failure. Sets *went_back. */
static int recover_unverified_deploy(struct state *st, const struct config *cfg, long op,
				     const struct operation_record *rec, int *went_back,
				     const char **problem, struct transition_report *report,
				     struct error *err)
{
	long live_id = state_live_release(st);
	struct release to;

	*went_back = 0;
	if (strcmp(rec->command, "deploy") || !rec->from_release || live_id != rec->to_release ||
	    live_id == rec->from_release)
		return 0;
	if (release_get(st, live_id, &to, err) < 0)
		return -1;
	int verified = to.mark == MARK_GOOD;
	release_clear(&to);
	if (verified)
		return 0;
	int rc, kept = transition_kept_copies(st, cfg, op, err);
	if (kept < 0)
		return -1;
	if (kept) {
		/* The files it replaced are still beside the live ones:
		 * swapped back, nothing read from the store. */
		rc = transition_revert_releases(st, cfg, op, live_id, rec->from_release, report,
						err);
		if (rc == 0 && report->outcome != TRANSITION_ROLLED_BACK)
			*problem = report->second.text;
	} else {
		/* The record keeps what the deploy set out to do, so a recover
		 * killed here decides the same way next time. */
		struct switch_back back = {
			.target_id = rec->from_release, .keep_record = 1, .restore_backup = 1,
		};
		rc = usecase_switch_back(st, cfg, op, &back, NULL, report, err);
		if (rc == 0 && report->outcome != TRANSITION_OK)
			*problem = report->failure.text;
	}
	*went_back = rc == 0;
	return rc;
}

/* What recover did with op, for its report: added to rep->recovered. */
static void note_recovered(struct usecase_report *rep, const struct operation_record *rec,
			   enum op_result result, const char *text, char *down, long live)
{
	ALLOC_GROW(rep->recovered, rep->nrecovered + 1, rep->recovered_alloc);
	struct usecase_recovered *r = &rep->recovered[rep->nrecovered++];
	r->op = rec->id;
	r->command = xstrdup(rec->command);
	r->pid = rec->pid;
	r->result = result;
	r->text = xstrdup(text);
	r->down = down;
	r->live = live;
	if (down)
		rep->recovered_down++;
}

static int recover_one(struct state *st, const struct config *cfg, long op,
		       struct usecase_report *rep, struct error *err)
{
	struct operation_record rec;
	enum switch_outcome outcome;
	enum op_result result;
	const char *what;

	if (operation_get(st, op, &rec, err) < 0)
		return -1;
	/* A deploy nothing verified goes back first, while the files it
	 * replaced are still kept beside the live ones; settling the switch
	 * before that would remove them. */
	const char *problem = NULL;
	struct stack_failure failure = { 0 };
	struct transition_report report;
	int went_back = 0, rc = 0;
	memset(&report, 0, sizeof(report));
	outcome = SWITCH_UNDONE;
	int kept = transition_kept_copies(st, cfg, op, err);
	if (kept < 0)
		rc = -1;
	else if (kept)
		rc = recover_unverified_deploy(st, cfg, op, &rec, &went_back, &problem, &report, err);
	if (rc < 0 || (!went_back && transition_recover(st, cfg, op, &outcome, err) < 0)) {
		error_prefix(err, "recovering operation %ld (%s)", op, rec.command);
		err->kind = ERROR_ATTENTION;
		transition_report_clear(&report);
		operation_record_clear(&rec);
		return -1;
	}
	switch (outcome) {
	case SWITCH_FINISHED:
		result = OP_FINISHED;
		what = "interrupted after its commit point; finished by recover";
		break;
	case SWITCH_COMPLETE:
		result = OP_FINISHED;
		what = "interrupted after switching files; services brought back by recover";
		break;
	case SWITCH_UNDONE:
		result = OP_UNDONE;
		what = "interrupted while switching files; undone by recover";
		break;
	default:
		result = OP_UNDONE;
		what = "interrupted before changing live files; closed by recover";
		break;
	}
	if (!went_back)
		rc = recover_unverified_deploy(st, cfg, op, &rec, &went_back, &problem, &report, err);
	int restored = 0;
	if (rc == 0 && !went_back &&
	    usecase_db_restore_recover(st, cfg, op, &restored, err) < 0) {
		/* what is left is in err; the services it stopped run again */
		struct error ignored = ERROR_INIT;
		recover_services(st, cfg, op, &rec, &problem, &failure, &ignored);
		error_prefix(err, "recovering operation %ld (%s)", op, rec.command);
		err->kind = ERROR_ATTENTION;
		stack_failure_clear(&failure);
		transition_report_clear(&report);
		operation_record_clear(&rec);
		return -1;
	}
	if (restored) {
		result = OP_FINISHED;
		what = "interrupted while restoring a database backup; the restore was finished "
		       "by recover";
	}
	if (rc == 0 && went_back) {
		result = OP_UNDONE;
		what = "interrupted before its release was verified; the previous release was "
		       "put back by recover";
	}
	if (rc == 0 && !problem)
		rc = recover_services(st, cfg, op, &rec, &problem, &failure, err);
	if (rc == 0 && problem) {
		char *down = services_down_names(st, cfg, &rec, err);
		rc = down ? 0 : -1;
		if (rc == 0) {
			/* Reported whether or not its end could be recorded: the
			 * services are down either way. */
			char *text = xstrfmt("%s; but services did not come back: %s", what, problem);
			rc = operation_end(st, op, OP_NEEDS_ATTENTION, text, err);
			note_recovered(rep, &rec, OP_NEEDS_ATTENTION, text, down,
				       state_live_release(st));
			free(text);
		}
	} else if (rc == 0) {
		rc = operation_end(st, op, result, what, err);
		if (rc == 0)
			note_recovered(rep, &rec, result, what, NULL, state_live_release(st));
	}
	stack_failure_clear(&failure);
	transition_report_clear(&report);
	operation_record_clear(&rec);
	return rc;
}

int usecase_recover(struct state *st, const struct config *cfg, struct usecase_report *rep,
		    struct error *err)
{
	long *ops;
	size_t n;

	rep->live_before = state_live_release(st);
	if (operation_unfinished(st, &ops, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (recover_one(st, cfg, ops[i], rep, err) < 0) {
			free(ops);
			return -1;
		}
	}
	free(ops);
	rep->live_after = state_live_release(st);
	/* Only the lock holder uses the scratch folder, and we hold it:
	 * anything there was left by a process that died. */
	return store_clean_tmp(&st->store, err);
}
