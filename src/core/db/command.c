/*
 * The `command` engine: an existing migration tool (alembic, sqitch,
 * golang-migrate, `npm run db:*`) driven by the argv lists of its
 * database, in its workdir, with "{version}" and "{file}" replaced in
 * each argument. No shell: each list runs as it is written.
 */
#include "core/db/command.h"
#include "core/config.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* text with every "{key}" replaced by value (NULL: left as it is). */
static char *substitute(const char *text, const char *key, const char *value)
{
	struct strbuf out = STRBUF_INIT;
	size_t klen = strlen(key);
	const char *p = text, *hit;
	while (value && (hit = strstr(p, key))) {
		strbuf_add(&out, p, (size_t)(hit - p));
		strbuf_addstr(&out, value);
		p = hit + klen;
	}
	strbuf_addstr(&out, p);
	return strbuf_detach(&out);
}

/* The last non-empty line of text, for an error message (a tool says
 * what went wrong last). */
static void last_line(const char *text, struct strbuf *line)
{
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	strbuf_add(line, start, (size_t)(end - start));
}

static void argv_free(char **argv)
{
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static int run(const struct database *db, const char *what, const struct argv_list *tmpl,
	       const char *version, const char *file, int merge_stderr, struct strbuf *out,
	       struct error *err)
{
	char **argv = xcalloc(tmpl->n + 1, sizeof(*argv));
	for (size_t i = 0; i < tmpl->n; i++) {
		char *one = substitute(tmpl->v[i], "{version}", version);
		argv[i] = substitute(one, "{file}", file);
		free(one);
	}
	struct process_options opts = { .cwd = db->workdir, .merge_stderr = merge_stderr };
	int status, rc = process_run_with(argv, &opts, out, &status, err);
	if (rc < 0) {
		error_prefix(err, "database '%s': %s", db->name, what);
	} else if (status != 0) {
		struct strbuf line = STRBUF_INIT;
		last_line(out->buf, &line);
		rc = error_set(err, ERROR_FAILED, "database '%s': %s (%s) failed with exit status "
			       "%d%s%s", db->name, what, argv[0], status, line.len ? ": " : "",
			       line.buf);
		strbuf_release(&line);
	}
	argv_free(argv);
	return rc;
}

int db_command_run(const struct database *db, const char *what, const struct argv_list *tmpl,
		   const char *version, const char *file, struct error *err)
{
	struct strbuf out = STRBUF_INIT;
	int rc = run(db, what, tmpl, version, file, 1, &out, err);
	strbuf_release(&out);
	return rc;
}

int db_command_current(const struct database *db, char **version, struct error *err)
{
	struct strbuf out = STRBUF_INIT, line = STRBUF_INIT;
	*version = NULL;
	/* stdout alone: tools log to stderr (alembic's INFO lines) */
	int rc = run(db, "current", &db->current, NULL, NULL, 0, &out, err);
	if (rc == 0) {
		last_line(out.buf, &line);
		size_t len = strcspn(line.buf, " \t");
		*version = xstrndup(line.buf, len);
	}
	strbuf_release(&out);
	strbuf_release(&line);
	return rc;
}

int db_command_migrates(const struct database *db)
{
	return db->current.n != 0;
}
