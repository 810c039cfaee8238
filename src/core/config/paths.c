/*
 * The rules for `files` entries: apart from each other, from the config
 * folder, the config file and the state folder, first as written (when the
 * config is parsed), then as the file system resolves them now, with no
 * link or untrusted folder on the way.
 */
#include "core/config/internal.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);
	if (!strcmp(outer, "/"))
		return 1;
	return !strncmp(inner, outer, n) && (inner[n] == '/' || !inner[n]);
}

/* 1 when one of a and b is the other or lies below it. */
static int paths_overlap(const char *a, const char *b)
{
	return path_within(a, b) || path_within(b, a);
}

/* Every `files` entry in config order, flattened: the unit the path rules
 * below compare (caller frees *entries). */
struct entry_ref {
	const struct service *svc;
	const struct service_file *file;
};

static size_t config_entries(const struct config *cfg, struct entry_ref **entries)
{
	size_t n = 0, alloc = 0;
	*entries = NULL;
	for (size_t s = 0; s < cfg->nservices; s++)
		for (size_t f = 0; f < cfg->services[s].nfiles; f++) {
			ALLOC_GROW(*entries, n + 1, alloc);
			(*entries)[n].svc = &cfg->services[s];
			(*entries)[n].file = &cfg->services[s].files[f];
			n++;
		}
	return n;
}

/*
 * A release replaces each entry whole, so no two entries may overlap: one
 * path would be switched twice, and a release would claim two contents for
 * one file. paths[i] is entry i's path as the caller judges it (as written
 * for config_load, resolved for config_check_live_paths): one rule for both.
 * The error is reported at the later entry.
 */
static int check_entries_apart(const char *config_path, const struct entry_ref *entries,
			       char *const *paths, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++) {
			const char *how;
			if (!strcmp(paths[i], paths[j]))
				how = "is also";
			else if (path_within(paths[i], paths[j]))
				how = "is inside";
			else if (path_within(paths[j], paths[i]))
				how = "holds";
			else
				continue;
			return mark_error(err, config_path, entries[i].file->mark,
					  "file '%s' of service '%s' %s '%s' of service '%s' (line %d)",
					  entries[i].file->written, entries[i].svc->name, how,
					  entries[j].file->written, entries[j].svc->name,
					  entries[j].file->mark.line);
		}
	return 0;
}

/* An entry that is or holds the config file: lastgood records the config
 * with every release itself, and a switch must never replace the file it
 * was started with. */
static int check_not_config_file(const struct config *cfg, const struct entry_ref *e,
				 const char *entry_path, const char *config_file,
				 struct error *err)
{
	if (!path_within(config_file, entry_path))
		return 0;
	return mark_error(err, cfg->path, e->file->mark,
			  "file '%s' of service '%s' %s the config file '%s' (lastgood records "
			  "the config with each release itself)", e->file->written, e->svc->name,
			  strcmp(config_file, entry_path) ? "holds" : "is", cfg->path);
}

/*
 * Checks on the paths as written: none may hold the config's folder or
 * touch the state folder (a rollback would replace its own store), none
 * may be the config file, and no two may overlap.
 */
int check_paths(struct config_parser *p)
{
	const struct config *cfg = p->cfg;
	struct entry_ref *entries;
	size_t n = config_entries(cfg, &entries);
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		const struct service_file *file = entries[i].file;
		paths[i] = file->path;
		if (path_within(cfg->dir, file->path))
			rc = mark_error(p->err, p->path, file->mark,
					"file '%s' of service '%s' %s the config folder",
					file->written, entries[i].svc->name,
					strcmp(cfg->dir, file->path) ? "holds" : "is");
		else if (paths_overlap(file->path, cfg->state_dir))
			rc = mark_error(p->err, p->path, file->mark,
					"file '%s' of service '%s' overlaps the state folder '%s'",
					file->written, entries[i].svc->name, cfg->state_dir);
		else
			rc = check_not_config_file(cfg, &entries[i], file->path, cfg->file, p->err);
	}
	if (!rc)
		rc = check_entries_apart(p->path, entries, paths, n, p->err);
	free(paths);
	free(entries);
	return rc;
}

