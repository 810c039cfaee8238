/*
 * The differences between two releases (diff.h): a merge walk of their
 * manifests, `diff -u` run on the objects in the store for the changed
 * lines of text files, and the two recorded configs compared with every
 * secret masked.
 */
#include "core/diff.h"
#include "core/config.h"
#include "core/release.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the walk reads from, and the list it fills. */
struct diff_walk {
	struct state *st;
	char *(*quote_name)(const char *name);
	struct diff_list *list;
};

/* As much as git looks at to tell text from binary. */
#define DIFF_TEXT_PROBE 8000

const char *diff_type_name(enum node_type type)
{
	switch (type) {
	case NODE_FILE: return "file";
	case NODE_DIR: return "folder";
	case NODE_SYMLINK: return "symlink";
	}
	return "?";
}

static struct diff_change *diff_add(struct diff_list *list, enum diff_kind kind,
				    const struct manifest_entry *e, const struct manifest_node *n)
{
	ALLOC_GROW(list->v, list->n + 1, list->alloc);
	struct diff_change *c = &list->v[list->n++];
	c->kind = kind;
	c->service = e->service;
	c->path = manifest_node_path(e, n);
	c->node = n;
	strbuf_init(&c->details);
	strbuf_init(&c->patch);
	return c;
}

static void diff_detail(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void diff_detail(struct strbuf *sb, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (sb->len)
		strbuf_addstr(sb, ", ");
	strbuf_addstr(sb, buf);
}

/* Text when the object (its path in the store) has no NUL in its first
 * DIFF_TEXT_PROBE bytes; an object that cannot be read is not diffed. */
static int diff_is_text(const char *path)
{
	char buf[DIFF_TEXT_PROBE];
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return !memchr(buf, '\0', got);
}

const char *diff_shown_path(const struct diff_list *list, const char *path)
{
	size_t n = strlen(list->base);
	if (n > 1 && !strncmp(path, list->base, n) && path[n] == '/')
		return path + n + 1;
	return path;
}

/* `diff -u` of files a and b into patch, labelled a/SHOWN and b/SHOWN
 * (shown as diff_shown_path gives it). */
static void diff_files(struct diff_walk *walk, struct strbuf *patch, const char *shown,
		       const char *a, const char *b)
{
	struct error err = ERROR_INIT;
	int status;

	shown += shown[0] == '/';
	/* The labels are the patch's "---" and "+++" lines: quoted as the
	 * names are elsewhere, so that a name cannot forge lines there. */
	char *name_a = xstrfmt("a/%s", shown), *name_b = xstrfmt("b/%s", shown);
	char *label_a = walk->quote_name(name_a), *label_b = walk->quote_name(name_b);
	free(name_a);
	free(name_b);
	char *argv[] = { "diff", "-u", "--label", label_a, "--label", label_b, (char *)a,
			 (char *)b, NULL };
	struct process_options whole = { .output_max = PROCESS_OUTPUT_ALL };

	if (process_run_with(argv, &whole, patch, &status, &err) < 0 || status > 1) {
		strbuf_reset(patch);
		if (!walk->list->patch_error)
			walk->list->patch_error = xstrdup(err.kind ? err.msg : "'diff' failed");
	}
	free(label_a);
	free(label_b);
}

/* Objects are plain files, so the system diff reads them in place. */
static void diff_patch(struct diff_walk *walk, struct diff_change *c,
		       const struct manifest_node *old, const struct manifest_node *new)
{
	char hex_a[HASH_HEX_SIZE], hex_b[HASH_HEX_SIZE];

	hash_to_hex(old->digest, hex_a);
	hash_to_hex(new->digest, hex_b);
	char *obj_a = store_object_path(&walk->st->store, hex_a);
	char *obj_b = store_object_path(&walk->st->store, hex_b);
	if (diff_is_text(obj_a) && diff_is_text(obj_b))
		diff_files(walk, &c->patch, diff_shown_path(walk->list, c->path), obj_a, obj_b);
	free(obj_a);
	free(obj_b);
}

/* A link target in a detail: 'static/app.js' as a message quotes it, or
 * in double quotes with escapes when quote_name gives them. */
static char *diff_quoted_target(const struct diff_walk *walk, const char *link)
{
	char *quoted = walk->quote_name(link);
	if (quoted[0] == '"')
		return quoted;
	char *plain = xstrfmt("'%s'", quoted);
	free(quoted);
	return plain;
}

static void diff_nodes(struct diff_walk *walk, const struct manifest_entry *e,
		       const struct manifest_node *old, const struct manifest_node *new)
{
	struct strbuf details = STRBUF_INIT;

	if (old->type != new->type) {
		diff_detail(&details, "%s -> %s", diff_type_name(old->type), diff_type_name(new->type));
	} else {
		if (new->type != NODE_SYMLINK && old->mode != new->mode)
			diff_detail(&details, "mode %04o -> %04o", (unsigned)old->mode,
				    (unsigned)new->mode);
		if (old->uid != new->uid || old->gid != new->gid)
			diff_detail(&details, "owner %lu:%lu -> %lu:%lu", (unsigned long)old->uid,
				    (unsigned long)old->gid, (unsigned long)new->uid,
				    (unsigned long)new->gid);
		if (new->type == NODE_FILE && memcmp(old->digest, new->digest, HASH_SIZE))
			diff_detail(&details, "content");
		if (new->type == NODE_SYMLINK && strcmp(old->link, new->link)) {
			char *from = diff_quoted_target(walk, old->link);
			char *to = diff_quoted_target(walk, new->link);
			diff_detail(&details, "target %s -> %s", from, to);
			free(from);
			free(to);
		}
	}
	if (!details.len)
		return;
	struct diff_change *c = diff_add(walk->list, DIFF_MODIFIED, e, new);
	c->details = details;
	if (old->type == NODE_FILE && new->type == NODE_FILE &&
	    memcmp(old->digest, new->digest, HASH_SIZE))
		diff_patch(walk, c, old, new);
}

static void diff_whole_entry(struct diff_list *list, enum diff_kind kind,
			     const struct manifest_entry *e)
{
	for (size_t i = 0; i < e->nnodes; i++)
		diff_add(list, kind, e, &e->nodes[i]);
}

/* Both lists are sorted (entries by path, nodes by rel): a merge walk. */
static void diff_entries(struct diff_walk *walk, const struct manifest_entry *old,
			 const struct manifest_entry *new)
{
	size_t i = 0, j = 0;
	while (i < old->nnodes || j < new->nnodes) {
		int cmp = i == old->nnodes ? 1 : j == new->nnodes ? -1
			: strcmp(old->nodes[i].rel, new->nodes[j].rel);
		if (cmp < 0)
			diff_add(walk->list, DIFF_REMOVED, old, &old->nodes[i++]);
		else if (cmp > 0)
			diff_add(walk->list, DIFF_ADDED, new, &new->nodes[j++]);
		else
			diff_nodes(walk, new, &old->nodes[i++], &new->nodes[j++]);
	}
}

static void diff_manifests(struct diff_walk *walk, const struct manifest *old,
			   const struct manifest *new)
{
	size_t i = 0, j = 0;
	while (i < old->n || j < new->n) {
		int cmp = i == old->n ? 1 : j == new->n ? -1
			: strcmp(old->entries[i].path, new->entries[j].path);
		if (cmp < 0) {
			diff_whole_entry(walk->list, DIFF_REMOVED, &old->entries[i++]);
		} else if (cmp > 0) {
			diff_whole_entry(walk->list, DIFF_ADDED, &new->entries[j++]);
		} else {
			/* Equal entry digests: equal trees, nothing to walk. */
			if (strcmp(old->entries[i].digest, new->entries[j].digest))
				diff_entries(walk, &old->entries[i], &new->entries[j]);
			i++;
			j++;
		}
	}
}

/* text into a private temporary file for diff to read: its path, or NULL. */
static char *diff_temporary(const struct strbuf *text)
{
	const char *tmp = getenv("TMPDIR");
	char *path = xstrfmt("%s/lastgood-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	if (fd >= 0 && fs_write_all(fd, text->buf, text->len) == 0 && close(fd) == 0)
		return path;
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(path);
	return NULL;
}

/* Read and parse a recorded config: NULL, or why its lines cannot be
 * shown (its secrets are known only once it parses). */
static const char *diff_config_load(struct state *st, const char *config_path,
				    const char *digest, struct strbuf *text, struct config *cfg)
{
	struct error ignored = ERROR_INIT;
	if (store_read(&st->store, digest, text, &ignored) < 0)
		return "its recorded text cannot be read (run 'lastgood fsck')";
	if (config_parse(config_path, text->buf, text->len, cfg, &ignored) < 0)
		return "it does not load, so its secrets cannot be told";
	return NULL;
}

static void diff_configs(struct diff_walk *walk, const struct config *live, long from, long to,
			 struct diff_config *out)
{
	struct release r[2];
	struct error ignored = ERROR_INIT;
	struct strbuf text[2] = { STRBUF_INIT, STRBUF_INIT };
	struct config cfg[2];
	char *path[2] = { NULL, NULL };
	int loaded[2] = { 0, 0 };

	memset(r, 0, sizeof(r));
	out->shown = diff_shown_path(walk->list, live->file);
	if (release_get(walk->st, from, &r[0], &ignored) < 0 ||
	    release_get(walk->st, to, &r[1], &ignored) < 0 || !*r[0].config_digest ||
	    !*r[1].config_digest || !strcmp(r[0].config_digest, r[1].config_digest))
		goto out;
	out->changed = 1;
	for (int i = 0; i < 2 && !out->hidden; i++) {
		out->hidden = diff_config_load(walk->st, live->path, r[i].config_digest, &text[i],
					       &cfg[i]);
		loaded[i] = !out->hidden;
	}
	/* Each side hides its own secrets and the other's: a value that was
	 * secret on one side is never shown from the other. */
	for (int i = 0; i < 2 && !out->hidden; i++)
		if (config_mask_secrets(&cfg[i], &text[i], 1) < 0 ||
		    config_mask_secrets(&cfg[1 - i], &text[i], 0) < 0)
			out->hidden = "a secret in it is written in a way lastgood cannot mask";
	for (int i = 0; i < 2 && !out->hidden; i++)
		if (!(path[i] = diff_temporary(&text[i])))
			out->hidden = "no temporary file for diff to read";
	if (!out->hidden)
		diff_files(walk, &out->patch, out->shown, path[0], path[1]);
out:
	for (int i = 0; i < 2; i++) {
		if (path[i])
			unlink(path[i]);
		free(path[i]);
		if (loaded[i])
			config_free(&cfg[i]);
		explicit_bzero(text[i].buf, text[i].len);
		strbuf_release(&text[i]);
		release_clear(&r[i]);
	}
}

int diff_releases(struct state *st, const struct config *cfg, long from, long to,
		  char *(*quote_name)(const char *name), struct diff_list *list,
		  struct error *err)
{
	struct diff_walk walk = { st, quote_name, list };

	list->base = cfg->dir;
	if (release_manifest(st, from, &list->old, err) < 0 ||
	    release_manifest(st, to, &list->new, err) < 0)
		return -1;
	diff_manifests(&walk, &list->old, &list->new);
	diff_configs(&walk, cfg, from, to, &list->config);
	return 0;
}

void diff_list_free(struct diff_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].path);
		strbuf_release(&list->v[i].details);
		strbuf_release(&list->v[i].patch);
	}
	free(list->v);
	strbuf_release(&list->config.patch);
	free(list->patch_error);
	manifest_free(&list->old);
	manifest_free(&list->new);
}
