/*
 * Running a service's own programs for its manager (see program.h): the
 * environment and argv the config means, and the start, stop and status
 * programs of the systemd, command and compose managers, never through a
 * shell.
 */
#include "core/manager/program.h"
#include "core/config.h"
#include "core/secret.h"
#include "core/service.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

static int env_key_is(const char *entry, size_t len, const char *key)
{
	return strlen(key) == len && !strncmp(key, entry, len);
}

/* An inherited marker is always dropped: it names only what lastgood itself
 * started as that service, never a program that merely runs beneath one. */
static int env_overridden(const struct service *svc, const char *entry)
{
	size_t len = strcspn(entry, "=");
	if (env_key_is(entry, len, MANAGER_MARKER_NAME))
		return 1;
	for (size_t i = 0; i < svc->nenv; i++)
		if (env_key_is(entry, len, svc->env[i].key))
			return 1;
	return 0;
}

/* Our environment with the service's `env` on top, and marker (an entry
 * "LASTGOOD_SERVICE=...", or NULL) last. A key the service sets replaces the
 * inherited entry instead of appearing twice, since which of two a
 * program's getenv finds is up to its libc. Free with manager_free_strings. */
char **manager_environment(const struct service *svc, const char *marker)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xcalloc(n + svc->nenv + 2, sizeof(*envp));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!env_overridden(svc, environ[i]))
			envp[k++] = xstrdup(environ[i]);
	for (size_t i = 0; i < svc->nenv; i++)
		if (strcmp(svc->env[i].key, MANAGER_MARKER_NAME))
			envp[k++] = xstrfmt("%s=%s", svc->env[i].key, svc->env[i].value);
	if (marker)
		envp[k++] = xstrdup(marker);
	return envp;
}

void manager_free_strings(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* A copy of args with the program resolved the way the config reads: a
 * bare name is searched on PATH (posix_spawnp for the other managers'
 * programs, execvp in a process service's exec gate), an absolute path is
 * used as is, and a relative path with a slash (`bin/api`) is taken in the
 * service's workdir rather than in whatever folder lastgood runs from.
 * Free with manager_free_strings. */
char **manager_argv(const struct service *svc, char *const *args)
{
	size_t n = 0;
	while (args[n])
		n++;
	char **argv = xcalloc(n + 1, sizeof(*argv));
	if (args[0][0] != '/' && strchr(args[0], '/'))
		argv[0] = path_join(svc->workdir, args[0]);
	else
		argv[0] = xstrdup(args[0]);
	for (size_t i = 1; i < n; i++)
		argv[i] = xstrdup(args[i]);
	return argv;
}

/* Checked up front because a missing workdir would otherwise surface as a
 * chdir failure inside posix_spawn, reported as if the program were
 * missing. */
int manager_check_workdir(const struct service *svc, struct error *err)
{
	struct stat sb;
	if (stat(svc->workdir, &sb) < 0)
		return error_errno(err, ERROR_FAILED, errno, "workdir '%s'", svc->workdir);
	if (!S_ISDIR(sb.st_mode))
		return error_set(err, ERROR_FAILED, "workdir '%s' is not a folder", svc->workdir);
	return 0;
}

/* The last non-empty line of a program's output, trimmed and bounded, for
 * details and error messages; "" when there was none. */
void manager_last_line(const struct strbuf *out, char *line, size_t size)
{
	size_t end = out->len;
	while (end && isspace((unsigned char)out->buf[end - 1]))
		end--;
	size_t start = end;
	while (start && out->buf[start - 1] != '\n')
		start--;
	while (start < end && isspace((unsigned char)out->buf[start]))
		start++;
	size_t len = end - start;
	if (len >= size)
		len = size - 1;
	memcpy(line, out->buf + start, len);
	line[len] = '\0';
}

static void add_command_line(struct strbuf *sb, char *const *argv)
{
	for (size_t i = 0; argv[i]; i++)
		strbuf_addf(sb, "%s%s", i ? " " : "", argv[i]);
}

/* Run one of the service's programs and wait; out collects its output
 * (stdout, plus stderr with MANAGER_RUN_MERGE_STDERR) so nothing reaches
 * lastgood's own stdout. A program may echo its environment back (a
 * failing script printing what it ran with), and its last line is shown
 * and recorded, so the service's secret `env` values are masked in out.
 * -1 only when it could not run at all. */
int manager_run_program(const struct service *svc, char *const *args, int flags,
			struct strbuf *out, int *status, struct error *err)
{
	struct process_options opts = { .merge_stderr = !!(flags & MANAGER_RUN_MERGE_STDERR) };
	char **envp = NULL;

	if (flags & MANAGER_RUN_IN_WORKDIR) {
		if (manager_check_workdir(svc, err) < 0)
			return -1;
		envp = manager_environment(svc, NULL);
		opts.cwd = svc->workdir;
		opts.envp = envp;
	}
	char **argv = manager_argv(svc, args);
	int rc = process_run_with(argv, &opts, out, status, err);
	for (size_t i = 0; i < svc->nenv; i++)
		if (svc->env[i].secret)
			secret_scrub(out, svc->env[i].value);
	manager_free_strings(argv);
	manager_free_strings(envp);
	return rc;
}

/* Start or stop through a program: a nonzero exit is an ERROR_FAILED error
 * naming the command line, its status and its last line of output. */
int manager_run_action(const struct service *svc, const char *verb, char *const *args,
		       int flags, struct error *err)
{
	struct strbuf out = STRBUF_INIT;
	int status;
	int rc = manager_run_program(svc, args, flags | MANAGER_RUN_MERGE_STDERR, &out, &status, err);

	if (rc < 0) {
		error_prefix(err, "cannot %s service '%s'", verb, svc->name);
	} else if (status != 0) {
		char line[512];
		manager_last_line(&out, line, sizeof(line));
		rc = manager_action_error(svc, verb, args, status, line, err);
	}
	strbuf_release(&out);
	return rc;
}

int manager_action_error(const struct service *svc, const char *verb, char *const *args,
			 int status, const char *line, struct error *err)
{
	struct strbuf msg = STRBUF_INIT;
	strbuf_addf(&msg, "cannot %s service '%s': '", verb, svc->name);
	add_command_line(&msg, args);
	strbuf_addf(&msg, "' exited with status %d%s%s", status, *line ? ": " : "", line);
	error_set(err, ERROR_FAILED, "%s", msg.buf);
	strbuf_release(&msg);
	return -1;
}

void manager_info_unknown(struct service_info *info, const char *reason)
{
	info->running = -1;
	snprintf(info->detail, sizeof(info->detail), "%.*s", (int)sizeof(info->detail) - 1, reason);
}

/* Ask a status program: exit 0 is running, anything else stopped, and a
 * program that cannot run at all leaves the state unknown (-1) with the
 * reason as detail rather than failing, since `status` should still show
 * every other service. The detail is the program's last line of output. */
void manager_run_status(const struct service *svc, char *const *args, int flags,
			struct service_info *info)
{
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int status;

	if (manager_run_program(svc, args, flags, &out, &status, &err) < 0) {
		manager_info_unknown(info, err.msg);
	} else {
		info->running = status == 0;
		manager_last_line(&out, info->detail, sizeof(info->detail));
		if (!info->detail[0])
			snprintf(info->detail, sizeof(info->detail), "%s exited with status %d",
				 path_basename(args[0]), status);
	}
	strbuf_release(&out);
}