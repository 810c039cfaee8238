/*
 * Garbage collection: dropping old releases and the content only they used.
 *
 * Releases beyond the newest `keep` are deleted, except those that must
 * survive whatever keep says: the live release, the newest release marked
 * good (what a rollback goes to), and any release an unfinished operation
 * names as its from or to release (recover may need either). Then the
 * store is swept: every object that no remaining release's manifest names,
 * nor is a remaining manifest itself, is removed, along with stray
 * temporary objects a crash left in tmp/. The database backups taken with
 * a dropped release go with it (file and row); those of kept releases
 * stay.
 *
 *   struct gc_report rep = GC_REPORT_INIT;
 *   gc_run(&st, cfg.keep_releases, &rep, &err);   under the state lock
 *   ... rep.removed (ids), rep.objects_removed, rep.bytes_freed ...
 *   gc_report_clear(&rep);
 *
 * Order makes it crash-safe: release rows go first, each delete committed
 * on its own, and objects only after, from the rows that remain. A crash at
 * any point leaves at worst unreferenced objects for the next gc, never a
 * release missing content. When a remaining release's manifest cannot be
 * read, nothing is swept, since what it references cannot be known.
 *
 * Callers must hold the state lock, and every object they still need must
 * already be named by a release: the sweep removes anything else.
 */
#ifndef LG_GC_H
#define LG_GC_H

#include <stddef.h>

struct error;
struct state;

struct gc_report {
	long *removed;              /* ids of the releases deleted, oldest first */
	size_t nremoved;
	size_t alloc;
	long releases_kept;
	long objects_removed;
	long objects_kept;
	long long bytes_freed;
	int swept;                  /* the store was swept */
	long backups_removed;       /* database backups of dropped releases */
	long long backup_bytes_freed;
};

#define GC_REPORT_INIT { NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* keep >= 0: how many of the newest releases to keep besides the pinned
 * ones. Fills *report (cleared first). */
int gc_run(struct state *st, int keep, struct gc_report *report, struct error *err);
/* What snapshot and deploy call once a release is recorded: drop releases
 * beyond keep_releases, and sweep the store only when some were dropped
 * (a full sweep is left to `lastgood gc`). */
int gc_after_record(struct state *st, int keep_releases, struct error *err);
void gc_report_clear(struct gc_report *report);

#endif
