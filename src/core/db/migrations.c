/*
 * The migrations a release holds (db.h): the NNNN_name.{up,down,verify}.sql
 * files of a database's migrations folder, read from the release's
 * manifest, and what an up script's text says about itself (its flags,
 * whether it destroys data).
 */
#include "core/db/db.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/manifest.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

enum script_kind {
	SCRIPT_UP,
	SCRIPT_DOWN,
	SCRIPT_VERIFY,
};

/* One file of the folder, as its name reads. */
struct script_file {
	long version;
	enum script_kind kind;
	char *name;                  /* "add_users" */
	char *path;                  /* the live path, for messages */
	char digest[HASH_HEX_SIZE];
};

struct script_list {
	struct script_file *v;
	size_t n;
	size_t alloc;
};

/* The nodes of the folder's files: the rel of the folder in entry ("" when
 * the entry is the folder), or NULL when folder is not entry's. */
static const char *folder_rel(const struct manifest_entry *entry, const char *folder)
{
	size_t len = strlen(entry->path);
	if (strncmp(folder, entry->path, len) != 0)
		return NULL;
	if (folder[len] == '\0')
		return "";
	/* "/" itself holds everything, and its entry path ends in the "/" */
	if (len > 0 && entry->path[len - 1] == '/')
		return folder + len;
	return folder[len] == '/' ? folder + len + 1 : NULL;
}

/* The file name of node when it lies directly in the folder at rel; NULL
 * for the folder itself and anything deeper. */
static const char *name_in_folder(const struct manifest_node *node, const char *rel)
{
	size_t len = strlen(rel);
	const char *name = node->rel;
	if (len) {
		if (strncmp(name, rel, len) != 0 || name[len] != '/')
			return NULL;
		name += len + 1;
	}
	if (*name == '\0' || strchr(name, '/'))
		return NULL;
	return name;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Parse "NNNN_name.KIND.sql" into file; -1 when it is not one. */
static int parse_script_name(const char *base, struct script_file *file)
{
	static const struct {
		const char *suffix;
		enum script_kind kind;
	} kinds[] = {
		{ ".up.sql", SCRIPT_UP },
		{ ".down.sql", SCRIPT_DOWN },
		{ ".verify.sql", SCRIPT_VERIFY },
	};
	size_t len = strlen(base);
	size_t i;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (ends_with(base, len, kinds[i].suffix))
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return -1;
	size_t stem = len - strlen(kinds[i].suffix);

	long version = 0;
	size_t digits = 0;
	while (digits < stem && isdigit((unsigned char)base[digits])) {
		int d = base[digits] - '0';
		if (version > (LONG_MAX - d) / 10)
			return -1;
		version = version * 10 + d;
		digits++;
	}
	if (digits == 0 || digits >= stem || base[digits] != '_' || digits + 1 == stem)
		return -1;
	for (size_t k = digits + 1; k < stem; k++)
		if (iscntrl((unsigned char)base[k]) || base[k] == ' ')
			return -1;
	file->version = version;
	file->kind = kinds[i].kind;
	file->name = xstrndup(base + digits + 1, stem - digits - 1);
	return 0;
}

static void script_list_free(struct script_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].name);
		free(list->v[i].path);
	}
	free(list->v);
}

/* Every .sql file directly in the folder at rel of entry, parsed; anything
 * else there is not ours to judge. Version 0 is refused: it is what a
 * database with no migration applied is at (migration_set_latest of an
 * empty set). */