int config_check_files(const struct config *cfg, struct error *err)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		for (size_t f = 0; f < svc->nfiles; f++) {
			const struct service_file *file = &svc->files[f];
			struct stat st;
			/* Not there yet is fine: a release that introduces it
			 * brings it, and until then it is recorded as absent. */
			if (!lstat(file->path, &st) || errno == ENOENT || errno == ENOTDIR)
				continue;
			return mark_error(err, cfg->path, file->mark,
					  "cannot inspect file '%s' of service '%s': %s",
					  file->written, svc->name, strerror(errno));
		}
	}
	return 0;
}

/*
 * path (absolute, normalized) resolved as far as it exists: symbolic links
 * followed, ".." applied. A last name that is a link is kept as written,
 * since lastgood replaces that name itself (a link listed under `files` is
 * switched as a link, not where it leads).
 */
char *path_physical(const char *path)
{
	struct strbuf head = STRBUF_INIT;
	struct stat sb;
	char *real = NULL;

	if (lstat(path, &sb) == 0 && !S_ISLNK(sb.st_mode) && (real = realpath(path, NULL)))
		return real;
	strbuf_addstr(&head, path);
	while (!real) {
		char *slash = strrchr(head.buf, '/');
		strbuf_setlen(&head, slash ? (size_t)(slash - head.buf) : 0);
		real = realpath(head.len ? head.buf : "/", NULL);
	}
	char *joined = xstrfmt("%s/%s", real, path + head.len);
	char *physical = path_absolute("/", joined);
	free(joined);
	free(real);
	strbuf_release(&head);
	return physical;
}

int config_check_live_paths(const struct config *cfg, const char *state_dir,
			    const char *origin, struct error *err)
{
	char *cwd = get_current_dir_name();
	if (!cwd)
		return error_errno(err, ERROR_FAILED, errno, "cannot find the current folder");
	char *lexical = path_absolute(cwd, state_dir);
	char *physical = path_physical(lexical);
	char *config_file = path_physical(cfg->file);
	char *config_real = realpath(cfg->file, NULL);   /* NULL when it is gone */
	struct entry_ref *entries;
	size_t n = config_entries(cfg, &entries);
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	int rc = 0;

	free(cwd);
	for (size_t i = 0; i < n; i++)
		paths[i] = path_physical(entries[i].file->path);
	for (size_t i = 0; i < n && !rc; i++) {
		const struct service_file *file = entries[i].file;
		if (paths_overlap(file->path, lexical) || paths_overlap(paths[i], physical))
			rc = mark_error(err, cfg->path, file->mark,
					"file '%s' of service '%s' overlaps the state folder "
					"'%s'%s", file->written, entries[i].svc->name, state_dir,
					origin);
		else if (check_not_config_file(cfg, &entries[i], paths[i], config_file, err) < 0 ||
			 (config_real &&
			  check_not_config_file(cfg, &entries[i], paths[i], config_real, err) < 0))
			rc = -1;
	}
	if (!rc)
		rc = check_entries_apart(cfg->path, entries, paths, n, err);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(entries);
	free(config_file);
	free(config_real);
	free(lexical);
	free(physical);
	return rc;
}

int config_check_parents(const struct config *cfg, struct error *err)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		for (size_t f = 0; f < svc->nfiles; f++) {
			const struct service_file *file = &svc->files[f];
			int fd, missing;
			if (fs_open_parent(file->path, 0, &fd, &missing, err) < 0) {
				error_prefix(err, "%s:%d:%d: file '%s' of service '%s'", cfg->path,
					     file->mark.line, file->mark.column, file->written,
					     svc->name);
				return -1;
			}
			if (fd >= 0)
				close(fd);
		}
	}
	return 0;
}

const struct service_file *config_files_entry_holding(const struct config *cfg, const char *path,
						      const struct service **owner)
{
	for (size_t s = 0; s < cfg->nservices; s++)
		for (size_t f = 0; f < cfg->services[s].nfiles; f++)
			if (path_within(path, cfg->services[s].files[f].path)) {
				*owner = &cfg->services[s];
				return &cfg->services[s].files[f];
			}
	return NULL;
}
