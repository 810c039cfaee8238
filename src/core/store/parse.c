/*
 * Reading a manifest's text back (manifest_parse): every line must be one
 * manifest_serialize would write, in its place, so that a damaged or
 * forged manifest is refused rather than half believed. See manifest.h.
 */
#include "core/manifest.h"
#include "core/store/manifest_internal.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xattr.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct manifest_parser {
	struct manifest *m;
	int line;
	int entry_line;          /* where the current entry's E line was */
	int version;             /* of the text, as its first line says */
	struct strbuf scratch;
	struct error *err;
};

struct field {
	const char *p;
	size_t len;
};

#define MAX_FIELDS 8

static int parse_error(struct manifest_parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int parse_error(struct manifest_parser *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(p->err, ERROR_FAILED, "manifest line %d: %s", p->line, msg);
	return -1;
}

/* Split a line (without its newline) at tabs; returns the field count, or
 * MAX_FIELDS + 1 when there are more. */
static size_t split_fields(const char *line, size_t len, struct field *f)
{
	size_t n = 0;
	const char *end = line + len;
	for (;;) {
		const char *tab = memchr(line, '\t', (size_t)(end - line));
		const char *stop = tab ? tab : end;
		if (n == MAX_FIELDS)
			return MAX_FIELDS + 1;
		f[n].p = line;
		f[n].len = (size_t)(stop - line);
		n++;
		if (!tab)
			return n;
		line = tab + 1;
	}
}

/* Unescape a text field; NUL cannot be part of any name. */
static int parse_text(struct manifest_parser *p, const struct field *f, const char *what,
		      char **out)
{
	struct strbuf sb = STRBUF_INIT;
	*out = NULL;
	if (strbuf_add_unescaped(&sb, f->p, f->len) < 0 || memchr(sb.buf, '\0', sb.len)) {
		strbuf_release(&sb);
		return parse_error(p, "bad %s", what);
	}
	if (!sb.len) {
		strbuf_release(&sb);
		return parse_error(p, "empty %s", what);
	}
	*out = strbuf_detach(&sb);
	return 0;
}

/* A rel must stay inside its entry: no "..", ".", empty or absolute
 * components, whatever the manifest claims. */
static int parse_rel(struct manifest_parser *p, const struct field *f, char **out)
{
	struct strbuf sb = STRBUF_INIT;
	*out = NULL;
	if (!f->len || f->p[0] != '/' ||
	    strbuf_add_unescaped(&sb, f->p + 1, f->len - 1) < 0 ||
	    memchr(sb.buf, '\0', sb.len)) {
		strbuf_release(&sb);
		return parse_error(p, "bad relative path");
	}
	if (sb.len) {
		const char *c = sb.buf;
		for (;;) {
			const char *slash = strchrnul(c, '/');
			size_t n = (size_t)(slash - c);
			if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
				char *rel = xstrdup(sb.buf);
				strbuf_release(&sb);
				parse_error(p, "relative path '%s' leaves its entry or has an empty part", rel);
				free(rel);
				return -1;
			}
			if (!*slash)
				break;
			c = slash + 1;
		}
	}
	*out = strbuf_detach(&sb);
	return 0;
}

static int parse_number(struct manifest_parser *p, const struct field *f, int base,
			unsigned long long max, const char *what, unsigned long long *out)
{
	unsigned long long v = 0;
	*out = 0;
	if (!f->len || f->len > 20)
		return parse_error(p, "bad %s", what);
	for (size_t i = 0; i < f->len; i++) {
		int d = f->p[i] - '0';
		if (d < 0 || d >= base || v > (max - (unsigned long long)d) / (unsigned long long)base)
			return parse_error(p, "bad %s", what);
		v = v * (unsigned long long)base + (unsigned long long)d;
	}
	*out = v;
	return 0;
}

static int parse_owner(struct manifest_parser *p, const struct field *f,
		       struct manifest_node *n)
{
	unsigned long long uid, gid;
	if (parse_number(p, &f[0], 10, (uid_t)-1, "owner", &uid) < 0 ||
	    parse_number(p, &f[1], 10, (gid_t)-1, "group", &gid) < 0)
		return -1;
	n->uid = (uid_t)uid;
	n->gid = (gid_t)gid;
	return 0;
}

static int parse_mode(struct manifest_parser *p, const struct field *f,
		      struct manifest_node *n)
{
	unsigned long long mode;
	if (parse_number(p, f, 8, 07777, "mode", &mode) < 0)
		return -1;
	n->mode = (mode_t)mode;
	return 0;
}

