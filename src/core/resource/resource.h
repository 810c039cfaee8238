/*
 * Resources: the kinds of thing a release holds, each switched between
 * releases by one protocol that the engine (transition.c) drives without
 * knowing what the thing is. Files are the first kind (files.c, over
 * switch.h); a database schema and a compose project's images are the
 * next ones.
 *
 * One switch, as the engine walks it (plan.h phases):
 *
 *   plan      compare the live release with the target; add this kind's
 *             steps to the operation's plan and mark the services whose
 *             part changes (they are stopped and started around the
 *             commit). Files: a "stage" step per changed entry (prepare)
 *             and a "swap" or "remove" step (commit). A schema: "backup"
 *             (prepare), "migrate" to the target's version (commit). Images:
 *             "pull"/"check image" (prepare), "tag" (commit).
 *   prepare   everything that can happen while the services still run,
 *             journaled so that a crash can be cleaned up; on failure it
 *             leaves nothing behind and nothing live was touched. Files:
 *             stage each entry beside its live path. Schema: take the
 *             backup the release will be restored from. Images: make sure
 *             each image ID is in the local store.
 *   check     the services are stopped: is what is live still what was
 *             recorded? (files: nobody edited them meanwhile)
 *   commit    the short part while the services are stopped, each step
 *             journaled before and after. Files: swap. Schema: run the
 *             migrations. Images: re-tag the names the compose file uses.
 *             On failure it puts its own part back before returning.
 *   (the engine then passes the commit point: operation_commit)
 *   undo      the commit point could not be written: put back what
 *             commit did.
 *   revert    after the commit point the target failed: go back to the
 *             release before, from what the resource kept (files: swap
 *             the old copies back; schema: migrate down or restore the
 *             backup; images: tag the old IDs again).
 *   finish    the verdict is final: drop what was kept for going back.
 *   recover   an operation was interrupted: from the journal, undo what
 *             began before the commit point, finish what passed it.
 *
 * Adding a kind is a file here and an entry in resource_kinds[] (kinds.c):
 * the engine loops over the table: prepare and commit in its order, undo,
 * revert and recover in reverse. The calls that work from the journal
 * alone (undo, kept, revert, finish, recover) get the config in use too:
 * a database's connection settings live there, not in the journal (its
 * password must not be stored). Each call returns
 * 0, or -1 with err; err->kind ERROR_ATTENTION means the resource
 * could not put itself back and `recover` must finish.
 */
#ifndef LG_RESOURCE_H
#define LG_RESOURCE_H

#include <stddef.h>

#include "core/switch.h"

struct config;
struct error;
struct manifest;
struct plan;
struct state;

/* What a resource plans from: the live release and the target. */
struct resource_input {
	struct state *st;            /* to read the store (a script's first line) */
	const struct config *cfg;
	const struct manifest *live;
	const struct manifest *target;
	long live_id;                /* 0: nothing recorded is live */
	long target_id;              /* 0: the target is a new release */
	int restore_backup;          /* transition_request's */
	const struct switch_plan *files;  /* the entries that change between them,
	                                     built once for every kind */
	const unsigned char *selected;    /* the services the switch is for
	                                     (cfg->nservices long); NULL: all */
	long chosen_id;              /* the release the selected services come from
	                                (a rollback --services'), else target_id */
};

struct resource_kind {
	const char *name;
	/* Add the steps, mark changed[s] for each service whose part changes
	 * (cfg->nservices long), and return how many things change; *data
	 * gets the resource's own plan for the calls below (free_data frees
	 * it; it may point into in's manifests: keep them alive). */
	size_t (*plan)(const struct resource_input *in, struct plan *plan, unsigned char *changed,
		       void **data);
	int (*prepare)(struct state *st, long op, void *data, struct error *err);
	int (*check)(struct state *st, long op, void *data, long live_id, struct error *err);
	int (*commit)(struct state *st, long op, void *data, struct error *err);
	int (*undo)(struct state *st, const struct config *cfg, long op, struct error *err);
	/* 1 when op's switch keeps what revert needs, 0 when not, -1 when
	 * the journal could not be read (err). */
	int (*kept)(struct state *st, const struct config *cfg, long op, struct error *err);
	int (*revert)(struct state *st, const struct config *cfg, long op, long back_to,
		      struct error *err);
	/* target_stays: the target's verdict is final and it stays live
	 * (data may then be used to remember it); 0 after a revert or when
	 * finishing early. data may be NULL (recover). */
	int (*finish)(struct state *st, const struct config *cfg, long op, void *data,
		      int target_stays, struct error *err);
	int (*recover)(struct state *st, const struct config *cfg, long op,
		       enum switch_outcome *outcome, struct error *err);
	/* Room: 1 when everything finish would drop can also be had from the
	 * store, so finishing early to free space loses nothing. */
	int (*recoverable_from_store)(struct state *st, void *data);
	void (*free_data)(void *data);
};

extern const struct resource_kind resource_files;      /* files.c */
extern const struct resource_kind resource_schema;     /* schema.c */
extern const struct resource_kind resource_tool_early; /* tool.c */
extern const struct resource_kind resource_tool_late;  /* tool.c */
extern const struct resource_kind resource_images;     /* image_switch.c */

extern const struct resource_kind *const resource_kinds[];
extern const size_t resource_kind_count;

#endif
