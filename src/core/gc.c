/*
 * Garbage collection: release rows first, then the objects no remaining
 * release names. See gc.h for what is always kept and why the order is
 * crash-safe.
 */
#include "core/gc.h"
#include "core/db/backups.h"
#include "core/manifest.h"
#include "core/operation.h"
#include "core/release.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Releases an unfinished operation names: recover may put either live. */
static int gc_pinned_by_operations(struct state *st, long **pins, size_t *npins,
				   struct error *err)
{
	long *ops;
	size_t nops, alloc = 0;
	int rc = 0;

	*pins = NULL;
	*npins = 0;
	if (operation_unfinished(st, &ops, &nops, err) < 0)
		return -1;
	for (size_t i = 0; i < nops && !rc; i++) {
		struct operation_record rec;
		if ((rc = operation_get(st, ops[i], &rec, err)) < 0)
			break;
		if (rec.result == OP_RUNNING) {
			ALLOC_GROW(*pins, *npins + 2, alloc);
			(*pins)[(*npins)++] = rec.from_release;
			(*pins)[(*npins)++] = rec.to_release;
		}
		operation_record_clear(&rec);
	}
	free(ops);
	return rc;
}

static int gc_is_pinned(long id, const long *pins, size_t npins)
{
	for (size_t i = 0; i < npins; i++)
		if (pins[i] == id)
			return 1;
	return 0;
}

static int gc_drop_releases(struct state *st, int keep, struct gc_report *report,
			    struct error *err)
{
	struct release *list;
	size_t n, npins;
	long *pins;
	int rc = 0;

	if (release_list(st, 0, &list, &n, err) < 0)
		return -1;
	if (gc_pinned_by_operations(st, &pins, &npins, err) < 0) {
		release_list_free(list, n);
		return -1;
	}
	long live = state_live_release(st), good = 0;
	for (size_t i = 0; i < n && !good; i++)
		if (list[i].mark == MARK_GOOD)
			good = list[i].id;

	/* list is newest first; dropping from the oldest means a gc cut
	 * short has removed the least useful releases. */
	for (size_t i = n; i-- > 0;) {
		long id = list[i].id;
		if (i < (size_t)keep || id == live || id == good || gc_is_pinned(id, pins, npins)) {
			report->releases_kept++;
			continue;
		}
		if ((rc = release_delete(st, id, err)) < 0)
			break;
		ALLOC_GROW(report->removed, report->nremoved + 1, report->alloc);
		report->removed[report->nremoved++] = id;
	}
	free(pins);
	release_list_free(list, n);
	return rc;
}

/* Every object a remaining release needs: its manifest, its config and
 * its files. */
static int gc_referenced_objects(struct state *st, struct digest_set *referenced,
				 struct error *err)
{
	struct release *list;
	size_t n;
	int rc = 0;

	if (release_list(st, 0, &list, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && !rc; i++) {
		struct manifest m = MANIFEST_INIT;
		digest_set_add(referenced, list[i].digest);
		if (*list[i].config_digest)
			digest_set_add(referenced, list[i].config_digest);
		if ((rc = manifest_load(&st->store, list[i].digest, &m, err)) < 0) {
			error_prefix(err, "release %ld cannot be read, so no content was removed "
				     "(run 'lastgood fsck')", list[i].id);
			break;
		}
		for (size_t e = 0; e < m.n; e++)
			for (size_t k = 0; k < m.entries[e].nnodes; k++)
				if (m.entries[e].nodes[k].type == NODE_FILE) {
					char hex[HASH_HEX_SIZE];
					hash_to_hex(m.entries[e].nodes[k].digest, hex);
					digest_set_add(referenced, hex);
				}
		manifest_free(&m);
	}
	release_list_free(list, n);
	digest_set_sort(referenced);
	return rc;
}

struct gc_sweep {
	struct state *st;
	const struct digest_set *referenced;
	struct gc_report *report;
	struct error *err;
};

static int gc_sweep_object(const char *digest, const char *path, void *ctx)
{
	struct gc_sweep *s = ctx;
	struct stat sb;

	if (digest_set_has(s->referenced, digest)) {
		s->report->objects_kept++;
		return 0;
	}
	long long size = lstat(path, &sb) == 0 ? (long long)sb.st_size : 0;
	if (store_remove(&s->st->store, digest, s->err) < 0)
		return -1;
	s->report->objects_removed++;
	s->report->bytes_freed += size;
	return 0;
}

/* The stat cache's rows of objects about to go are dropped before the
 * first one does: a snapshot trusts a row without asking the store
 * (store/statcache.h). A crash between the two leaves rows missing, which costs
 * a read. */
static int gc_sweep(struct state *st, struct gc_report *report, struct error *err)
{
	struct digest_set referenced = DIGEST_SET_INIT;
	struct gc_sweep s = { st, &referenced, report, err };
	int rc = store_clean_tmp(&st->store, err);

	if (rc == 0)
		rc = gc_referenced_objects(st, &referenced, err);
	if (rc == 0)
		rc = manifest_cache_forget(st, &referenced, err);
	if (rc == 0)
		rc = store_for_each(&st->store, gc_sweep_object, &s, err);
	if (rc == 0)
		report->swept = 1;
	digest_set_clear(&referenced);
	return rc;
}

static int gc_collect(struct state *st, int keep, int always_sweep,
		      struct gc_report *report, struct error *err)
{
	gc_report_clear(report);
	if (keep < 0)
		return error_set(err, ERROR_USAGE, "cannot keep %d releases: want 0 or more", keep);
	if (gc_drop_releases(st, keep, report, err) < 0 ||
	    db_backups_drop_orphans(st, &report->backups_removed, &report->backup_bytes_freed,
				    err) < 0)
		return -1;
	if (!always_sweep && !report->nremoved)
		return 0;
	return gc_sweep(st, report, err);
}

int gc_run(struct state *st, int keep, struct gc_report *report, struct error *err)
{
	return gc_collect(st, keep, 1, report, err);
}

int gc_after_record(struct state *st, int keep_releases, struct error *err)
{
	struct gc_report report = GC_REPORT_INIT;
	int rc = gc_collect(st, keep_releases, 0, &report, err);
	gc_report_clear(&report);
	return rc;
}

void gc_report_clear(struct gc_report *report)
{
	free(report->removed);
	memset(report, 0, sizeof(*report));
}