/* An entry ends at the next E line or at the end: it must have nodes, and
 * they must hash to the digest its E line claims. */
static int parse_finish_entry(struct manifest_parser *p)
{
	if (!p->m->n)
		return 0;
	struct manifest_entry *e = &p->m->entries[p->m->n - 1];
	char claimed[HASH_HEX_SIZE];
	int line = p->line;

	p->line = p->entry_line;
	if (!e->nnodes)
		return parse_error(p, "entry '%s' has no nodes", e->path);
	memcpy(claimed, e->digest, HASH_HEX_SIZE);
	manifest_entry_finish(e);
	if (strcmp(claimed, e->digest))
		return parse_error(p, "entry '%s' does not match its digest", e->path);
	p->line = line;
	return 0;
}

static int parse_entry(struct manifest_parser *p, const struct field *f, size_t nf)
{
	if (nf != 4)
		return parse_error(p, "entry needs 4 fields, not %zu", nf);
	if (parse_finish_entry(p) < 0)
		return -1;
	struct manifest_entry *e = manifest_add_entry(p->m);
	p->entry_line = p->line;
	if (parse_text(p, &f[1], "service", &e->service) < 0 ||
	    parse_text(p, &f[2], "path", &e->path) < 0)
		return -1;
	if (e->path[0] != '/')
		return parse_error(p, "path '%s' is not absolute", e->path);
	if (f[3].len != HASH_HEX_SIZE - 1)
		return parse_error(p, "bad entry digest");
	memcpy(e->digest, f[3].p, HASH_HEX_SIZE - 1);
	e->digest[HASH_HEX_SIZE - 1] = '\0';
	if (!hash_is_valid_hex(e->digest))
		return parse_error(p, "bad entry digest");
	if (p->m->n > 1 && strcmp(p->m->entries[p->m->n - 2].path, e->path) >= 0)
		return parse_error(p, "entry '%s' is out of order or repeated", e->path);
	return 0;
}

/* Nodes arrive sorted, so a node's folder is already there to be found. */
static int parse_check_parent(struct manifest_parser *p, const struct manifest_entry *e,
			      const char *rel)
{
	const char *slash = strrchr(rel, '/');
	struct manifest_node key;
	memset(&key, 0, sizeof(key));
	key.rel = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	const struct manifest_node *parent =
		bsearch(&key, e->nodes, e->nnodes, sizeof(*e->nodes), manifest_node_order);
	free(key.rel);
	if (!parent || parent->type != NODE_DIR)
		return parse_error(p, "'%s' is not inside a folder of its entry", rel);
	return 0;
}

/* "SECONDS.NANOSECONDS" (nine digits), or "-" in a node of a version 1
 * release; the canonical check refuses any other spelling of a time. */
static int parse_mtime(struct manifest_parser *p, const struct field *f, struct manifest_node *n)
{
	n->mtime_nsec = MTIME_UNKNOWN;
	if (f->len == 1 && f->p[0] == '-')
		return 0;
	const char *dot = memchr(f->p, '.', f->len);
	int negative = f->len && f->p[0] == '-';
	if (!dot || f->p + f->len - dot != 10)
		return parse_error(p, "bad mtime");
	struct field sec = { f->p + negative, (size_t)(dot - f->p) - (size_t)negative };
	struct field nsec = { dot + 1, 9 };
	unsigned long long s, ns;
	if (parse_number(p, &sec, 10, LLONG_MAX, "mtime", &s) < 0 ||
	    parse_number(p, &nsec, 10, 999999999, "mtime", &ns) < 0)
		return -1;
	n->mtime_sec = negative ? -(long long)s : (long long)s;
	n->mtime_nsec = (int)ns;
	return 0;
}

/* The node of the next line, after checking its rel: strictly after the
 * entry's last node, inside a folder of the entry (the entry itself first). */
static struct manifest_node *parse_add_node(struct manifest_parser *p, const struct field *f)
{
	if (!p->m->n) {
		parse_error(p, "node before any entry");
		return NULL;
	}
	struct manifest_entry *e = &p->m->entries[p->m->n - 1];
	char *rel;
	if (parse_rel(p, f, &rel) < 0)
		return NULL;
	if (e->nnodes ? strcmp(e->nodes[e->nnodes - 1].rel, rel) >= 0 : *rel != '\0') {
		if (e->nnodes)
			parse_error(p, "'%s' is out of order or repeated", rel);
		else
			parse_error(p, "entry must start with its top node '/'");
		free(rel);
		return NULL;
	}
	if (*rel && parse_check_parent(p, e, rel) < 0) {
		free(rel);
		return NULL;
	}
	struct manifest_node *n = manifest_entry_add_node(e, rel, NODE_FILE);
	free(rel);
	return n;
}

