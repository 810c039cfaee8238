/*
 * The differences between two releases: the files that were added,
 * removed or modified, in the order of their manifests (entries by path,
 * nodes by name), each modified one with what changed in words ("mode
 * 0644 -> 0755, content") and, for two text files, its changed lines as
 * the system's `diff -u` shows the two objects in the store; and, when
 * both releases recorded their config and the two differ, its changed
 * lines with every secret of either side masked.
 *
 *   struct diff_list list = DIFF_LIST_INIT;
 *   diff_releases(&st, &cfg, from, to, quote_name, &list, &err);
 *   if (list.patch_error) ... why some changed lines are missing
 *   for (i < list.n) ... list.v[i] ...; list.config.changed ...
 *   diff_list_free(&list);
 *
 * Names are shown relative to the config's folder when they are below it
 * (diff_shown_path), as lastgood.yml writes them. quote_name is the
 * caller's quoting of a name for output: the patches' "---" and "+++"
 * labels and a link's targets in the details go through it, so that a
 * name cannot forge lines there. Nothing is printed; the state and the
 * store are only read (the configs are copied to private temporary files
 * for `diff` to read, removed before diff_releases returns).
 */
#ifndef LG_DIFF_H
#define LG_DIFF_H

#include "core/manifest.h"
#include "util/strbuf.h"

struct config;
struct error;
struct state;

enum diff_kind {
	DIFF_ADDED,
	DIFF_REMOVED,
	DIFF_MODIFIED,
};

struct diff_change {
	enum diff_kind kind;
	const char *service;
	char *path;
	const struct manifest_node *node;   /* the newer side when there is one */
	struct strbuf details;              /* "mode 0644 -> 0755, content" */
	struct strbuf patch;                /* diff -u output for text files */
};

/* The configs two releases were recorded with, when both were and they
 * differ: their changed lines, secrets masked. */
struct diff_config {
	int changed;
	const char *shown;       /* the config's name as diff_shown_path gives it */
	const char *hidden;      /* why its lines are not shown, or NULL */
	struct strbuf patch;
};

struct diff_list {
	const char *base;                   /* the config's folder */
	struct diff_change *v;
	size_t n;
	size_t alloc;
	struct diff_config config;
	char *patch_error;                  /* why `diff` could not run, or NULL */
	struct manifest old, new;           /* what the changes point into */
};

#define DIFF_LIST_INIT { NULL, NULL, 0, 0, { 0, NULL, NULL, STRBUF_INIT }, NULL, \
			 MANIFEST_INIT, MANIFEST_INIT }

/* Fill list with the differences from release `from` to release `to`
 * (st and cfg are only read, and must outlive list: names point into
 * cfg). quote_name returns an allocated copy of a name quoted for output.
 * Returns -1 with err set when a release or its manifest cannot be read;
 * changed lines that cannot be shown are left out, with patch_error set,
 * and are not an error. list is the caller's to free either way. */
int diff_releases(struct state *st, const struct config *cfg, long from, long to,
		  char *(*quote_name)(const char *name), struct diff_list *list,
		  struct error *err);

void diff_list_free(struct diff_list *list);

/* path as the config names it: relative when below the config's folder. */
const char *diff_shown_path(const struct diff_list *list, const char *path);

/* "file", "folder" or "symlink". */
const char *diff_type_name(enum node_type type);

#endif
