/*
 * Extended attributes (ACLs and capabilities included) read from and
 * written to open descriptors, and their list's compact form. See xattr.h.
 */
#include "util/xattr.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A file or folder by its descriptor, or a symbolic link by the
 * /proc/self/fd name of an O_PATH descriptor of it. */
struct xattr_target {
	int fd;
	char proc[48];           /* "" for fd */
	const char *what;
};

static ssize_t target_list(const struct xattr_target *t, char *buf, size_t size)
{
	return *t->proc ? listxattr(t->proc, buf, size) : flistxattr(t->fd, buf, size);
}

static ssize_t target_get(const struct xattr_target *t, const char *name, void *buf, size_t size)
{
	return *t->proc ? getxattr(t->proc, name, buf, size) : fgetxattr(t->fd, name, buf, size);
}

static int target_set(const struct xattr_target *t, const struct xattr *x)
{
	return *t->proc ? setxattr(t->proc, x->name, x->value, x->len, 0)
			: fsetxattr(t->fd, x->name, x->value, x->len, 0);
}

static int target_remove(const struct xattr_target *t, const char *name)
{
	return *t->proc ? removexattr(t->proc, name) : fremovexattr(t->fd, name);
}

/* The names the target has, as listxattr gives them (NUL-separated) in
 * *names (allocated, NULL when none) and *len. */
static int target_names(const struct xattr_target *t, char **names, size_t *len,
			struct error *err)
{
	*names = NULL;
	*len = 0;
	for (;;) {
		ssize_t size = target_list(t, NULL, 0);
		if (size < 0 && (errno == ENOTSUP || errno == ENOSYS))
			return 0;   /* a file system without attributes */
		if (size < 0)
			break;
		if (size == 0)
			return 0;
		*names = xrealloc(*names, (size_t)size);
		ssize_t got = target_list(t, *names, (size_t)size);
		if (got >= 0) {
			*len = (size_t)got;
			return 0;
		}
		if (errno != ERANGE)   /* ERANGE: one was added since */
			break;
	}
	int e = errno;
	free(*names);
	*names = NULL;
	return error_errno(err, ERROR_FAILED, e, "cannot list the attributes of '%s'", t->what);
}