/* In version 2 an entry's nodes all have an mtime, or (an entry of a
 * version 1 release) none has. */
static int parse_check_kind(struct manifest_parser *p)
{
	const struct manifest_entry *e = &p->m->entries[p->m->n - 1];
	if (manifest_node_known(&e->nodes[e->nnodes - 1]) != manifest_node_known(&e->nodes[0]))
		return parse_error(p, "entry '%s' mixes nodes with and without an mtime", e->path);
	return 0;
}

static int parse_node(struct manifest_parser *p, char type, const struct field *f, size_t nf)
{
	static const size_t want[] = { ['F'] = 7, ['D'] = 5, ['L'] = 5 };
	size_t fields = want[(unsigned char)type] + (p->version > 1);
	if (nf != fields)
		return parse_error(p, "'%c' line needs %zu fields, not %zu", type, fields, nf);
	struct manifest_node *n = parse_add_node(p, &f[1]);
	if (!n)
		return -1;
	switch (type) {
	case 'F': {
		unsigned long long size;
		if (parse_mode(p, &f[2], n) < 0 || parse_owner(p, &f[3], n) < 0 ||
		    parse_number(p, &f[5], 10, (unsigned long long)9223372036854775807LL,
				 "size", &size) < 0)
			return -1;
		n->size = (long long)size;
		char hex[HASH_HEX_SIZE];
		if (f[6].len != HASH_HEX_SIZE - 1)
			return parse_error(p, "bad content digest");
		memcpy(hex, f[6].p, HASH_HEX_SIZE - 1);
		hex[HASH_HEX_SIZE - 1] = '\0';
		if (hash_from_hex(hex, n->digest) < 0)
			return parse_error(p, "bad content digest");
		break;
	}
	case 'D':
		n->type = NODE_DIR;
		if (parse_mode(p, &f[2], n) < 0 || parse_owner(p, &f[3], n) < 0)
			return -1;
		break;
	case 'L':
		n->type = NODE_SYMLINK;
		if (parse_owner(p, &f[2], n) < 0 || parse_text(p, &f[4], "link target", &n->link) < 0)
			return -1;
		break;
	}
	if (p->version == 1) {
		n->mtime_nsec = MTIME_UNKNOWN;
		return 0;
	}
	if (parse_mtime(p, &f[nf - 1], n) < 0)
		return -1;
	return parse_check_kind(p);
}

/* "H <rel> <first>": another name of the file at first, an earlier F line
 * of this entry; the node is that file's copy. */
static int parse_hard_link(struct manifest_parser *p, const struct field *f, size_t nf)
{
	if (nf != 3)
		return parse_error(p, "'H' line needs 3 fields, not %zu", nf);
	struct manifest_node *n = parse_add_node(p, &f[1]);
	if (!n)
		return -1;
	struct manifest_entry *e = &p->m->entries[p->m->n - 1];
	char *first;
	if (parse_rel(p, &f[2], &first) < 0)
		return -1;
	n->link = first;
	/* the earlier nodes: all but n, the last */
	struct manifest_node key;
	memset(&key, 0, sizeof(key));
	key.rel = first;
	const struct manifest_node *file = bsearch(&key, e->nodes, e->nnodes - 1, sizeof(*e->nodes),
						   manifest_node_order);
	if (!file || file->type != NODE_FILE || file->link || !manifest_node_known(file))
		return parse_error(p, "'%s' is not an earlier file of its entry", first);
	manifest_node_copy_file(n, file);
	return 0;
}

static int parse_hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "X <name> <value>": an attribute of the node on the line above (or
 * above its other attributes), in name order. */
