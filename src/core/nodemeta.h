/*
 * Putting a recorded node back: a file's bytes from the store, and every
 * node's owner, mode, extended attributes (ACLs and capabilities among
 * them) and mtime, on descriptors of what a switch stages, in the one
 * order that gives back exactly what was recorded:
 *
 *   1. owner       chown drops set-ID bits and security.capability
 *   2. mode        chmod rewrites an ACL's mask from the group bits
 *   3. attributes  exactly the recorded ones: those a fresh file got from
 *                  its folder (a default ACL) are removed, an ACL comes
 *                  back with its own mask
 *   4. mtime       last, when nothing will write the node again
 *
 * A folder's metadata goes on once everything inside it is made, deepest
 * folder first, since making a name in a folder moves its mtime. A node of
 * a version 1 release (no mtime recorded, manifest.h) gets its owner and
 * mode alone, and keeps what a fresh node gets for the rest.
 *
 *   fd = openat(dir_fd, "run.sh", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
 *   store_materialize_fd(&st->store, digest, fd, path, 0, &err);
 *   node_meta_apply_fd(fd, node, path, &err);
 *   symlinkat(node->link, dir_fd, "current");
 *   node_meta_apply_link(dir_fd, "current", node, path, &err);
 *   ... every folder, deepest first, once its content is made:
 *   node_meta_apply_fd(folder_fd, node, path, &err);
 *
 * When something cannot be set (security.capability or trusted.* as
 * another user than root, an attribute the file system does not take),
 * the error names the attribute and the node: a stage fails before
 * anything live changes.
 */
#ifndef LG_NODEMETA_H
#define LG_NODEMETA_H

struct error;
struct manifest_node;

/* Owner, mode, attributes and mtime of node onto fd, an open regular file
 * or folder (what names it in errors). */
int node_meta_apply_fd(int fd, const struct manifest_node *node, const char *what,
		       struct error *err);
/* The same for the symbolic link `name` in dir_fd (no mode: a link has
 * none), never following it. */
int node_meta_apply_link(int dir_fd, const char *name, const struct manifest_node *node,
			 const char *what, struct error *err);

#endif
