/*
 * fsck: re-hash the whole store and map each missing or damaged object to
 * the releases it breaks; and the one-release check switch runs first.
 */
#include "core/fsck.h"
#include "core/manifest.h"
#include "core/release.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

struct fsck_walk {
	struct state *st;
	struct fsck_report *rep;
	struct digest_set intact;
	struct digest_set corrupt;
};

const char *fsck_problem_name(enum fsck_problem_kind kind)
{
	switch (kind) {
	case FSCK_MISSING: return "missing";
	case FSCK_CORRUPT: return "corrupt";
	case FSCK_MALFORMED: return "malformed";
	}
	return "?";
}

/* The problem recorded for digest, created on first sight. Problems are
 * few, so a linear search is enough. */
static struct fsck_problem *fsck_problem_for(struct fsck_report *rep,
					     enum fsck_problem_kind kind, const char *digest)
{
	for (size_t i = 0; i < rep->nproblems; i++)
		if (!strcmp(rep->problems[i].digest, digest))
			return &rep->problems[i];
	ALLOC_GROW(rep->problems, rep->nproblems + 1, rep->alloc);
	struct fsck_problem *p = &rep->problems[rep->nproblems++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	memcpy(p->digest, digest, HASH_HEX_SIZE);
	return p;
}

/* path is NULL when the object is the release's manifest. Releases are
 * checked one at a time, so a release that uses one object twice shows up
 * twice in a row. */
static void fsck_problem_use(struct fsck_problem *p, long release, const char *path)
{
	if (!path)
		p->manifest = 1;
	else if (!p->path)
		p->path = xstrdup(path);
	if (p->nreleases && p->releases[p->nreleases - 1] == release)
		return;
	ALLOC_GROW(p->releases, p->nreleases + 1, p->alloc);
	p->releases[p->nreleases++] = release;
}

static int fsck_object(const char *digest, const char *path, void *ctx)
{
	struct fsck_walk *w = ctx;
	struct error ignored = ERROR_INIT;
	(void)path;

	w->rep->objects++;
	switch (store_check(w->st, digest, &ignored)) {
	case STORE_INTACT:
		digest_set_add(&w->intact, digest);
		break;
	case STORE_CORRUPT:
		digest_set_add(&w->corrupt, digest);
		fsck_problem_for(w->rep, FSCK_CORRUPT, digest);
		break;
	case STORE_MISSING:
		break;   /* removed since it was listed: not ours to judge */
	}
	return 0;
}

/* The problem digest is, when it is not an intact object; else NULL. */
static struct fsck_problem *fsck_damage(struct fsck_walk *w, const char *digest)
{
	if (digest_set_has(&w->corrupt, digest))
		return fsck_problem_for(w->rep, FSCK_CORRUPT, digest);
	if (!digest_set_has(&w->intact, digest))
		return fsck_problem_for(w->rep, FSCK_MISSING, digest);
	return NULL;
}

static void fsck_check_release(struct fsck_walk *w, const struct release *r)
{
	struct manifest m = MANIFEST_INIT;
	struct error cause = ERROR_INIT;
	struct fsck_problem *p;

	w->rep->releases++;
	if ((p = fsck_damage(w, r->digest))) {
		fsck_problem_use(p, r->id, NULL);
		return;
	}
	if (manifest_load(w->st, r->digest, &m, &cause) < 0) {
		p = fsck_problem_for(w->rep, FSCK_MALFORMED, r->digest);
		if (!p->detail)
			p->detail = xstrdup(cause.msg);
		fsck_problem_use(p, r->id, NULL);
		return;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct manifest_entry *e = &m.entries[i];
		for (size_t j = 0; j < e->nnodes; j++) {
			char hex[HASH_HEX_SIZE];
			if (e->nodes[j].type != NODE_FILE)
				continue;
			hash_to_hex(e->nodes[j].digest, hex);
			if (!(p = fsck_damage(w, hex)))
				continue;
			char *where = manifest_node_path(e, &e->nodes[j]);
			fsck_problem_use(p, r->id, where);
			free(where);
		}
	}
	manifest_free(&m);
}

static int fsck_problem_order(const void *a, const void *b)
{
	const struct fsck_problem *x = a, *y = b;
	return strcmp(x->digest, y->digest);
}

static int fsck_release_order(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int fsck_run(struct state *st, struct fsck_report *rep, struct error *err)
{
	struct fsck_walk w = { st, rep, DIGEST_SET_INIT, DIGEST_SET_INIT };
	struct release *list = NULL;
	size_t n = 0;
	int rc;

	fsck_report_clear(rep);
	rc = store_for_each(st, fsck_object, &w, err);
	digest_set_sort(&w.intact);
	digest_set_sort(&w.corrupt);
	if (rc == 0)
		rc = release_list(st, 0, &list, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		fsck_check_release(&w, &list[i]);
	release_list_free(list, n);
	/* A snapshot trusts the stat cache without asking the store: the
	 * rows naming damaged or missing objects go, so that the next one
	 * reads those files again and the store heals. */
	struct error cache_err = ERROR_INIT;
	if (rc == 0 && rep->nproblems &&
	    manifest_cache_forget(st, &w.intact, &cache_err) < 0)
		rep->cache_note = xstrdup(cache_err.msg);
	digest_set_clear(&w.intact);
	digest_set_clear(&w.corrupt);
	if (rep->nproblems)
		qsort(rep->problems, rep->nproblems, sizeof(*rep->problems), fsck_problem_order);
	for (size_t i = 0; i < rep->nproblems; i++)
		if (rep->problems[i].nreleases)
			qsort(rep->problems[i].releases, rep->problems[i].nreleases,
			      sizeof(long), fsck_release_order);
	return rc;
}

void fsck_report_clear(struct fsck_report *rep)
{
	for (size_t i = 0; i < rep->nproblems; i++) {
		free(rep->problems[i].path);
		free(rep->problems[i].detail);
		free(rep->problems[i].releases);
	}
	free(rep->problems);
	free(rep->cache_note);
	memset(rep, 0, sizeof(*rep));
}

