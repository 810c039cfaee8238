/*
 * Switching the live files from one release to another, all or nothing.
 *
 * Each changed `files` entry is first staged beside its live path (same
 * folder, so same file system) as `.lastgood-OP-SEQ`, built from the store
 * and fsynced; then each is swapped in with renameat2(RENAME_EXCHANGE), which
 * costs the same for a file or a tree of any size and leaves the old content
 * at the stage name; then one database transaction records the new live
 * release (the commit point). The old content is removed later, by
 * switch_finish, once the services are started again: removing a big tree
 * takes seconds, and they need not be down for it (on a nearly full disk
 * it comes before the start, which needs the room; see transition.c).
 *
 * The journal (table switch_entries, and operations.phase) says where a
 * crash happened:
 *   staging    nothing is live yet           -> remove stages: old release
 *   swapping   some entries may be swapped   -> swap those back: old release
 *   committed  everything is swapped         -> remove stages: new release
 * An entry counts as swapped when its live path holds the very inode that
 * was staged (device and inode are journaled before the first swap), so no
 * content has to be re-read to decide.
 *
 *   struct switch_plan plan;
 *   switch_plan_build(&live_manifest, &target_manifest, &plan);
 *   switch_prepare(&st, op, &plan, &err);      stage: nothing live changes
 *   ... stop the services concerned ...
 *   switch_commit(&st, op, target_id, &committed, &err);   swap, commit
 *   ... start the services ...
 *   switch_finish(&st, op, &err);               remove the old copies
 *   switch_plan_free(&plan);
 *
 *   switch_recover(&st, op, &outcome, &err);     from `lastgood recover`
 */
#ifndef LG_SWITCH_H
#define LG_SWITCH_H

#include <stddef.h>

struct error;
struct manifest;
struct manifest_entry;
struct state;

struct switch_change {
	const struct manifest_entry *from;   /* NULL when nothing is live there */
	const struct manifest_entry *to;
};

struct switch_plan {
	struct switch_change *changes;
	size_t n;
	size_t alloc;
};

/* The entries of `to` whose content differs from `from`. Entries only in
 * `from` are left alone (a release that does not name a path keeps its live
 * content). The plan points into both manifests: keep them alive. */
void switch_plan_build(const struct manifest *from, const struct manifest *to,
		       struct switch_plan *plan);
void switch_plan_free(struct switch_plan *plan);

/* Journal the plan and stage every entry beside its live path, verifying
 * each object as it is copied. Touches no live path: on failure (a damaged
 * object, no space) the stages are removed and the live files and services
 * were never touched. Callers stop services only after this succeeds, so
 * the services are down for the swaps alone. */
int switch_prepare(struct state *st, long op, const struct switch_plan *plan,
		   struct error *err);
/* Swap the prepared entries in and commit to_release. *committed says
 * whether the commit point was passed. On failure before it the old files
 * are put back before returning -1; if even that fails, err->code is
 * EXIT_NEEDS_ATTENTION and the operation must stay unfinished so that
 * `recover` completes the undo. On failure after it (*committed set) the
 * new release is live and only the journal's last word is missing: the
 * operation must stay unfinished for `recover`. */
int switch_commit(struct state *st, long op, long to_release, int *committed,
		  struct error *err);
/* After a successful switch_commit: remove the old copies and settle the
 * journal (a no-op when that was done already). A later switch in the same
 * operation reuses the stage names, so it must come first. On failure the
 * new release stays live with old copies beside it, and the operation must
 * stay unfinished for `recover`, which removes them. */
int switch_finish(struct state *st, long op, struct error *err);

enum switch_outcome {
	SWITCH_NOTHING,      /* the operation never reached the live files */
	SWITCH_UNDONE,       /* it was undone: the old release is live */
	SWITCH_FINISHED,     /* it was finished: the new release is live */
	SWITCH_COMPLETE,     /* its switch had completed before it stopped */
};

/* Finish or undo the switch of an interrupted operation. Safe to run again
 * after being interrupted itself. */
int switch_recover(struct state *st, long op, enum switch_outcome *outcome,
		   struct error *err);

#endif
