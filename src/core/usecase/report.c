/*
 * Reports: how a use case ended, the services as it left them, and the
 * end of a deploy's or rollback's operation recorded by its outcome.
 */
#include "core/usecase/ending.h"
#include "core/config.h"
#include "core/gc.h"
#include "core/service.h"
#include "core/state.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

void usecase_report_init(struct usecase_report *rep, const char *command, int want_services)
{
	memset(rep, 0, sizeof(*rep));
	rep->command = command;
	rep->want_services = want_services;
	rep->gc = (struct gc_report)GC_REPORT_INIT;
}

void usecase_report_clear(struct usecase_report *rep)
{
	free(rep->failure.text);
	free(rep->second.text);
	for (size_t i = 0; i < rep->nservices; i++)
		free(rep->services[i].name);
	free(rep->services);
	gc_report_clear(&rep->gc);
	image_keep_sweep_clear(&rep->images);
	db_backup_clear(&rep->backup);
	free(rep->db_from_text);
	free(rep->db_to_text);
	free(rep->db_release_text);
	for (size_t i = 0; i < rep->nunversioned; i++)
		free(rep->unversioned[i]);
	free(rep->unversioned);
	for (size_t i = 0; i < rep->nimageless; i++)
		free(rep->imageless[i]);
	free(rep->imageless);
	free(rep->left_alone);
	free(rep->config_written);
	for (size_t i = 0; i < rep->nrecovered; i++) {
		free(rep->recovered[i].command);
		free(rep->recovered[i].text);
		free(rep->recovered[i].down);
	}
	free(rep->recovered);
	usecase_report_init(rep, rep->command, rep->want_services);
}

/* The verdict of op's last "healthy" step for each service, into
 * rep->services[].healthy (-1 where there is none). */
static void read_health(struct state *st, struct usecase_report *rep)
{
	struct operation_record rec;
	struct error ignored = ERROR_INIT;

	if (!rep->op || operation_get(st, rep->op, &rec, &ignored) < 0)
		return;
	for (size_t i = 0; i < rec.nsteps; i++) {
		const struct step_record *step = &rec.steps[i];
		if (step->kind != STEP_HEALTHY || !step->target)
			continue;
		for (size_t s = 0; s < rep->nservices; s++)
			if (!strcmp(rep->services[s].name, step->target))
				rep->services[s].healthy = step->result == STEP_OK ? 1
							 : step->result == STEP_FAILED ? 0 : -1;
	}
	operation_record_clear(&rec);
}

void usecase_inspect_services(struct state *st, const struct config *cfg,
			      struct usecase_report *rep)
{
	if (rep->services)
		return;
	rep->services = xcalloc(cfg->nservices ? cfg->nservices : 1, sizeof(*rep->services));
	rep->nservices = cfg->nservices;
	for (size_t s = 0; s < cfg->nservices; s++) {
		struct service_info info;
		struct error ignored = ERROR_INIT;
		if (service_inspect(st, &cfg->services[s], &info, &ignored) < 0)
			info.running = -1;
		rep->services[s].name = xstrdup(cfg->services[s].name);
		rep->services[s].running = info.running;
		rep->services[s].healthy = -1;
	}
	read_health(st, rep);
}

void usecase_end(struct state *st, const struct config *cfg, struct usecase_report *rep,
		 enum usecase_ending ending, enum op_result result, const struct error *err)
{
	rep->ending = ending;
	rep->result = result;
	if (err)
		rep->error = *err;
	rep->live_after = state_live_release(st);
	/* The lines of an ending that needs attention say which services run. */
	if (rep->want_services || ending >= USECASE_ATTENTION)
		usecase_inspect_services(st, cfg, rep);
}

void usecase_fail(struct state *st, const struct config *cfg, struct usecase_report *rep,
		  const struct error *err)
{
	struct error ignored = ERROR_INIT;
	if (rep->op)
		operation_end(st, rep->op, OP_FAILED, err->msg, &ignored);
	usecase_end(st, cfg, rep, USECASE_FAILED, OP_FAILED, err);
}

static void copy_failure(struct usecase_failure *to, const struct stack_failure *from)
{
	to->text = from->text ? xstrdup(from->text) : NULL;
	to->at_ms = from->detected_ms;
	to->interrupted = from->interrupted;
}

/* The target is live and verified: record that, then make room. */
static void end_verified(struct state *st, const struct config *cfg,
			 const struct transition_report *tr, struct error *err,
			 struct usecase_report *rep)
{
	if (operation_end(st, rep->op, OP_OK, NULL, err) < 0) {
		error_prefix(err, "%s of release %ld succeeded, but recording that failed",
			     rep->command, tr->to_id);
		err->kind = ERROR_ATTENTION;
		usecase_end(st, cfg, rep, USECASE_UNRECORDED, OP_RUNNING, err);
	} else if (gc_after_record(st, cfg->keep_releases, err) < 0) {
		error_prefix(err, "%s of release %ld succeeded, but removing old releases failed",
			     rep->command, tr->to_id);
		err->kind = ERROR_ATTENTION;
		usecase_end(st, cfg, rep, USECASE_UNCOLLECTED, OP_OK, err);
	} else {
		usecase_end(st, cfg, rep, USECASE_DONE, OP_OK, NULL);
	}
}

void usecase_end_transition(struct state *st, const struct config *cfg, int rc,
			    const struct transition_report *tr, struct error *err,
			    struct usecase_report *rep)
{
	struct error ignored = ERROR_INIT, failed = ERROR_INIT;

	copy_failure(&rep->failure, &tr->failure);
	copy_failure(&rep->second, &tr->second);
	if (tr->from_id)
		rep->live_before = tr->from_id;
	rep->target = tr->to_id;
	rep->changed = tr->changed;
	rep->recovered_ms = tr->recovered_ms;
	if (rc < 0) {
		/* Failed only when the old release is live, running and
		 * verified; anything else is recover's to settle. */
		if (tr->host == HOST_UNCHANGED) {
			usecase_fail(st, cfg, rep, err);
			return;
		}
		rep->host = tr->host;
		rep->host_live = tr->live_id;
		error_prefix(err, "%s of release %ld did not finish", rep->command, tr->to_id);
		err->kind = ERROR_ATTENTION;
		usecase_end(st, cfg, rep, USECASE_UNSETTLED, OP_RUNNING, err);
		return;
	}
	const char *why = tr->failure.text;
	switch (tr->outcome) {
	case TRANSITION_OK:
		end_verified(st, cfg, tr, err, rep);
		return;
	case TRANSITION_FAILED:
		operation_end(st, rep->op, OP_FAILED, why, &ignored);
		error_set(&failed, ERROR_FAILED, "%s", why ? why : "failed verification");
		usecase_end(st, cfg, rep, USECASE_LEFT_FAILING, OP_FAILED, &failed);
		return;
	case TRANSITION_ROLLED_BACK:
		operation_end(st, rep->op, OP_ROLLED_BACK, why, &ignored);
		error_set(&failed, ERROR_ROLLED_BACK, "%s", why ? why : "failed verification");
		usecase_end(st, cfg, rep, USECASE_ROLLED_BACK, OP_ROLLED_BACK, &failed);
		return;
	case TRANSITION_NEEDS_ATTENTION:
		if (tr->second.text)
			why = tr->second.text;
		operation_end(st, rep->op, OP_NEEDS_ATTENTION, why, &ignored);
		error_set(&failed, ERROR_ATTENTION, "%s", why ? why : "the way back failed");
		usecase_end(st, cfg, rep, USECASE_ATTENTION, OP_NEEDS_ATTENTION, &failed);
		return;
	}
}
