/*
 * The config as the record knows it: the state folder bound to one config
 * file, a config's text with its secrets masked for showing, and a
 * recorded config written back over the config file.
 */
#include "core/config/internal.h"
#include "core/secret.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Which config a state folder belongs to, as two facts in its meta table:
 * the config file's absolute path, and its path relative to the state
 * folder, both with the folders on the way resolved (the file's own name
 * kept, so a config that is a link to the version in use may be flipped).
 * Either one matching is enough: a whole stack folder moved elsewhere keeps
 * the relative path, a state folder moved alone (named by --state-dir)
 * keeps the absolute one.
 */
#define BINDING_ABSOLUTE "config_path"
#define BINDING_RELATIVE "config_path_from_state"

/* to (absolute, normalized) as seen from the folder from (likewise). */
static char *path_relative(const char *from, const char *to)
{
	struct strbuf rel = STRBUF_INIT;
	const char *f = from, *t = to;
	for (;;) {   /* past the folders both lie in */
		f += strspn(f, "/");
		t += strspn(t, "/");
		size_t len = strcspn(f, "/");
		if (!len || len != strcspn(t, "/") || strncmp(f, t, len))
			break;
		f += len;
		t += len;
	}
	for (f += strspn(f, "/"); *f; f += strspn(f, "/")) {
		strbuf_addstr(&rel, "../");
		f += strcspn(f, "/");
	}
	strbuf_addstr(&rel, t);
	return strbuf_detach(&rel);
}

struct binding {
	char *absolute;
	char *relative;
};

static void binding_of(const struct config *cfg, const struct state *st, struct binding *b)
{
	char *cwd = get_current_dir_name();
	char *dir = path_absolute(cwd ? cwd : "/", st->dir);
	char *state_physical = path_physical(dir);
	b->absolute = path_physical(cfg->file);
	b->relative = path_relative(state_physical, b->absolute);
	free(cwd);
	free(dir);
	free(state_physical);
}

static void binding_clear(struct binding *b)
{
	free(b->absolute);
	free(b->relative);
}

static int binding_record(struct state *st, const struct binding *b, struct error *err)
{
	if (state_set_meta(st, BINDING_ABSOLUTE, b->absolute, err) < 0 ||
	    state_set_meta(st, BINDING_RELATIVE, b->relative, err) < 0)
		return -1;
	return 0;
}

int config_bind_state(const struct config *cfg, struct state *st, int record,
		      struct error *err)
{
	struct binding now;
	char *absolute = state_get_meta(st, BINDING_ABSOLUTE);
	char *relative = state_get_meta(st, BINDING_RELATIVE);
	int rc = 0;

	binding_of(cfg, st, &now);
	int same_absolute = absolute && !strcmp(absolute, now.absolute);
	int same_relative = relative && !strcmp(relative, now.relative);
	if (!absolute && !relative) {
		/* a new state folder, or one from before bindings: ours now */
		if (record)
			rc = binding_record(st, &now, err);
	} else if (same_absolute || same_relative) {
		/* moved with its stack, or alone: remember where it is now */
		if (record && !(same_absolute && same_relative))
			rc = binding_record(st, &now, err);
	} else {
		rc = error_set(err, ERROR_USAGE, "state folder '%s' belongs to config '%s', not to "
			       "'%s': give this config a state folder of its own (state_dir or "
			       "--state-dir), or run 'lastgood rebind' if it replaces that one",
			       st->dir, absolute ? absolute : relative, now.absolute);
	}
	binding_clear(&now);
	free(absolute);
	free(relative);
	return rc;
}

int config_rebind_state(const struct config *cfg, struct state *st, char **previous,
			struct error *err)
{
	struct binding now;
	binding_of(cfg, st, &now);
	*previous = state_get_meta(st, BINDING_ABSOLUTE);
	int rc = binding_record(st, &now, err);
	binding_clear(&now);
	return rc;
}

/* Replace every occurrence of needle in text by with; how many there were. */
static size_t replace_all(struct strbuf *text, const char *needle, const char *with)
{
	size_t len = strlen(needle), count = 0;
	struct strbuf out = STRBUF_INIT;
	const char *from = text->buf, *end = text->buf + text->len, *hit;

	if (!len)
		return 0;
	while ((hit = memmem(from, (size_t)(end - from), needle, len))) {
		strbuf_add(&out, from, (size_t)(hit - from));
		strbuf_addstr(&out, with);
		from = hit + len;
		count++;
	}
	if (!count) {
		strbuf_release(&out);
		return 0;
	}
	strbuf_add(&out, from, (size_t)(end - from));
	explicit_bzero(text->buf, text->len);
	strbuf_release(text);
	*text = out;
	return count;
}

