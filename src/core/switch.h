/*
 * Switching the live files from one release to another, all or nothing.
 *
 * Each changed `files` entry is first staged beside its live path (same
 * folder, so same file system) under a name nobody can guess,
 * `.lastgood-OP-SEQ-RANDOM`, created exclusively and built from the store
 * through folder descriptors (util/fs.h: no link is followed and no path
 * resolved again, whatever the depth); then each is swapped in with
 * renameat2(RENAME_EXCHANGE), which costs the same for a file or a tree of
 * any size and leaves the old content at the stage name; an entry the
 * target has no content for is moved out to its stage name instead. Then
 * one database transaction records the new live release (the commit
 * point). The old content stays at the stage names until the operation's
 * verdict is final: switch_finish removes it once the new release is
 * verified, and switch_revert swaps it back (a rename each, nothing copied
 * from the store) when it failed.
 *
 * The journal (table switch_entries, and operations.phase) says where a
 * crash happened:
 *   staging    nothing is live yet           -> remove stages: old release
 *   swapping   some entries may be swapped   -> swap those back: old release
 *   committed  everything is swapped         -> remove the old copies: new
 *              (or, for a deploy nothing verified, switch_revert: old)
 *   reverting  some entries swapped back     -> swap the rest back: old
 *   reverted   everything swapped back       -> remove the new copies: old
 * It proves every claim by inode: the stage lastgood created (journaled
 * before anything is written in it) and what was live at the path
 * (journaled once the services are stopped, before the first swap). An
 * entry counts as swapped when its path holds the staged inode, and a
 * stage is removed only when it holds the inode the phase says it must:
 * lastgood never removes what it cannot show it made or moved there (it
 * leaves it in place and notes it on the operation).
 *
 *   struct switch_plan plan;
 *   switch_plan_build(&live_manifest, &target_manifest, &plan);
 *   switch_prepare(&st, op, &plan, &err);      stage: nothing live changes
 *   ... stop the services concerned ...
 *   switch_swap(&st, op, &err);                 swap
 *   operation_commit(&st, op, target_id, &err);  the commit point
 *   ... start the services, judge them ...
 *   switch_finish(&st, op, &err);               verified: remove the old copies
 *      or switch_revert(&st, op, live_id, &err); failed: swap the old back
 *         ... start, judge ..., switch_finish(&st, op, &err)
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

/* The entries of `to` whose content differs from `from`, and the entries
 * of `from` that `to` lacks (change.to NULL: the switch removes them, so
 * build `to` with every live entry that is to stay). The plan points into
 * both manifests: keep them alive. */
void switch_plan_build(const struct manifest *from, const struct manifest *to,
		       struct switch_plan *plan);
void switch_plan_free(struct switch_plan *plan);
/* The entry a change is about: its target, or what it removes. */
const struct manifest_entry *switch_change_entry(const struct switch_change *change);

/* Journal the plan and stage every entry beside its live path, verifying
 * each object as it is copied. Touches no live path: on failure (a damaged
 * object, no space) the stages are removed and the live files and services
 * were never touched. Callers stop services only after this succeeds, so
 * the services are down for the swaps alone. */
int switch_prepare(struct state *st, long op, const struct switch_plan *plan,
		   struct error *err);
/* Swap the prepared entries in (the services concerned stopped). The
 * engine then passes the commit point (operation_commit). On failure the
 * old files are put back before returning -1; if even that fails,
 * err->kind is ERROR_ATTENTION and the operation must stay
 * unfinished so that `recover` completes the undo. */
int switch_swap(struct state *st, long op, struct error *err);
/* After switch_swap, when the commit point could not be written: put the
 * old files back. Returns -1 keeping err (the reason), made
 * ERROR_ATTENTION when the undo failed too. */
int switch_undo(struct state *st, long op, struct error *err);
/* After the commit point, once the new release's verdict is final (or after
 * switch_revert, once the old release's is): remove what the stages hold
 * and settle the journal (a no-op when that was done already). A later
 * switch in the same operation journals afresh, so it must come first.
 * On failure the operation must stay unfinished for `recover`. */
int switch_finish(struct state *st, long op, struct error *err);
/* After the commit point, before switch_finish: the stat cache learns the
 * files now live from plan's targets, so that the next capture does not
 * read them again. staged_ns is manifest_cache_clock() taken after
 * switch_prepare. Only an optimisation: failures are ignored. */
void switch_remember_staged(struct state *st, long op, const struct switch_plan *plan,
			    long long staged_ns);
/* After the commit point, when the new release failed: swap the old content
 * back into every path and commit back_to (the release live before) as
 * live. Nothing is copied, so going back works even when the store lost
 * an object of back_to. The new content stays at the stage names for
 * switch_finish. On failure the operation must stay unfinished. */
int switch_revert(struct state *st, long op, long back_to, struct error *err);
/* 1 when op's switch passed its commit point and still keeps the old
 * content beside each path, so switch_revert can go back; 0 when not; -1
 * when the journal could not be read (err). */
int switch_kept_copies(struct state *st, long op, struct error *err);

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
