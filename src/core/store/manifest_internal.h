/*
 * What the files of src/core/store share about manifests and no other
 * layer needs: the text's header lines, the writers of single lines (the
 * parser checks each line it reads against them), the order of nodes, and
 * the helpers that grow a manifest. The public interface is manifest.h.
 *
 *   manifest.c    the model in memory, the text form (serialize, digest),
 *                 and manifests kept in the store (load, store)
 *   parse.c       the text back into a manifest, trusting nothing
 *   capture.c     live trees into the store
 *   statcache.c   the stat cache: which files a capture need not read
 */
#ifndef LG_STORE_MANIFEST_INTERNAL_H
#define LG_STORE_MANIFEST_INTERNAL_H

#include "core/manifest.h"

struct strbuf;
struct xattr;

#define MANIFEST_HEADER_V1 "lastgood-manifest 1"
#define MANIFEST_HEADER_V2 "lastgood-manifest 2"

static inline int manifest_node_known(const struct manifest_node *n)
{
	return n->mtime_nsec != MTIME_UNKNOWN;
}

/* The version a manifest is written in (1 or 2). */
int manifest_version(const struct manifest *m);
/* One line each, newline included, exactly as manifest_serialize writes
 * it (version: the manifest's). */
void manifest_node_line(struct strbuf *out, const struct manifest_node *n, int version);
void manifest_xattr_line(struct strbuf *out, const struct xattr *x);
void manifest_entry_line(struct strbuf *out, const struct manifest_entry *e);
/* qsort/bsearch order of nodes: by rel. */
int manifest_node_order(const void *a, const void *b);
/* Append an empty node (rel copied) or entry; the pointer is valid until
 * the next one is added. */
struct manifest_node *manifest_entry_add_node(struct manifest_entry *e, const char *rel,
					      enum node_type type);
struct manifest_entry *manifest_add_entry(struct manifest *m);
/* Copy what a node has beyond its rel, type and link from s. */
void manifest_node_copy_file(struct manifest_node *n, const struct manifest_node *s);

#endif