static int xattr_order(const void *a, const void *b)
{
	return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

void xattr_list_add(struct xattr_list **list, const char *name, const void *value, size_t len)
{
	if (!*list)
		*list = xcalloc(1, sizeof(**list));
	struct xattr_list *l = *list;
	ALLOC_GROW(l->v, l->n + 1, l->alloc);
	struct xattr *x = &l->v[l->n++];
	x->name = xstrdup(name);
	x->value = xmalloc(len ? len : 1);
	if (len)
		memcpy(x->value, value, len);
	x->len = len;
}

/* The value of one attribute into *value (allocated); 1 when it is gone
 * (removed since it was listed). */
static int target_value(const struct xattr_target *t, const char *name, unsigned char **value,
			size_t *len, struct error *err)
{
	*value = NULL;
	for (;;) {
		ssize_t size = target_get(t, name, NULL, 0);
		if (size >= 0) {
			*value = xrealloc(*value, size ? (size_t)size : 1);
			ssize_t got = target_get(t, name, *value, (size_t)size);
			if (got >= 0) {
				*len = (size_t)got;
				return 0;
			}
		}
		if (errno == ERANGE)   /* it grew since */
			continue;
		int e = errno;
		free(*value);
		*value = NULL;
		if (e == ENODATA)
			return 1;
		return error_errno(err, ERROR_FAILED, e, "cannot read attribute '%s' of '%s'", name,
				   t->what);
	}
}

static int target_read(const struct xattr_target *t, struct xattr_list **out, struct error *err)
{
	char *names;
	size_t len;

	*out = NULL;
	if (target_names(t, &names, &len, err) < 0)
		return -1;
	for (size_t at = 0; at < len; at += strlen(names + at) + 1) {
		unsigned char *value;
		size_t vlen = 0;
		int rc = target_value(t, names + at, &value, &vlen, err);
		if (rc < 0) {
			free(names);
			xattr_list_free(*out);
			*out = NULL;
			return -1;
		}
		if (rc == 0) {
			xattr_list_add(out, names + at, value, vlen);
			free(value);
		}
	}
	free(names);
	if (*out)
		qsort((*out)->v, (*out)->n, sizeof(*(*out)->v), xattr_order);
	return 0;
}

static const struct xattr *xattr_find(const struct xattr_list *list, const char *name)
{
	if (!list)
		return NULL;
	struct xattr key = { .name = (char *)name };
	return bsearch(&key, list->v, list->n, sizeof(*list->v), xattr_order);
}

static int target_apply(const struct xattr_target *t, const struct xattr_list *want,
			struct error *err)
{
	char *names;
	size_t len;
	int rc = 0;

	if (target_names(t, &names, &len, err) < 0)
		return -1;
	for (size_t at = 0; rc == 0 && at < len; at += strlen(names + at) + 1)
		if (!xattr_find(want, names + at) && target_remove(t, names + at) < 0 &&
		    errno != ENODATA)
			rc = error_errno(err, ERROR_FAILED, errno, "cannot remove attribute '%s' of '%s'",
					 names + at, t->what);
	free(names);
	for (size_t i = 0; rc == 0 && want && i < want->n; i++)
		if (target_set(t, &want->v[i]) < 0)
			rc = error_errno(err, ERROR_FAILED, errno, "cannot set attribute '%s' of '%s'",
					 want->v[i].name, t->what);
	return rc;
}

int xattr_read_fd(int fd, const char *what, struct xattr_list **out, struct error *err)
{
	struct xattr_target t = { .fd = fd, .what = what };
	return target_read(&t, out, err);
}

int xattr_apply_fd(int fd, const struct xattr_list *want, const char *what, struct error *err)
{
	struct xattr_target t = { .fd = fd, .what = what };
	return target_apply(&t, want, err);
}

/* An O_PATH descriptor of the link itself, checked to be a link still. */
static int target_open_link(int dir_fd, const char *name, struct xattr_target *t,
			    struct error *err)
{
	struct stat sb;
	t->fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (t->fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "cannot open link '%s'", t->what);
	if (fstat(t->fd, &sb) < 0 || !S_ISLNK(sb.st_mode)) {
		close(t->fd);
		return error_set(err, ERROR_FAILED, "'%s' is no longer a symbolic link", t->what);
	}
	snprintf(t->proc, sizeof(t->proc), "/proc/self/fd/%d", t->fd);
	return 0;
}

int xattr_read_link(int dir_fd, const char *name, const char *what, struct xattr_list **out,
		    struct error *err)
{
	struct xattr_target t = { .what = what };
	*out = NULL;
	if (target_open_link(dir_fd, name, &t, err) < 0)
		return -1;
	int rc = target_read(&t, out, err);
	close(t.fd);
	return rc;
}

int xattr_apply_link(int dir_fd, const char *name, const struct xattr_list *want,
		     const char *what, struct error *err)
{
	struct xattr_target t = { .what = what };
	if (target_open_link(dir_fd, name, &t, err) < 0)
		return -1;
	int rc = target_apply(&t, want, err);
	close(t.fd);
	return rc;
}

struct xattr_list *xattr_list_dup(const struct xattr_list *list)
{
	struct xattr_list *copy = NULL;
	for (size_t i = 0; list && i < list->n; i++)
		xattr_list_add(&copy, list->v[i].name, list->v[i].value, list->v[i].len);
	return copy;
}

int xattr_list_equal(const struct xattr_list *a, const struct xattr_list *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a->v[i].name, b->v[i].name) || a->v[i].len != b->v[i].len ||
		    memcmp(a->v[i].value, b->v[i].value, a->v[i].len))
			return 0;
	return 1;
}

void xattr_list_free(struct xattr_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].name);
		free(list->v[i].value);
	}
	free(list->v);
	free(list);
}

/* Each attribute as its name, a NUL, its length in decimal, ':' and its
 * value. */
void xattr_list_encode(const struct xattr_list *list, struct strbuf *out)
{
	for (size_t i = 0; list && i < list->n; i++) {
		strbuf_add(out, list->v[i].name, strlen(list->v[i].name) + 1);
		strbuf_add_uint(out, list->v[i].len, 10, 1);
		strbuf_addch(out, ':');
		strbuf_add(out, list->v[i].value, list->v[i].len);
	}
}

int xattr_list_decode(const void *data, size_t len, struct xattr_list **out)
{
	const char *p = data, *end = p + len;
	*out = NULL;
	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || nul == p ||
		    ((*out) && strcmp((*out)->v[(*out)->n - 1].name, p) >= 0))
			goto bad;
		const char *name = p;
		size_t vlen = 0;
		p = nul + 1;
		const char *digits = p;
		while (p < end && *p >= '0' && *p <= '9' && p - digits < 10)
			vlen = vlen * 10 + (size_t)(*p++ - '0');
		if (p == digits || p == end || *p != ':' || (*digits == '0' && p - digits > 1) ||
		    vlen > (size_t)(end - p - 1))
			goto bad;
		p++;
		xattr_list_add(out, name, p, vlen);
		p += vlen;
	}
	return 0;
bad:
	xattr_list_free(*out);
	*out = NULL;
	return -1;
}