static int parse_xattr(struct manifest_parser *p, const struct field *f, size_t nf)
{
	if (nf != 3)
		return parse_error(p, "'X' line needs 3 fields, not %zu", nf);
	struct manifest_entry *e = p->m->n ? &p->m->entries[p->m->n - 1] : NULL;
	if (!e || !e->nnodes)
		return parse_error(p, "attribute before any node");
	struct manifest_node *n = &e->nodes[e->nnodes - 1];
	if (!manifest_node_known(n) || MANIFEST_NODE_IS_HARD_LINK(n))
		return parse_error(p, "attribute of '/%s', which can have none of its own", n->rel);
	char *name;
	if (parse_text(p, &f[1], "attribute name", &name) < 0)
		return -1;
	if (n->xattrs && strcmp(n->xattrs->v[n->xattrs->n - 1].name, name) >= 0) {
		free(name);
		return parse_error(p, "attribute out of order or repeated");
	}
	int empty = f[2].len == 1 && f[2].p[0] == '-';
	size_t len = empty ? 0 : f[2].len / 2;
	unsigned char *value = xmalloc(len + 1);
	int bad = !empty && (!len || f[2].len % 2);
	for (size_t i = 0; !bad && i < len; i++) {
		int hi = parse_hex_digit(f[2].p[2 * i]), lo = parse_hex_digit(f[2].p[2 * i + 1]);
		bad = hi < 0 || lo < 0;
		value[i] = (unsigned char)(hi * 16 + lo);
	}
	if (!bad)
		xattr_list_add(&n->xattrs, name, value, len);
	free(name);
	free(value);
	return bad ? parse_error(p, "bad attribute value") : 0;
}

/*
 * Every line must come out of manifest_serialize exactly as it went in:
 * one text per manifest, so equal releases always have equal digests and
 * a round trip is byte-identical.
 */
static int parse_check_canonical(struct manifest_parser *p, const char *line, size_t len,
				 char type)
{
	const struct manifest_entry *e = &p->m->entries[p->m->n - 1];
	const struct manifest_node *n = e->nnodes ? &e->nodes[e->nnodes - 1] : NULL;
	strbuf_reset(&p->scratch);
	if (type == 'E')
		manifest_entry_line(&p->scratch, e);
	else if (type == 'X')
		manifest_xattr_line(&p->scratch, &n->xattrs->v[n->xattrs->n - 1]);
	else
		manifest_node_line(&p->scratch, n, p->version);
	if (p->scratch.len != len + 1 || memcmp(p->scratch.buf, line, len))
		return parse_error(p, "not in canonical form");
	return 0;
}

static int parse_line(struct manifest_parser *p, const char *line, size_t len)
{
	struct field f[MAX_FIELDS];

	if (p->line == 1) {
		if (len == strlen(MANIFEST_HEADER_V1) && !memcmp(line, MANIFEST_HEADER_V1, len))
			p->version = 1;
		else if (len == strlen(MANIFEST_HEADER_V2) && !memcmp(line, MANIFEST_HEADER_V2, len))
			p->version = 2;
		else
			return parse_error(p, "not a lastgood manifest");
		return 0;
	}
	size_t nf = split_fields(line, len, f);
	if (nf > MAX_FIELDS)
		return parse_error(p, "too many fields");
	if (f[0].len != 1)
		return parse_error(p, "unknown record '%.*s'", (int)(f[0].len > 16 ? 16 : f[0].len),
				   f[0].p);
	char type = f[0].p[0];
	int rc;
	switch (type) {
	case 'E':
		rc = parse_entry(p, f, nf);
		break;
	case 'F':
	case 'D':
	case 'L':
		rc = parse_node(p, type, f, nf);
		break;
	case 'H':
	case 'X':
		if (p->version == 1)
			return parse_error(p, "unknown record '%c'", type);
		rc = type == 'H' ? parse_hard_link(p, f, nf) : parse_xattr(p, f, nf);
		break;
	default:
		return parse_error(p, "unknown record '%c'", type);
	}
	if (rc < 0)
		return -1;
	return parse_check_canonical(p, line, len, type);
}

int manifest_parse(const char *text, size_t len, struct manifest *m, struct error *err)
{
	struct manifest_parser p = { m, 0, 0, 0, STRBUF_INIT, err };
	size_t pos = 0;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	while (pos < len || p.line == 0) {
		p.line++;
		const char *nl = pos < len ? memchr(text + pos, '\n', len - pos) : NULL;
		if (!nl) {
			rc = parse_error(&p, pos < len ? "missing newline at the end" : "empty manifest");
			break;
		}
		size_t n = (size_t)(nl - (text + pos));
		if ((rc = parse_line(&p, text + pos, n)) < 0)
			break;
		pos += n + 1;
	}
	if (rc == 0)
		rc = parse_finish_entry(&p);
	/* what manifest_serialize writes as version 1 is never version 2 */
	if (rc == 0 && manifest_version(m) != p.version)
		rc = parse_error(&p, "not in canonical form: version %d, where version %d is "
				 "written", p.version, manifest_version(m));
	strbuf_release(&p.scratch);
	if (rc < 0)
		manifest_free(m);
	return rc;
}
