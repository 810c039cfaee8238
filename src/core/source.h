/*
 * Deploy sources: a folder, or a .tar / .tar.gz (anything libarchive reads)
 * laid out like the live files.
 *
 *   char *root; int temporary;
 *   source_open(&st, "dist.tar.gz", strip, op, &root, &temporary, &err);
 *   source_check_holds_entries("dist.tar.gz", root, strip, &cfg, selected, &err);
 *   ... read files below root into the target manifest ...
 *   source_check_links("dist.tar.gz", &cfg, &live, &target, &err);
 *   source_close(root, temporary);
 *
 * `git:REV` exports REV from the repository named in the config and runs
 * the configured build in the export; the result is deployed like a folder.
 *
 * A tarball is unpacked into the state folder's scratch space with
 * libarchive's secure-extraction flags and an explicit check of every
 * entry: absolute names, "..", special files, and links leaving the tree
 * are refused before anything is written to the live system. It is
 * untrusted in three more ways:
 *
 *   - it may unpack to at most half the free space and half the free
 *     inodes of the state folder's file system (as they are when unpacking
 *     starts), and to at most 1,000,000 entries; past either the deploy is
 *     refused (exit 2) and the scratch space emptied, so a decompression
 *     bomb never fills the disk, and what passes can still be stored;
 *   - only compressions libarchive decodes in its own process are read
 *     (gzip, bzip2, xz, lzma, zstd, lz4, as far as it was built with them);
 *     one it would hand to an outside program (lrzip, lzop, grzip) is
 *     refused as unreadable, so reading a tarball never runs a program;
 *   - set-user-ID and set-group-ID bits are dropped: unpacked files belong
 *     to whoever runs lastgood, not to the owners the archive names, so
 *     the bits would lend that user's powers (root's) to the tarball's
 *     author. The sticky bit is kept; it only restricts a folder.
 *
 * A folder SOURCE is the operator's own tree and is read as it is, set-ID
 * bits included: its owners are recorded with its modes, and only those
 * owners (or root) could have set the bits. (A tarball's files take the
 * owners of the live files they replace instead: transition.h.)
 *
 * --strip-components N (strip) takes the first N names off every name in
 * a tarball as it is read, as tar does ("." does not count): entries
 * nothing is left of are skipped, and links are judged where they land.
 * A folder has no names to rewrite: its files are taken from the folder N
 * levels down, each level holding that one folder and nothing else.
 *
 * Live, a deployed entry's links resolve from its live path, not from the
 * SOURCE's root: a link `www/cfg -> ../lastgood.yml` in a tarball stays in
 * the tarball but leaves its entry `www`, and would serve the config.
 * source_check_links refuses every link of a deployed entry whose target
 * leaves that entry (see link_leaves_entry in source.c).
 */
#ifndef LG_SOURCE_H
#define LG_SOURCE_H

struct config;
struct error;
struct manifest;
struct state;

/* Open SOURCE (a folder or a tarball) with its first strip names taken
 * off: *root is the tree to read, *temporary set when it is lastgood's own
 * copy (a tarball unpacked) that source_close removes. */
int source_open(struct state *st, const char *source, int strip, long op, char **root,
		int *temporary, struct error *err);
/* A SOURCE must hold at least one `files` entry of the selected services
 * (selected NULL: all), or a deploy would record the live files under the
 * new label: ERROR_USAGE naming what it holds instead, suggesting
 * --strip-components when that is a single folder. */
int source_check_holds_entries(const char *source, const char *root, int strip,
			       const struct config *cfg, const unsigned char *selected,
			       struct error *err);
/* Every entry of target that the SOURCE brings (it differs from the live
 * one) may hold only symbolic links that stay inside that entry, judged
 * from its live path; ERROR_USAGE naming the link, its target and the
 * entry otherwise. */
int source_check_links(const char *source, const struct config *cfg,
		       const struct manifest *live, const struct manifest *target,
		       struct error *err);

/* Resolve "git:REV" in the repository `source: git:` names to a full commit
 * id (caller frees). */
int source_git_resolve(const struct config *cfg, const char *rev, char **commit,
		       struct error *err);
/* Export commit from the repository (git archive) into scratch space and
 * run the configured build there; *root is the built tree (temporary). */
int source_git_export(struct state *st, const struct config *cfg, const char *commit,
		      long op, char **root, struct error *err);
void source_close(char *root, int temporary);
/* Where an entry's replacement sits in a source: relative config paths as
 * written, absolute ones below the root. */
char *source_path_for(const char *root, const char *written);

#endif
