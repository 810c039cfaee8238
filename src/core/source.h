/*
 * Deploy sources: a folder, or a .tar / .tar.gz (anything libarchive reads)
 * laid out like the live files.
 *
 *   char *root; int temporary;
 *   source_open(&st, "dist.tar.gz", op, &root, &temporary, &err);
 *   ... read files below root ...
 *   source_close(root, temporary);
 *
 * A tarball is unpacked into the state folder's scratch space with
 * libarchive's secure-extraction flags and an explicit check of every
 * entry: absolute names, "..", special files, and links leaving the tree
 * are refused before anything is written to the live system.
 */
#ifndef LG_SOURCE_H
#define LG_SOURCE_H

struct error;
struct state;

int source_open(struct state *st, const char *source, long op, char **root,
		int *temporary, struct error *err);
void source_close(char *root, int temporary);
/* Where an entry's replacement sits in a source: relative config paths as
 * written, absolute ones below the root. */
char *source_path_for(const char *root, const char *written);

#endif
