/*
 * The step list an operation walks, dry runs print and the journal
 * records (plan.h), and the one table of step kind names.
 */
#include "core/plan.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

static const char *const step_kind_names[STEP_KIND_COUNT] = {
	[STEP_RECORD_LIVE] = "record live",
	[STEP_READ_SOURCE] = "read source",
	[STEP_LEFT_ALONE] = "left alone",
	[STEP_RECORD_TARGET] = "record target",
	[STEP_STAGE] = "stage",
	[STEP_STOP] = "stop",
	[STEP_CHECK_LIVE] = "check live",
	[STEP_SWAP] = "swap",
	[STEP_REMOVE] = "remove",
	[STEP_COMMIT] = "commit",
	[STEP_START] = "start",
	[STEP_HEALTHY] = "healthy",
	[STEP_CLEAN_UP] = "clean up",
	[STEP_RESTORE_CONFIG] = "restore config",
	[STEP_ROLL_BACK] = "roll back",
	[STEP_SWAP_BACK] = "swap back",
	[STEP_MOVE_LABEL] = "move label",
	[STEP_CAPTURE] = "capture",
	[STEP_GC] = "gc",
	[STEP_BACKUP] = "back up",
	[STEP_MIGRATE] = "migrate",
	[STEP_MIGRATE_DOWN] = "migrate down",
	[STEP_RESTORE] = "restore",
	[STEP_CHECK_IMAGE] = "check image",
	[STEP_TAG] = "tag",
	[STEP_KEEP_IMAGE] = "keep image",
};

const char *step_kind_name(enum step_kind kind)
{
	return kind < STEP_KIND_COUNT ? step_kind_names[kind] : "?";
}

int step_kind_parse(const char *name, enum step_kind *kind)
{
	for (size_t k = 0; k < STEP_KIND_COUNT; k++)
		if (!strcmp(step_kind_names[k], name)) {
			*kind = (enum step_kind)k;
			return 0;
		}
	return -1;
}

void plan_add(struct plan *plan, enum step_kind kind, enum plan_phase phase,
	      const char *target, size_t index)
{
	ALLOC_GROW(plan->steps, plan->n + 1, plan->alloc);
	plan->steps[plan->n++] = (struct plan_step){
		.kind = kind, .phase = phase, .target = target ? xstrdup(target) : NULL,
		.index = index,
	};
}

void plan_note(struct plan *plan, const char *note)
{
	struct plan_step *step = &plan->steps[plan->n - 1];
	free(step->note);
	step->note = xstrdup(note);
}

void plan_sort(struct plan *plan)
{
	/* Insertion sort: stable, and a plan is a few steps per entry. */
	for (size_t i = 1; i < plan->n; i++) {
		struct plan_step step = plan->steps[i];
		size_t j = i;
		for (; j > 0 && plan->steps[j - 1].phase > step.phase; j--)
			plan->steps[j] = plan->steps[j - 1];
		plan->steps[j] = step;
	}
}

size_t plan_phase_steps(const struct plan *plan, enum plan_phase phase, size_t *first)
{
	size_t i = 0, n = 0;
	while (i < plan->n && plan->steps[i].phase != phase)
		i++;
	*first = i;
	while (i + n < plan->n && plan->steps[i + n].phase == phase)
		n++;
	return n;
}

void plan_free(struct plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->steps[i].target);
		free(plan->steps[i].note);
	}
	free(plan->steps);
	memset(plan, 0, sizeof(*plan));
}
