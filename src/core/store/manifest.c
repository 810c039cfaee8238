/*
 * Manifests: the model in memory, the canonical text form that names a
 * release, and manifests kept in the store. Capturing live trees, the
 * stat cache and the parser are files of their own beside this one
 * (manifest_internal.h lists them). See manifest.h for the format.
 */
#include "core/manifest.h"
#include "core/store/manifest_internal.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- serialization ---- */

/* The version an entry's lines are hashed in: 1 for the nodes of a
 * version 1 release (they keep their digest), else 2. The nodes of an
 * entry are all of one kind (manifest_parse makes sure). */
static int manifest_entry_version(const struct manifest_entry *e)
{
	return e->nnodes && !manifest_node_known(&e->nodes[0]) ? 1 : 2;
}

/* The version a manifest is written in: 1 when every entry is of a
 * version 1 release (manifest.h), an empty manifest included. */
int manifest_version(const struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (manifest_entry_version(&m->entries[i]) == 2)
			return 2;
	return 1;
}

/* A rel is written with a leading "/" ("/" for the entry itself) so that
 * no field is ever empty and the top can never be confused with a name. */
static void manifest_add_rel(struct strbuf *out, const char *rel)
{
	strbuf_addch(out, '/');
	strbuf_add_escaped(out, rel);
}

/* "\tUID\tGID" */
static void manifest_add_owner(struct strbuf *out, const struct manifest_node *n)
{
	strbuf_addch(out, '\t');
	strbuf_add_uint(out, n->uid, 10, 1);
	strbuf_addch(out, '\t');
	strbuf_add_uint(out, n->gid, 10, 1);
}

/* "\tMODE" in four octal digits */
static void manifest_add_mode(struct strbuf *out, const struct manifest_node *n)
{
	strbuf_addch(out, '\t');
	strbuf_add_uint(out, n->mode, 8, 4);
}

/* "\tSECONDS.NANOSECONDS", or "\t-" when not known */
static void manifest_add_mtime(struct strbuf *out, const struct manifest_node *n)
{
	strbuf_addch(out, '\t');
	if (!manifest_node_known(n)) {
		strbuf_addch(out, '-');
		return;
	}
	if (n->mtime_sec < 0)
		strbuf_addch(out, '-');
	strbuf_add_uint(out, n->mtime_sec < 0 ? 0ULL - (unsigned long long)n->mtime_sec
					      : (unsigned long long)n->mtime_sec, 10, 1);
	strbuf_addch(out, '.');
	strbuf_add_uint(out, (unsigned long long)n->mtime_nsec, 10, 9);
}

/* Written for every node of every capture (twice: hashed, then stored),
 * so without printf. Version 1 lines have no mtime, and no hard links. */
void manifest_node_line(struct strbuf *out, const struct manifest_node *n, int version)
{
	char hex[HASH_HEX_SIZE];

	if (version > 1 && MANIFEST_NODE_IS_HARD_LINK(n)) {
		strbuf_addstr(out, "H\t");
		manifest_add_rel(out, n->rel);
		strbuf_addch(out, '\t');
		manifest_add_rel(out, n->link);
		strbuf_addch(out, '\n');
		return;
	}
	switch (n->type) {
	case NODE_FILE:
		hash_to_hex(n->digest, hex);
		strbuf_addstr(out, "F\t");
		manifest_add_rel(out, n->rel);
		manifest_add_mode(out, n);
		manifest_add_owner(out, n);
		strbuf_addch(out, '\t');
		strbuf_add_uint(out, (unsigned long long)n->size, 10, 1);
		strbuf_addch(out, '\t');
		strbuf_add(out, hex, HASH_HEX_SIZE - 1);
		break;
	case NODE_DIR:
		strbuf_addstr(out, "D\t");
		manifest_add_rel(out, n->rel);
		manifest_add_mode(out, n);
		manifest_add_owner(out, n);
		break;
	case NODE_SYMLINK:
		strbuf_addstr(out, "L\t");
		manifest_add_rel(out, n->rel);
		manifest_add_owner(out, n);
		strbuf_addch(out, '\t');
		strbuf_add_escaped(out, n->link);
		break;
	}
	if (version > 1)
		manifest_add_mtime(out, n);
	strbuf_addch(out, '\n');
}

void manifest_xattr_line(struct strbuf *out, const struct xattr *x)
{
	static const char digits[] = "0123456789abcdef";
	strbuf_addstr(out, "X\t");
	strbuf_add_escaped(out, x->name);
	strbuf_addch(out, '\t');
	if (!x->len)
		strbuf_addch(out, '-');
	for (size_t i = 0; i < x->len; i++) {
		strbuf_addch(out, digits[x->value[i] >> 4]);
		strbuf_addch(out, digits[x->value[i] & 15]);
	}
	strbuf_addch(out, '\n');
}

