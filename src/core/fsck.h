/*
 * Checking the store against the releases that depend on it.
 *
 * fsck_run re-hashes every object in the store, then reads every release's
 * manifest and looks up every file it names. Each object found missing,
 * corrupt (its bytes no longer hash to its name) or, for a manifest,
 * malformed becomes one problem listing the releases it breaks; a corrupt
 * object nothing uses is still reported, with no releases.
 *
 *   struct fsck_report rep = FSCK_REPORT_INIT;
 *   fsck_run(&st, &rep, &err);          -1 only when the check itself failed
 *   for (i < rep.nproblems) ... rep.problems[i] ...
 *   fsck_report_clear(&rep);
 *
 * A switch does not call fsck: it verifies each object as it copies it
 * into the stage, before any service stops (switch.h).
 *
 * fsck changes nothing but the stat cache: when it finds damage, the rows
 * naming damaged or missing content go, so that the next snapshot reads
 * those files again (manifest.c). A cache needs no lock; when its rows
 * cannot be dropped (a read-only state on a full disk, a busy database),
 * rep.cache_note says why and the check stands.
 */
#ifndef LG_FSCK_H
#define LG_FSCK_H

#include <stddef.h>

#include "util/hash.h"

struct error;
struct state;

enum fsck_problem_kind {
	FSCK_MISSING,
	FSCK_CORRUPT,
	FSCK_MALFORMED,             /* a manifest that is intact but does not parse */
};

struct fsck_problem {
	enum fsck_problem_kind kind;
	char digest[HASH_HEX_SIZE];
	int manifest;               /* it is a release's manifest */
	char *path;                 /* else the first live path using it; NULL if unused */
	char *detail;               /* the parse error of a malformed manifest, else NULL */
	long *releases;             /* releases it breaks, ascending */
	size_t nreleases;
	size_t alloc;
};

struct fsck_report {
	long objects;               /* objects re-hashed */
	long releases;              /* releases checked */
	struct fsck_problem *problems;   /* sorted by digest */
	size_t nproblems;
	size_t alloc;
	char *cache_note;           /* why the stat cache still names damage, or NULL */
};

#define FSCK_REPORT_INIT { 0, 0, NULL, 0, 0, NULL }

int fsck_run(struct state *st, struct fsck_report *rep, struct error *err);
void fsck_report_clear(struct fsck_report *rep);
const char *fsck_problem_name(enum fsck_problem_kind kind);

#endif
