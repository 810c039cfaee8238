/*
 * Extended attributes of a file, folder or symbolic link, as one list
 * sorted by name: what a release keeps of a node beyond its bytes, mode,
 * owner and mtime. POSIX ACLs are the attributes system.posix_acl_access
 * and system.posix_acl_default, and file capabilities (setcap) are
 * security.capability, so all of them travel as plain names and values.
 *
 *   struct xattr_list *attrs;
 *   xattr_read_fd(fd, "/srv/app/run", &attrs, &err);      NULL: it has none
 *   xattr_apply_fd(fd2, attrs, "/srv/app/.stage/run", &err);   exactly these
 *   xattr_list_free(attrs);
 *
 * Reading lists what the caller may see: trusted.* only for root. A file
 * system without extended attributes has none. A symbolic link is read
 * and written through an O_PATH descriptor of the link itself (as
 * /proc/self/fd/N, since the f*xattr calls refuse such descriptors), so
 * its name is never looked up again. Every failure names the attribute
 * and the node.
 */
#ifndef LG_XATTR_H
#define LG_XATTR_H

#include <stddef.h>

struct error;
struct strbuf;

struct xattr {
	char *name;
	unsigned char *value;
	size_t len;
};

struct xattr_list {
	struct xattr *v;         /* sorted by name (strcmp), names unique */
	size_t n;
	size_t alloc;
};

/* *out gets the attributes of the open file or folder fd, or NULL when it
 * has none; what names it in errors. */
int xattr_read_fd(int fd, const char *what, struct xattr_list **out, struct error *err);
/* The same for the symbolic link `name` in the folder dir_fd. */
int xattr_read_link(int dir_fd, const char *name, const char *what, struct xattr_list **out,
		    struct error *err);
/* Make fd's attributes exactly want (NULL: none): those it has that want
 * lacks are removed, then each of want is set. Call after the owner and
 * mode are set (chown drops security.capability, chmod rewrites an ACL's
 * mask) and after the last write (a write drops security.capability). */
int xattr_apply_fd(int fd, const struct xattr_list *want, const char *what, struct error *err);
int xattr_apply_link(int dir_fd, const char *name, const struct xattr_list *want,
		     const char *what, struct error *err);

/* Append name = value[0..len); the caller keeps the list sorted. */
void xattr_list_add(struct xattr_list **list, const char *name, const void *value, size_t len);
struct xattr_list *xattr_list_dup(const struct xattr_list *list);
int xattr_list_equal(const struct xattr_list *a, const struct xattr_list *b);
void xattr_list_free(struct xattr_list *list);

/* A compact, self-delimiting form (the stat cache keeps it with a file's
 * row): empty for no attributes. xattr_list_decode refuses anything
 * xattr_list_encode would not have written. */
void xattr_list_encode(const struct xattr_list *list, struct strbuf *out);
int xattr_list_decode(const void *data, size_t len, struct xattr_list **out);

#endif