/* A node's line, then (version 2) a line per attribute; a hard link's
 * attributes are its first name's, written there. */
static void manifest_node_lines(struct strbuf *out, const struct manifest_node *n, int version)
{
	manifest_node_line(out, n, version);
	if (version == 1 || MANIFEST_NODE_IS_HARD_LINK(n) || !n->xattrs)
		return;
	for (size_t i = 0; i < n->xattrs->n; i++)
		manifest_xattr_line(out, &n->xattrs->v[i]);
}

void manifest_entry_line(struct strbuf *out, const struct manifest_entry *e)
{
	strbuf_addstr(out, "E\t");
	strbuf_add_escaped(out, e->service);
	strbuf_addch(out, '\t');
	strbuf_add_escaped(out, e->path);
	strbuf_addf(out, "\t%s\n", e->digest);
}

/* Line by line into the hasher: an entry of 100,000 files would
 * otherwise hold its whole text (some 13 MB) just to be hashed. */
void manifest_entry_finish(struct manifest_entry *entry)
{
	struct strbuf line = STRBUF_INIT;
	int version = manifest_entry_version(entry);
	struct hasher h;
	hasher_init(&h);
	for (size_t i = 0; i < entry->nnodes; i++) {
		strbuf_reset(&line);
		manifest_node_lines(&line, &entry->nodes[i], version);
		hasher_update(&h, line.buf, line.len);
	}
	hasher_final(&h, entry->digest);
	strbuf_release(&line);
}

void manifest_service_digest(const struct manifest *m, const char *service,
			     char digest[HASH_HEX_SIZE])
{
	struct hasher h;
	hasher_init(&h);
	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];
		if (strcmp(e->service, service))
			continue;
		/* a path holds no NUL; a digest is fixed-length hex */
		hasher_update(&h, e->path, strlen(e->path) + 1);
		hasher_update(&h, e->digest, HASH_HEX_SIZE - 1);
	}
	hasher_final(&h, digest);
}

/* Walk the serialized text in chunks of about MANIFEST_CHUNK bytes, so a
 * manifest of any size is written or hashed without being held whole.
 * Stops at the first non-zero answer from fn and returns it. */
#define MANIFEST_CHUNK (64 << 10)
static int manifest_for_each_chunk(const struct manifest *m,
				   int (*fn)(const struct strbuf *chunk, void *ctx), void *ctx)
{
	struct strbuf chunk = STRBUF_INIT;
	int version = manifest_version(m);
	int rc = 0;

	strbuf_addstr(&chunk, version == 1 ? MANIFEST_HEADER_V1 "\n" : MANIFEST_HEADER_V2 "\n");
	for (size_t i = 0; i < m->n && !rc; i++) {
		const struct manifest_entry *e = &m->entries[i];
		manifest_entry_line(&chunk, e);
		for (size_t j = 0; j < e->nnodes && !rc; j++) {
			manifest_node_lines(&chunk, &e->nodes[j], version);
			if (chunk.len >= MANIFEST_CHUNK) {
				rc = fn(&chunk, ctx);
				strbuf_reset(&chunk);
			}
		}
	}
	if (!rc && chunk.len)
		rc = fn(&chunk, ctx);
	strbuf_release(&chunk);
	return rc;
}

static int chunk_append(const struct strbuf *chunk, void *out)
{
	strbuf_add(out, chunk->buf, chunk->len);
	return 0;
}

static int chunk_hash(const struct strbuf *chunk, void *hasher)
{
	hasher_update(hasher, chunk->buf, chunk->len);
	return 0;
}

static int chunk_write(const struct strbuf *chunk, void *fd)
{
	return fs_write_all(*(int *)fd, chunk->buf, chunk->len);
}

void manifest_serialize(const struct manifest *m, struct strbuf *out)
{
	manifest_for_each_chunk(m, chunk_append, out);
}

void manifest_digest(const struct manifest *m, char digest[HASH_HEX_SIZE])
{
	struct hasher h;
	hasher_init(&h);
	manifest_for_each_chunk(m, chunk_hash, &h);
	hasher_final(&h, digest);
}

/* ---- memory ---- */

int manifest_node_order(const void *a, const void *b)
{
	const struct manifest_node *x = a, *y = b;
	return strcmp(x->rel, y->rel);
}

static int manifest_entry_order(const void *a, const void *b)
{
	const struct manifest_entry *x = a, *y = b;
	return strcmp(x->path, y->path);
}

void manifest_sort(struct manifest *m)
{
	if (m->n)
		qsort(m->entries, m->n, sizeof(*m->entries), manifest_entry_order);
}