static int collect_scripts(const struct manifest_entry *entry, const char *rel,
			   struct script_list *list, struct error *err)
{
	for (size_t i = 0; i < entry->nnodes; i++) {
		const struct manifest_node *node = &entry->nodes[i];
		const char *base = name_in_folder(node, rel);
		if (!base || !ends_with(base, strlen(base), ".sql"))
			continue;
		char *path = manifest_node_path(entry, node);
		struct script_file file = { 0 };
		const char *problem = NULL;
		if (parse_script_name(base, &file) < 0)
			problem = "not NNNN_name.up.sql, .down.sql or .verify.sql";
		else if (file.version == 0)
			problem = "version 0: versions start at 1";
		else if (node->type != NODE_FILE)
			problem = "not a regular file";
		if (problem) {
			error_set(err, ERROR_USAGE, "migration '%s': %s", path, problem);
			free(file.name);
			free(path);
			return -1;
		}
		file.path = path;
		hash_to_hex(node->digest, file.digest);
		ALLOC_GROW(list->v, list->n + 1, list->alloc);
		list->v[list->n++] = file;
	}
	return 0;
}

static int script_order(const void *a, const void *b)
{
	const struct script_file *x = a, *y = b;
	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Group the sorted scripts into migrations, checking that each version has
 * one name and an up script, and that the versions run without a gap. */
static int build_set(const struct script_list *list, struct migration_set *set,
		     struct error *err)
{
	size_t alloc = 0;
	const struct script_file *prev_up = NULL;
	for (size_t i = 0; i < list->n; i++) {
		const struct script_file *f = &list->v[i];
		struct migration *mig = set->n ? &set->v[set->n - 1] : NULL;
		if (mig && mig->version == f->version) {
			/* sorted by kind: a second script of one kind ("01_a", "1_a")
			 * comes right after the first */
			if (strcmp(mig->name, f->name) != 0 || f->kind == list->v[i - 1].kind)
				return error_set(err, ERROR_USAGE,
						 "migration '%s': version %ld given twice (also '%s')",
						 f->path, f->version, list->v[i - 1].path);
			memcpy(f->kind == SCRIPT_DOWN ? mig->down : mig->verify, f->digest,
			       HASH_HEX_SIZE);
			continue;
		}
		if (f->kind != SCRIPT_UP)
			return error_set(err, ERROR_USAGE,
					 "migration '%s': no up script for version %ld", f->path,
					 f->version);
		if (mig && f->version != mig->version + 1)
			return error_set(err, ERROR_USAGE,
					 "migration '%s': version %ld follows version %ld ('%s'); "
					 "the versions between are missing",
					 f->path, f->version, mig->version, prev_up->path);
		ALLOC_GROW(set->v, set->n + 1, alloc);
		mig = &set->v[set->n++];
		memset(mig, 0, sizeof(*mig));
		mig->version = f->version;
		mig->name = xstrdup(f->name);
		memcpy(mig->up, f->digest, HASH_HEX_SIZE);
		prev_up = f;
	}
	return 0;
}

int migration_set_from_manifest(const struct manifest *m, const char *folder,
				struct migration_set *set, struct error *err)
{
	struct script_list list = { NULL, 0, 0 };
	set->v = NULL;
	set->n = 0;
	for (size_t i = 0; i < m->n; i++) {
		const char *rel = folder_rel(&m->entries[i], folder);
		if (rel && collect_scripts(&m->entries[i], rel, &list, err) < 0) {
			script_list_free(&list);
			return -1;
		}
	}
	if (list.n)
		qsort(list.v, list.n, sizeof(*list.v), script_order);
	int rc = build_set(&list, set, err);
	script_list_free(&list);
	if (rc < 0)
		migration_set_free(set);
	return rc;
}

void migration_set_free(struct migration_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].name);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

const struct migration *migration_set_find(const struct migration_set *set, long version)
{
	/* consecutive versions: the index is the distance from the first */
	if (!set->n || version < set->v[0].version ||
	    version - set->v[0].version >= (long)set->n)
		return NULL;
	return &set->v[version - set->v[0].version];
}

long migration_set_latest(const struct migration_set *set)
{
	return set->n ? set->v[set->n - 1].version : 0;
}

