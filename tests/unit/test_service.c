/*
 * Unit tests for the service managers with real processes: starting,
 * logging, environment and workdir, SIGTERM then SIGKILL, pid reuse, and
 * the command, systemd and compose managers' programs.
 */
#include "core/config.h"
#include "core/health.h"
#include "core/service.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

extern char **environ;

/* Long enough for a loaded CI machine, short enough to fail fast. */
#define WAIT_MS 5000

struct fixture {
	char *dir;                   /* realpath of a fresh temporary folder */
	struct config cfg;
	int have_cfg;
	struct state st;
	int have_state;
	char *saved_path;            /* PATH to restore, when a test changed it */
	pid_t extra[4];              /* processes the test spawned itself */
	size_t nextra;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char template[] = "/tmp/lastgood-service-XXXXXX";
	assert_non_null(mkdtemp(template));
	/* pwd prints the real path, so the expected text must use it too. */
	f->dir = realpath(template, NULL);
	assert_non_null(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;

	if (f->have_state && f->have_cfg)
		for (size_t i = 0; i < f->cfg.nservices; i++)
			if (f->cfg.services[i].manager == MANAGER_PROCESS)
				service_stop(&f->st, &f->cfg.services[i], &err);
	for (size_t i = 0; i < f->nextra; i++) {
		kill(f->extra[i], SIGKILL);
		waitpid(f->extra[i], NULL, 0);
	}
	if (f->saved_path) {
		setenv("PATH", f->saved_path, 1);
		free(f->saved_path);
	}
	if (f->have_state)
		state_close(&f->st);
	if (f->have_cfg)
		config_free(&f->cfg);
	fs_remove_tree(f->dir, &err);
	free(f->dir);
	free(f);
	return 0;
}

static char *fixture_path(struct fixture *f, const char *name)
{
	return path_join(f->dir, name);
}

static void write_file(struct fixture *f, const char *name, const char *text, mode_t mode)
{
	struct error err = ERROR_INIT;
	char *path = fixture_path(f, name);
	char *parent = path_dirname(path);
	if (fs_mkdir_p(parent, 0755, &err) < 0 ||
	    fs_write_atomic(path, text, strlen(text), mode, &err) < 0)
		fail_msg("%s", err.msg);
	free(parent);
	free(path);
}

static void make_folder(struct fixture *f, const char *name)
{
	struct error err = ERROR_INIT;
	char *path = fixture_path(f, name);
	if (fs_mkdir_p(path, 0755, &err) < 0)
		fail_msg("%s", err.msg);
	free(path);
}

/* Parse yaml as DIR/lastgood.yml and open (create) its state folder. */
static void fixture_load(struct fixture *f, const char *yaml)
{
	struct error err = ERROR_INIT;
	char *path = fixture_path(f, "lastgood.yml");
	if (config_parse(path, yaml, strlen(yaml), &f->cfg, &err) < 0)
		fail_msg("config: %s", err.msg);
	free(path);
	f->have_cfg = 1;
	if (state_open(&f->st, f->cfg.state_dir, STATE_CREATE, &err) < 0)
		fail_msg("state: %s", err.msg);
	f->have_state = 1;
}

static const struct service *service(struct fixture *f, const char *name)
{
	const struct service *svc = config_find_service(&f->cfg, name);
	assert_non_null(svc);
	return svc;
}

/* What the health wait's alive callback hears of svc. */
static enum health_liveness alive(struct fixture *f, const struct service *svc)
{
	char why[256];
	return (enum health_liveness)service_alive(&f->st, svc, why, sizeof(why));
}

static void start_ok(struct fixture *f, const char *name)
{
	struct error err = ERROR_INIT;
	if (service_start(&f->st, service(f, name), &err) < 0)
		fail_msg("start '%s': %s", name, err.msg);
}

static void stop_ok(struct fixture *f, const char *name)
{
	struct error err = ERROR_INIT;
	if (service_stop(&f->st, service(f, name), &err) < 0)
		fail_msg("stop '%s': %s", name, err.msg);
}

static struct service_info inspect(struct fixture *f, const char *name)
{
	struct service_info info;
	struct error err = ERROR_INIT;
	if (service_inspect(&f->st, service(f, name), &info, &err) < 0)
		fail_msg("inspect '%s': %s", name, err.msg);
	return info;
}

/* Inspect until the service is no longer running; the last answer. */
static struct service_info wait_stopped(struct fixture *f, const char *name)
{
	long long deadline = now_ms() + WAIT_MS;
	struct service_info info;
	while ((info = inspect(f, name)).running == 1) {
		if (now_ms() > deadline)
			fail_msg("service '%s' still running (pid %ld)", name, info.pid);
		sleep_ms(10);
	}
	return info;
}

static char *read_log(struct fixture *f, const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	struct error err = ERROR_INIT;
	char *file = xstrfmt("logs/%s.log", name);
	char *path = path_join(f->cfg.state_dir, file);
	if (fs_read_file(path, &sb, &err) < 0)
		fail_msg("%s", err.msg);
	free(file);
	free(path);
	return strbuf_detach(&sb);
}

/* Wait until the service's log holds at least one complete line. */
static char *wait_log_line(struct fixture *f, const char *name)
{
	long long deadline = now_ms() + WAIT_MS;
	for (;;) {
		char *text = read_log(f, name);
		if (strchr(text, '\n'))
			return text;
		free(text);
		if (now_ms() > deadline)
			fail_msg("nothing in the log of '%s'", name);
		sleep_ms(10);
	}
}

/* Read /proc/PID/stat the way the code under test should: state is field
 * 3 and start time field 22, counted after the last ')'. */
static int proc_stat(pid_t pid, char *state, long long *start_ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	*state = p[2];
	p += 3;
	for (int field = 4; field <= 22; field++)
		*start_ticks = strtoll(p, &p, 10);
	return 0;
}

/* Alive: exists and is not a zombie (PID 1 here may never reap orphans). */
static int pid_alive(pid_t pid)
{
	char state;
	long long ticks;
	return proc_stat(pid, &state, &ticks) == 0 && state != 'Z' && state != 'X';
}

static void test_process_start_inspect_stop(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n  sleeper:\n    run: [sleep, \"60\"]\n");
	const struct service *svc = service(f, "sleeper");
	struct error err = ERROR_INIT;

	struct service_info info = inspect(f, "sleeper");
	assert_int_equal(info.running, 0);
	assert_string_equal(info.detail, "not started");

	start_ok(f, "sleeper");
	info = inspect(f, "sleeper");
	assert_int_equal(info.running, 1);
	assert_true(info.pid > 0);
	assert_true(info.started_ms > 0);
	assert_string_equal(info.detail, "running");
	assert_true(pid_alive((pid_t)info.pid));
	assert_int_equal(alive(f, svc), HEALTH_UP);

	/* Its own session: lastgood can exit without taking it along. */
	assert_int_equal(getsid((pid_t)info.pid), (pid_t)info.pid);

	struct stat sb;
	char *logs = path_join(f->cfg.state_dir, "logs");
	char *log = path_join(logs, "sleeper.log");
	assert_int_equal(stat(logs, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(stat(log, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	free(logs);
	free(log);

	assert_int_equal(service_start(&f->st, svc, &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	char *expected = xstrfmt("service 'sleeper' is already running (pid %ld)", info.pid);
	assert_string_equal(err.msg, expected);
	free(expected);

	stop_ok(f, "sleeper");
	assert_false(pid_alive((pid_t)info.pid));
	info = inspect(f, "sleeper");
	assert_int_equal(info.running, 0);
	assert_string_equal(info.detail, "not started");
	assert_int_equal(alive(f, svc), HEALTH_GONE);

	stop_ok(f, "sleeper");   /* stopping a stopped service is fine */
}

static void test_process_output_workdir_env(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n"
		     "  echo:\n"
		     "    run: [sh, -c, 'echo \"foo=$FOO\"; echo to-stderr >&2; pwd']\n"
		     "    workdir: work\n"
		     "    env: {FOO: bar}\n");
	make_folder(f, "work");

	start_ok(f, "echo");
	struct service_info info = wait_stopped(f, "echo");
	assert_int_equal(info.running, 0);
	assert_non_null(strstr(info.detail, "exited with status 0"));

	char *expected = xstrfmt("foo=bar\nto-stderr\n%s/work\n", f->dir);
	char *log = read_log(f, "echo");
	assert_string_equal(log, expected);
	free(log);

	/* A second run appends instead of truncating the first one's output. */
	start_ok(f, "echo");
	wait_stopped(f, "echo");
	log = read_log(f, "echo");
	char *twice = xstrfmt("%s%s", expected, expected);
	assert_string_equal(log, twice);
	free(log);
	free(twice);
	free(expected);
}

/* `env` prints its environment as received, so a duplicated key shows. */
static void test_process_env_overrides_inherited(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n  env:\n    run: [env]\n    env: {LG_TEST_FOO: service}\n");
	setenv("LG_TEST_FOO", "inherited", 1);
	setenv("LG_TEST_KEPT", "yes", 1);

	start_ok(f, "env");
	wait_stopped(f, "env");
	unsetenv("LG_TEST_FOO");
	unsetenv("LG_TEST_KEPT");

	char *log = read_log(f, "env");
	size_t count = 0;
	for (const char *p = log; (p = strstr(p, "LG_TEST_FOO=")); p++)
		count++;
	assert_int_equal(count, 1);
	assert_non_null(strstr(log, "\nLG_TEST_FOO=service\n"));
	assert_non_null(strstr(log, "\nLG_TEST_KEPT=yes\n"));
	free(log);
}

/* The marker a lost process is found by names this state folder and the
 * service, once, whatever the inherited environment or `env` say. */
static void test_process_marker(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n  env:\n    run: [env]\n    env: {LASTGOOD_SERVICE: forged}\n");
	setenv("LASTGOOD_SERVICE", "inherited", 1);

	start_ok(f, "env");
	wait_stopped(f, "env");
	unsetenv("LASTGOOD_SERVICE");

	char *log = read_log(f, "env");
	char *dir = realpath(f->cfg.state_dir, NULL);
	assert_non_null(dir);
	char *expected = xstrfmt("\nLASTGOOD_SERVICE=%s/env\n", dir);
	size_t count = 0;
	for (const char *p = log; (p = strstr(p, "LASTGOOD_SERVICE=")); p++)
		count++;
	assert_int_equal(count, 1);
	assert_non_null(strstr(log, expected));
	free(expected);
	free(dir);
	free(log);
}

static void test_process_relative_program(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n  hello:\n    run: [bin/hello, world]\n    workdir: app\n");
	write_file(f, "app/bin/hello", "#!/bin/sh\necho \"$0 $1\"\n", 0755);

	start_ok(f, "hello");
	wait_stopped(f, "hello");
	char *expected = xstrfmt("%s/app/bin/hello world\n", f->dir);
	char *log = read_log(f, "hello");
	assert_string_equal(log, expected);
	free(log);
	free(expected);
}

static void test_process_cannot_start(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n"
		     "  nope:\n    run: [bin/nope]\n"
		     "  lost:\n    run: [sleep, \"60\"]\n    workdir: missing\n");
	struct error err = ERROR_INIT;

	assert_int_equal(service_start(&f->st, service(f, "nope"), &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	char *expected = xstrfmt("cannot start service 'nope': cannot run '%s/bin/nope': "
				 "No such file or directory", f->dir);
	assert_string_equal(err.msg, expected);
	free(expected);
	assert_string_equal(inspect(f, "nope").detail, "not started");

	assert_int_equal(service_start(&f->st, service(f, "lost"), &err), -1);
	expected = xstrfmt("cannot start service 'lost': workdir '%s/missing': "
			   "No such file or directory", f->dir);
	assert_string_equal(err.msg, expected);
	free(expected);
}

static void test_process_exits_at_once(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n  quitter:\n    run: [sh, -c, 'exit 3']\n");
	const struct service *svc = service(f, "quitter");

	start_ok(f, "quitter");
	struct service_info info = wait_stopped(f, "quitter");
	assert_int_equal(info.running, 0);
	assert_int_equal(info.pid, 0);
	assert_non_null(strstr(info.detail, "exited with status 3"));
	assert_int_equal(alive(f, svc), HEALTH_GONE);

	/* Reaped by the inspect above: now simply gone. */
	info = inspect(f, "quitter");
	assert_int_equal(info.running, 0);
	assert_non_null(strstr(info.detail, " gone"));

	stop_ok(f, "quitter");
	assert_string_equal(inspect(f, "quitter").detail, "not started");
}

static void test_process_sigkill_after_stop_timeout(void **state)
{
	struct fixture *f = *state;
	/* The shell and its background sleep both ignore SIGTERM; the shell
	 * prints the sleep's pid once the trap is in place. */
	fixture_load(f, "services:\n"
		     "  stubborn:\n"
		     "    run: [sh, -c, 'trap \"\" TERM; sleep 60 & echo $!; wait']\n"
		     "    policy: {stop_timeout: 300ms}\n");

	start_ok(f, "stubborn");
	struct service_info info = inspect(f, "stubborn");
	assert_int_equal(info.running, 1);
	char *log = wait_log_line(f, "stubborn");
	pid_t child = (pid_t)strtol(log, NULL, 10);
	free(log);
	assert_true(child > 0);
	assert_true(pid_alive(child));

	stop_ok(f, "stubborn");
	assert_false(pid_alive((pid_t)info.pid));
	assert_false(pid_alive(child));
	assert_int_equal(inspect(f, "stubborn").running, 0);
}

/* A pid that now belongs to another process must never be signalled. The
 * stand-in for "another process" is our own sleep, a group leader so that
 * a wrong kill(-pid) would reach it. */
static void test_process_pid_reused(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n  api:\n    run: [sleep, \"60\"]\n");
	const struct service *svc = service(f, "api");

	posix_spawnattr_t attr;
	pid_t other;
	char *argv[] = { "sleep", "60", NULL };
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	assert_int_equal(posix_spawnp(&other, "sleep", NULL, &attr, argv, environ), 0);
	posix_spawnattr_destroy(&attr);
	f->extra[f->nextra++] = other;

	char state_char;
	long long ticks;
	assert_int_equal(proc_stat(other, &state_char, &ticks), 0);
	char *sql = xstrfmt("INSERT INTO processes(service, pid, start_ticks, started_ms) "
			    "VALUES('api', %ld, %lld, 1)", (long)other, ticks);
	assert_int_equal(sqlite3_exec(f->st.db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	/* With matching start ticks it is the service... */
	struct service_info info = inspect(f, "api");
	assert_int_equal(info.running, 1);
	assert_int_equal(info.pid, other);

	/* ...and with different ones, someone else holding the pid. */
	assert_int_equal(sqlite3_exec(f->st.db, "UPDATE processes SET start_ticks = start_ticks + 1",
				      NULL, NULL, NULL), SQLITE_OK);
	info = inspect(f, "api");
	assert_int_equal(info.running, 0);
	char *expected = xstrfmt("pid %ld reused by another process", (long)other);
	assert_string_equal(info.detail, expected);
	free(expected);
	assert_int_equal(alive(f, svc), HEALTH_GONE);

	stop_ok(f, "api");
	sleep_ms(50);   /* a wrongly sent SIGTERM would have landed by now */
	assert_true(pid_alive(other));
	assert_string_equal(inspect(f, "api").detail, "not started");
}

static void test_command_manager(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n"
		     "  marker:\n"
		     "    manager: command\n"
		     "    start: [touch, marker]\n"
		     "    stop: [rm, -f, marker]\n"
		     "    status: [test, -e, marker]\n"
		     "    workdir: cmd\n"
		     "  nostatus:\n"
		     "    manager: command\n"
		     "    start: [\"true\"]\n"
		     "    stop: [\"true\"]\n"
		     "  failing:\n"
		     "    manager: command\n"
		     "    start: [sh, -c, 'echo starting; echo \"$WHY\" >&2; exit 4']\n"
		     "    stop: [\"true\"]\n"
		     "    status: [sh, -c, 'echo degraded; exit 1']\n"
		     "    env: {WHY: boom}\n");
	make_folder(f, "cmd");
	char *marker = fixture_path(f, "cmd/marker");
	struct error err = ERROR_INIT;

	struct service_info info = inspect(f, "marker");
	assert_int_equal(info.running, 0);
	assert_string_equal(info.detail, "test exited with status 1");
	start_ok(f, "marker");
	assert_true(path_exists(marker));
	info = inspect(f, "marker");
	assert_int_equal(info.running, 1);
	assert_int_equal(info.pid, 0);
	assert_int_equal(alive(f, service(f, "marker")), HEALTH_UP);
	stop_ok(f, "marker");
	assert_false(path_exists(marker));
	assert_int_equal(inspect(f, "marker").running, 0);
	free(marker);

	info = inspect(f, "nostatus");
	assert_int_equal(info.running, -1);
	assert_string_equal(info.detail, "no status command");
	start_ok(f, "nostatus");

	assert_int_equal(service_start(&f->st, service(f, "failing"), &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	assert_string_equal(err.msg, "cannot start service 'failing': "
			    "'sh -c echo starting; echo \"$WHY\" >&2; exit 4' exited with status 4: boom");
	info = inspect(f, "failing");
	assert_int_equal(info.running, 0);
	assert_string_equal(info.detail, "degraded");
}

/*
 * The one stand-in in these tests: a `systemctl` script first on PATH that
 * records its arguments, since the real one would need a systemd we may
 * not drive here. It fails for broken.service and reports down.service
 * inactive the way systemctl does.
 */
static void test_systemd_manager(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n"
		     "  operator:\n    manager: systemd\n    unit: zeitwork-operator.service\n"
		     "  broken:\n    manager: systemd\n    unit: broken.service\n"
		     "  down:\n    manager: systemd\n    unit: down.service\n");
	char *calls = fixture_path(f, "systemctl.calls");
	char *script = xstrfmt("#!/bin/sh\n"
			       "echo \"$*\" >> '%s'\n"
			       "case \"$1 $2\" in\n"
			       "*' broken.service') echo 'Failed to start broken.service: Unit "
			       "broken.service not found.' >&2; exit 5;;\n"
			       "'is-active down.service') echo inactive; exit 3;;\n"
			       "is-active*) echo active;;\n"
			       "esac\n", calls);
	write_file(f, "fakebin/systemctl", script, 0755);
	free(script);
	f->saved_path = xstrdup(getenv("PATH"));
	char *path = xstrfmt("%s/fakebin:%s", f->dir, f->saved_path);
	setenv("PATH", path, 1);
	free(path);
	struct error err = ERROR_INIT;

	start_ok(f, "operator");
	struct service_info info = inspect(f, "operator");
	assert_int_equal(info.running, 1);
	assert_string_equal(info.detail, "active");
	assert_int_equal(alive(f, service(f, "operator")), HEALTH_UP);
	stop_ok(f, "operator");

	info = inspect(f, "down");
	assert_int_equal(info.running, 0);
	assert_string_equal(info.detail, "inactive");

	assert_int_equal(service_stop(&f->st, service(f, "broken"), &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	assert_string_equal(err.msg, "cannot stop service 'broken': 'systemctl stop broken.service' "
			    "exited with status 5: Failed to start broken.service: "
			    "Unit broken.service not found.");

	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(fs_read_file(calls, &sb, &err), 0);
	assert_string_equal(sb.buf, "start zeitwork-operator.service\n"
			    "is-active zeitwork-operator.service\n"
			    "stop zeitwork-operator.service\n"
			    "is-active down.service\n"
			    "stop broken.service\n");
	strbuf_release(&sb);
	free(calls);
}

/* Docker is not here to drive; what is testable is that its absence is an
 * error for start and an unknown state for inspect, not a crash or a lie. */
static void test_compose_without_docker(void **state)
{
	struct fixture *f = *state;
	fixture_load(f, "services:\n  web:\n    manager: compose\n");
	make_folder(f, "empty");
	f->saved_path = xstrdup(getenv("PATH"));
	char *path = fixture_path(f, "empty");
	setenv("PATH", path, 1);
	free(path);
	struct error err = ERROR_INIT;

	struct service_info info = inspect(f, "web");
	assert_int_equal(info.running, -1);
	assert_string_equal(info.detail, "docker is not installed: no 'docker' on PATH");
	assert_int_equal(service_start(&f->st, service(f, "web"), &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	assert_string_equal(err.msg, "cannot start service 'web': docker is not installed: no "
			    "'docker' on PATH");
}

int main(int argc, char **argv)
{
	/* the process services started here go through this binary as their
	 * exec gate, as lastgood's go through lastgood */
	if (argc > 2 && !strcmp(argv[1], SERVICE_EXEC_GATE))
		return service_exec_gate(argv + 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_process_start_inspect_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_output_workdir_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_env_overrides_inherited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_relative_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_cannot_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_exits_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_sigkill_after_stop_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_process_pid_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_manager, setup, teardown),
		cmocka_unit_test_setup_teardown(test_systemd_manager, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compose_without_docker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