const struct manifest_entry *manifest_find(const struct manifest *m, const char *path)
{
	struct manifest_entry key;
	if (!m->n)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.path = (char *)path;
	return bsearch(&key, m->entries, m->n, sizeof(*m->entries), manifest_entry_order);
}

char *manifest_node_path(const struct manifest_entry *entry, const struct manifest_node *node)
{
	return *node->rel ? xstrfmt("%s/%s", entry->path, node->rel) : xstrdup(entry->path);
}

struct manifest_node *manifest_entry_add_node(struct manifest_entry *e, const char *rel,
						     enum node_type type)
{
	ALLOC_GROW(e->nodes, e->nnodes + 1, e->alloc);
	struct manifest_node *n = &e->nodes[e->nnodes++];
	memset(n, 0, sizeof(*n));
	n->rel = xstrdup(rel);
	n->type = type;
	return n;
}

struct manifest_entry *manifest_add_entry(struct manifest *m)
{
	ALLOC_GROW(m->entries, m->n + 1, m->alloc);
	struct manifest_entry *e = &m->entries[m->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* What a node has beyond its rel, type and link: a copy's, or a hard
 * link's from its first name. */
void manifest_node_copy_file(struct manifest_node *n, const struct manifest_node *s)
{
	n->mode = s->mode;
	n->uid = s->uid;
	n->gid = s->gid;
	n->size = s->size;
	n->mtime_sec = s->mtime_sec;
	n->mtime_nsec = s->mtime_nsec;
	memcpy(n->digest, s->digest, HASH_SIZE);
	n->xattrs = xattr_list_dup(s->xattrs);
}

void manifest_add_copy(struct manifest *m, const struct manifest_entry *src)
{
	struct manifest_entry *e = manifest_add_entry(m);
	e->service = xstrdup(src->service);
	e->path = xstrdup(src->path);
	memcpy(e->digest, src->digest, HASH_HEX_SIZE);
	for (size_t i = 0; i < src->nnodes; i++) {
		const struct manifest_node *s = &src->nodes[i];
		struct manifest_node *n = manifest_entry_add_node(e, s->rel, s->type);
		manifest_node_copy_file(n, s);
		n->link = s->link ? xstrdup(s->link) : NULL;
	}
}

void manifest_entry_free(struct manifest_entry *entry)
{
	for (size_t i = 0; i < entry->nnodes; i++) {
		free(entry->nodes[i].rel);
		free(entry->nodes[i].link);
		xattr_list_free(entry->nodes[i].xattrs);
	}
	free(entry->nodes);
	free(entry->service);
	free(entry->path);
	memset(entry, 0, sizeof(*entry));
}

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		manifest_entry_free(&m->entries[i]);
	free(m->entries);
	m->entries = NULL;
	m->n = m->alloc = 0;
}

void manifest_totals(const struct manifest *m, long *files, long long *bytes)
{
	*files = 0;
	*bytes = 0;
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->entries[i].nnodes; j++)
			if (m->entries[i].nodes[j].type == NODE_FILE) {
				(*files)++;
				*bytes += m->entries[i].nodes[j].size;
			}
}

/* ---- the store ---- */

int manifest_load(struct store *store, const char *digest, struct manifest *m,
		  struct error *err)
{
	struct strbuf text = STRBUF_INIT;
	int rc = store_read(store, digest, &text, err);
	if (rc == 0)
		rc = manifest_parse(text.buf, text.len, m, err);
	strbuf_release(&text);
	return rc;
}

/* The text goes to the store through a scratch file written a chunk at a
 * time, so that storing a manifest never holds all of its text: peak
 * memory stays that of the manifest itself. */
int manifest_store(struct store *store, const struct manifest *m,
		   char digest[HASH_HEX_SIZE], struct error *err)
{
	/* What manifest_parse would refuse is never stored: a release that
	 * cannot be read back is one that cannot be gone back to. */
	for (size_t i = 1; i < m->n; i++)
		if (strcmp(m->entries[i - 1].path, m->entries[i].path) >= 0)
			return error_set(err, ERROR_FAILED, "release not recorded: entry '%s' is out "
					 "of order or repeated (a bug in lastgood)",
					 m->entries[i].path);
	char *path = xstrfmt("%s/manifest.%ld", store->tmp_dir, (long)getpid());
	int added, rc = -1;

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot create '%s'", path);
		free(path);
		return -1;
	}
	if (manifest_for_each_chunk(m, chunk_write, &fd) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		error_errno(err, ERROR_FAILED, errno, "cannot write '%s'", path);
	else
		rc = store_put_fd(store, fd, path, digest, &added, NULL, err);
	close(fd);
	unlink(path);
	free(path);
	return rc;
}