unsigned migration_flags(const char *sql)
{
	size_t line = strcspn(sql, "\n");
	const char *end = sql + line;
	if (line && end[-1] == '\r')
		end--;
	if (strncmp(sql, "--", 2) != 0)
		return 0;
	const char *p = sql + 2;
	while (p < end && isblank((unsigned char)*p))
		p++;
	if (end - p < 9 || strncasecmp(p, "lastgood:", 9) != 0)
		return 0;
	p += 9;

	unsigned flags = 0;
	while (p < end) {
		while (p < end && (isblank((unsigned char)*p) || *p == ','))
			p++;
		const char *word = p;
		while (p < end && !isblank((unsigned char)*p) && *p != ',')
			p++;
		size_t len = (size_t)(p - word);
		if (len == 14 && strncasecmp(word, "no-transaction", len) == 0)
			flags |= MIGRATION_NO_TRANSACTION;
		else if (len == 6 && strncasecmp(word, "online", len) == 0)
			flags |= MIGRATION_ONLINE;
	}
	return flags;
}

/* ---- destructive statements ---- */

/* The last words of the statement being read, newest first, uppercased
 * and cut to fit; a quoted name counts as a word ("\""). */
#define WORD_MAX 16
#define WORDS_KEPT 4
struct word_window {
	char w[WORDS_KEPT][WORD_MAX];
};

static void window_push(struct word_window *win, const char *word, size_t len)
{
	memmove(win->w[1], win->w[0], sizeof(win->w[0]) * (WORDS_KEPT - 1));
	if (len >= WORD_MAX)
		len = WORD_MAX - 1;
	for (size_t i = 0; i < len; i++)
		win->w[0][i] = (char)toupper((unsigned char)word[i]);
	win->w[0][len] = '\0';
}

static int word_is(const struct word_window *win, int back, const char *word)
{
	return strcmp(win->w[back], word) == 0;
}

/*
 * Whether the word just pushed makes the statement destructive. DELETE
 * after ON, BEFORE, AFTER or OF names an event (ON DELETE CASCADE, a
 * trigger's AFTER DELETE), not a statement. TYPE destroys when it changes
 * a column's type (ALTER [COLUMN] c [SET DATA] TYPE t), not when it is a
 * column's name (ADD COLUMN type text).
 */
static int window_destructive(const struct word_window *win)
{
	if (word_is(win, 0, "DROP") || word_is(win, 0, "TRUNCATE"))
		return 1;
	if (word_is(win, 0, "DELETE"))
		return !(word_is(win, 1, "ON") || word_is(win, 1, "BEFORE") ||
			 word_is(win, 1, "AFTER") || word_is(win, 1, "OF"));
	if (word_is(win, 0, "TYPE"))
		return word_is(win, 1, "DATA") || word_is(win, 2, "ALTER") ||
		       (word_is(win, 2, "COLUMN") && word_is(win, 3, "ALTER"));
	return 0;
}

/* Skip the comment or quoted text starting at p; NULL when p starts
 * neither. Unterminated ones run to the end. */
static const char *skip_opaque(const char *p)
{
	if (p[0] == '-' && p[1] == '-')
		return p + strcspn(p, "\n");
	if (p[0] == '/' && p[1] == '*') {
		const char *end = strstr(p + 2, "*/");
		return end ? end + 2 : p + strlen(p);
	}
	if (*p == '\'' || *p == '"') {
		/* a doubled quote inside reads as two quoted texts, to the same effect */
		const char *end = strchr(p + 1, *p);
		return end ? end + 1 : p + strlen(p);
	}
	return NULL;
}

static int is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$';
}

int migration_destructive(const char *sql)
{
	struct word_window win;
	memset(&win, 0, sizeof(win));
	const char *p = sql;
	while (*p) {
		const char *next = skip_opaque(p);
		if (next) {
			if (*p == '"')
				window_push(&win, "\"", 1);
			p = next;
		} else if (*p == ';') {
			memset(&win, 0, sizeof(win));
			p++;
		} else if (is_word_char(*p)) {
			const char *word = p;
			while (is_word_char(*p))
				p++;
			window_push(&win, word, (size_t)(p - word));
			if (window_destructive(&win))
				return 1;
		} else {
			p++;
		}
	}
	return 0;
}