/* Mask one secret value wherever it appears in text. -1 when it appears
 * nowhere although text is its own config's (own): then it is written
 * there in another form (YAML escapes), which may still show it. */
static int mask_value(struct strbuf *text, const char *value, const char *with, int own)
{
	if (!value || !*value)
		return 0;
	return replace_all(text, value, with) || !own ? 0 : -1;
}

/* A URL whole, as secret_redact_url shows it, then its secret parts
 * wherever else they are. */
static int mask_url(struct strbuf *text, const char *url, int own)
{
	int rc = 0;
	char *shown = url ? secret_redact_url(url) : NULL;
	if (shown && strcmp(shown, url) && mask_value(text, url, shown, own) < 0)
		rc = -1;
	secret_scrub_url(text, url);
	free(shown);
	return rc;
}

/* A database's connection string and password: the password of key=value
 * settings as a value of its own, a URL as any URL. */
static int mask_database(struct strbuf *text, const struct database *db, int own)
{
	char *password = db->url ? conninfo_password(db->url) : NULL;
	int rc = password ? mask_value(text, password, SECRET_MASK, own)
			  : mask_url(text, db->url, own);
	secret_free(password);
	if (mask_value(text, db->password, SECRET_MASK, own) < 0)
		rc = -1;
	return rc;
}

int config_mask_secrets(const struct config *cfg, struct strbuf *text, int own)
{
	int rc = 0;
	/* URLs whole first: a password may also be part of one. */
	for (size_t s = 0; s < cfg->nservices; s++)
		for (size_t i = 0; i < cfg->services[s].nhealth; i++)
			if (mask_url(text, cfg->services[s].health[i].url, own) < 0)
				rc = -1;
	for (size_t i = 0; i < cfg->ndatabases; i++)
		if (mask_database(text, &cfg->databases[i], own) < 0)
			rc = -1;
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		for (size_t i = 0; i < svc->nenv; i++)
			if (svc->env[i].secret &&
			    mask_value(text, svc->env[i].value, SECRET_MASK, own) < 0)
				rc = -1;
		for (size_t i = 0; i < svc->nhealth; i++)
			if (mask_value(text, svc->health[i].password, SECRET_MASK, own) < 0)
				rc = -1;
	}
	return rc;
}

/* 1 when name below dir_fd is still the file sb describes: a failed
 * fs_replace_at that did not get as far as its rename. */
static int config_still_there(int dir_fd, const char *name, const struct stat *sb)
{
	struct stat now;
	return fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == sb->st_dev &&
	       now.st_ino == sb->st_ino;
}

int config_restore(const struct config *cfg, long op, char **kept, struct error *err)
{
	const char *name = path_basename(cfg->file);
	struct fs_replace how = { .mode = 0644, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	struct stat sb;
	int dir_fd, rc = -1;

	*kept = NULL;
	if (fs_open_parent(cfg->file, 0, &dir_fd, NULL, err) < 0)
		return -1;
	if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			error_set(err, ERROR_USAGE, "cannot write config '%s': not a plain file "
				  "(a link is left for you to point)", cfg->file);
			goto out;
		}
		how.mode = sb.st_mode & 07777;
		how.uid = sb.st_uid;
		how.gid = sb.st_gid;
		/* The file replaced keeps a name: it may be an edit no release
		 * holds. A second name costs no copy and cannot be torn. */
		*kept = xstrfmt("%s.before-%ld", name, op);
		if (linkat(dir_fd, name, dir_fd, *kept, 0) < 0) {
			error_errno(err, ERROR_FAILED, errno, "cannot keep config '%s' as '%s'",
				    cfg->file, *kept);
			free(*kept);
			*kept = NULL;
			goto out;
		}
	} else if (errno != ENOENT) {
		error_errno(err, ERROR_FAILED, errno, "cannot inspect config '%s'", cfg->file);
		goto out;
	}
	rc = fs_replace_at(dir_fd, name, cfg->file, cfg->text, cfg->text_len, &how, err);
	/* Once the new text is in place, the kept name is the only one the
	 * old file has left, whatever failed after. */
	if (rc < 0 && *kept && config_still_there(dir_fd, name, &sb)) {
		unlinkat(dir_fd, *kept, 0);   /* a second name of the file still there */
		free(*kept);
		*kept = NULL;
	}
out:
	close(dir_fd);
	return rc;
}
