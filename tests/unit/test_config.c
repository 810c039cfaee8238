/*
 * Unit tests for the config layer: every kind of error with its exact line
 * and column, defaults, durations, policy merging, start order, --services
 * selection, and the starter file `lastgood init` writes.
 */
#include "cmd/command.h"
#include "core/config.h"
#include "core/secret.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/fs.h"
#include "util/alloc.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

struct error_case {
	const char *text;
	const char *msg;
};

static void parse_ok(const char *path, const char *text, struct config *cfg)
{
	struct error err = ERROR_INIT;
	int rc = config_parse(path, text, strlen(text), cfg, &err);
	if (rc < 0)
		fail_msg("unexpected error: %s", err.msg);
}

/* Each case must fail with exactly msg, and leave nothing allocated. */
static void expect_errors(const struct error_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct config cfg;
		struct error err = ERROR_INIT;
		int rc = config_parse("lastgood.yml", cases[i].text, strlen(cases[i].text), &cfg, &err);
		if (rc == 0) {
			config_free(&cfg);
			fail_msg("no error for case %zu, expected: %s", i, cases[i].msg);
		}
		assert_int_equal(err.kind, ERROR_USAGE);
		assert_string_equal(err.msg, cases[i].msg);
		assert_null(cfg.path);
		assert_null(cfg.services);
		assert_null(cfg.databases);
	}
}

#define EXPECT_ERRORS(cases) expect_errors(cases, sizeof(cases) / sizeof(cases[0]))

static void test_defaults(void **state)
{
	(void)state;
	struct config cfg;
	parse_ok("/srv/app/lastgood.yml", "services:\n  api:\n    run: [bin/api]\n", &cfg);

	assert_string_equal(cfg.path, "/srv/app/lastgood.yml");
	assert_string_equal(cfg.dir, "/srv/app");
	assert_int_equal(cfg.keep_releases, 10);
	assert_string_equal(cfg.state_dir, "/srv/app/.lastgood");
	assert_int_equal(cfg.policy.start_timeout_ms, 30000);
	assert_int_equal(cfg.policy.interval_ms, 200);
	assert_int_equal(cfg.policy.timeout_ms, 5000);
	assert_int_equal(cfg.policy.stabilize_ms, 0);
	assert_int_equal(cfg.policy.stop_timeout_ms, 10000);
	assert_int_equal(cfg.policy.retries, 2);
	assert_null(cfg.source_git);
	assert_int_equal(cfg.source_build.n, 0);

	assert_int_equal(cfg.nservices, 1);
	const struct service *api = &cfg.services[0];
	assert_string_equal(api->name, "api");
	assert_int_equal(api->mark.line, 2);
	assert_int_equal(api->mark.column, 3);
	assert_int_equal(api->manager, MANAGER_PROCESS);
	assert_string_equal(config_manager_name(api->manager), "process");
	assert_int_equal(api->run.n, 1);
	assert_string_equal(api->run.v[0], "bin/api");
	assert_null(api->run.v[1]);
	assert_string_equal(api->workdir, "/srv/app");
	assert_int_equal(api->nfiles, 0);
	assert_int_equal(api->nhealth, 0);
	assert_int_equal(api->nafter, 0);
	assert_memory_equal(&api->policy, &cfg.policy, sizeof(cfg.policy));
	config_free(&cfg);
}

static void test_relative_config_path(void **state)
{
	(void)state;
	struct config cfg;
	char *cwd = get_current_dir_name();
	char *want = path_join(cwd, "sub");
	parse_ok("sub/lastgood.yml", "services: {api: {run: [x]}}\n", &cfg);
	assert_string_equal(cfg.dir, want);
	config_free(&cfg);
	free(want);
	free(cwd);
}

static const char full_config[] =
	"keep_releases: 3\n"
	"state_dir: var/state\n"
	"source:\n"
	"  git: repo\n"
	"  build: [make, -j, 4]\n"
	"services:\n"
	"  db:\n"
	"    manager: compose\n"
	"  cache:\n"
	"    manager: compose\n"
	"    service: redis\n"
	"  api:\n"
	"    manager: process\n"
	"    run: [bin/api, --port, 8000]\n"
	"    workdir: run\n"
	"    env: {API_ENV: production, EMPTY: \"\", PORT: 8000}\n"
	"    files: [bin/api, ./etc//api.env, /opt/api/share/]\n"
	"    health:\n"
	"      - http: http://127.0.0.1:8000/health\n"
	"        json: {status: healthy, ok: true}\n"
	"        status: 200\n"
	"        contains: healthy\n"
	"        headers: {Host: api.internal}\n"
	"        timeout: 750ms\n"
	"      - tcp: 127.0.0.1:8000\n"
	"        send: PING\n"
	"        expect: PONG\n"
	"      - exec: [bin/api, --self-test]\n"
	"    after: [db, cache]\n"
	"  operator:\n"
	"    manager: systemd\n"
	"    unit: zeitwork-operator.service\n"
	"    files: [/usr/local/bin/zeitwork-operator]\n"
	"  job:\n"
	"    manager: command\n"
	"    start: [systemctl, start, job]\n"
	"    stop: [systemctl, stop, job]\n"
	"    status: [systemctl, is-active, job]\n";

static void test_full_config(void **state)
{
	(void)state;
	struct config cfg;
	parse_ok("/srv/app/lastgood.yml", full_config, &cfg);

	assert_int_equal(cfg.keep_releases, 3);
	assert_string_equal(cfg.state_dir, "/srv/app/var/state");
	assert_string_equal(cfg.source_git, "/srv/app/repo");
	assert_int_equal(cfg.source_build.n, 3);
	assert_string_equal(cfg.source_build.v[2], "4");
	assert_null(cfg.source_build.v[3]);
	assert_int_equal(cfg.nservices, 5);

	const struct service *db = config_find_service(&cfg, "db");
	const struct service *cache = config_find_service(&cfg, "cache");
	const struct service *api = config_find_service(&cfg, "api");
	const struct service *op = config_find_service(&cfg, "operator");
	const struct service *job = config_find_service(&cfg, "job");
	assert_non_null(db);
	assert_non_null(cache);
	assert_non_null(api);
	assert_non_null(op);
	assert_non_null(job);
	assert_null(config_find_service(&cfg, "nope"));

	assert_int_equal(db->manager, MANAGER_COMPOSE);
	assert_string_equal(db->compose_service, "db");
	assert_string_equal(cache->compose_service, "redis");

	assert_int_equal(api->run.n, 3);
	assert_string_equal(api->run.v[2], "8000");
	assert_string_equal(api->workdir, "/srv/app/run");
	assert_int_equal(api->nenv, 3);
	assert_string_equal(api->env[0].key, "API_ENV");
	assert_string_equal(api->env[0].value, "production");
	assert_string_equal(api->env[1].value, "");
	assert_string_equal(api->env[2].value, "8000");

	assert_int_equal(api->nfiles, 3);
	assert_string_equal(api->files[0].written, "bin/api");
	assert_string_equal(api->files[0].path, "/srv/app/bin/api");
	assert_int_equal(api->files[0].mark.line, 17);
	assert_int_equal(api->files[0].mark.column, 13);
	assert_string_equal(api->files[1].written, "./etc//api.env");
	assert_string_equal(api->files[1].path, "/srv/app/etc/api.env");
	assert_string_equal(api->files[2].path, "/opt/api/share");

	assert_int_equal(api->nhealth, 3);
	const struct health_check *http = &api->health[0];
	assert_int_equal(http->kind, HEALTH_HTTP);
	assert_int_equal(http->mark.line, 19);
	assert_int_equal(http->mark.column, 9);
	assert_string_equal(http->url, "http://127.0.0.1:8000/health");
	assert_int_equal(http->njson, 2);
	assert_string_equal(http->json[0].key, "status");
	assert_string_equal(http->json[0].value, "healthy");
	assert_string_equal(http->json[1].value, "true");
	assert_int_equal(http->expect_status, 200);
	assert_string_equal(http->contains, "healthy");
	assert_int_equal(http->nheaders, 1);
	assert_string_equal(http->headers[0].key, "Host");
	assert_string_equal(http->headers[0].value, "api.internal");
	assert_int_equal(http->timeout_ms, 750);
	const struct health_check *tcp = &api->health[1];
	assert_int_equal(tcp->kind, HEALTH_TCP);
	assert_string_equal(tcp->address, "127.0.0.1:8000");
	assert_string_equal(tcp->send, "PING");
	assert_string_equal(tcp->expect, "PONG");
	assert_int_equal(tcp->timeout_ms, 0);
	const struct health_check *exec = &api->health[2];
	assert_int_equal(exec->kind, HEALTH_EXEC);
	assert_int_equal(exec->argv.n, 2);
	assert_string_equal(exec->argv.v[1], "--self-test");
	assert_null(exec->argv.v[2]);

	assert_int_equal(api->nafter, 2);
	assert_string_equal(api->after[0], "db");
	assert_string_equal(api->after[1], "cache");

	assert_int_equal(op->manager, MANAGER_SYSTEMD);
	assert_string_equal(op->unit, "zeitwork-operator.service");
	assert_string_equal(op->files[0].path, "/usr/local/bin/zeitwork-operator");

	assert_int_equal(job->manager, MANAGER_COMMAND);
	assert_string_equal(job->start.v[1], "start");
	assert_string_equal(job->stop.v[1], "stop");
	assert_string_equal(job->status.v[1], "is-active");
	config_free(&cfg);
}

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		long ms;
	} good[] = {
		{ "250ms", 250 }, { "5s", 5000 }, { "2m", 120000 }, { "7", 7000 },
		{ "0", 0 }, { "0ms", 0 }, { "2147483647ms", 2147483647L },
	};
	static const char *const bad[] = {
		"", "-5s", "-1", "5h", "1.5s", " 5s", "5s ", "5 s", "s", "ms", "5sec",
		"+5", "0x10", "2147483648ms", "99999999999999999999", "35791395m",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		long ms = -1;
		assert_int_equal(config_parse_duration(good[i].text, &ms), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long ms = 42;
		if (config_parse_duration(bad[i], &ms) == 0)
			fail_msg("duration '%s' accepted", bad[i]);
		assert_int_equal(ms, 42);
	}
}

static void test_policy_merge(void **state)
{
	(void)state;
	struct config cfg;
	/* The global policy comes after the services, as in DESIGN.md. */
	parse_ok("lastgood.yml",
		 "services:\n"
		 "  api:\n"
		 "    run: [x]\n"
		 "    policy:\n"
		 "      start_timeout: 60s\n"
		 "      retries: 0\n"
		 "  web:\n"
		 "    run: [y]\n"
		 "policy:\n"
		 "  interval: 1s\n"
		 "  retries: 5\n"
		 "  stabilize: 2\n"
		 "  stop_timeout: 0\n",
		 &cfg);
	assert_int_equal(cfg.policy.start_timeout_ms, 30000);
	assert_int_equal(cfg.policy.interval_ms, 1000);
	assert_int_equal(cfg.policy.retries, 5);
	assert_int_equal(cfg.policy.stabilize_ms, 2000);
	assert_int_equal(cfg.policy.stop_timeout_ms, 0);

	const struct policy *api = &cfg.services[0].policy;
	assert_int_equal(api->start_timeout_ms, 60000);
	assert_int_equal(api->retries, 0);
	assert_int_equal(api->interval_ms, 1000);
	assert_int_equal(api->timeout_ms, 5000);
	assert_int_equal(api->stabilize_ms, 2000);
	assert_int_equal(api->stop_timeout_ms, 0);
	assert_memory_equal(&cfg.services[1].policy, &cfg.policy, sizeof(cfg.policy));
	config_free(&cfg);
}

static void assert_order(const char *text, const size_t *want, size_t n)
{
	struct config cfg;
	parse_ok("lastgood.yml", text, &cfg);
	assert_int_equal(cfg.nservices, n);
	size_t *order = config_start_order(&cfg);
	for (size_t i = 0; i < n; i++)
		if (order[i] != want[i])
			fail_msg("position %zu: service %zu, want %zu", i, order[i], want[i]);
	free(order);
	config_free(&cfg);
}

static void test_start_order(void **state)
{
	(void)state;
	static const size_t independent[] = { 0, 1, 2 };
	assert_order("services:\n"
		     "  a: {run: [x]}\n"
		     "  b: {run: [x]}\n"
		     "  c: {run: [x]}\n",
		     independent, 3);

	/* c needs a, d needs c and b: b and a keep their file order. */
	static const size_t chained[] = { 1, 2, 0, 3 };
	assert_order("services:\n"
		     "  c: {run: [x], after: [a]}\n"
		     "  b: {run: [x]}\n"
		     "  a: {run: [x]}\n"
		     "  d: {run: [x], after: [c, b]}\n",
		     chained, 4);

	/* The seed's stack: databases, then the API, then what needs it. */
	static const size_t stack[] = { 1, 2, 3, 0 };
	assert_order("services:\n"
		     "  gateway: {run: [x], after: [api]}\n"
		     "  postgres: {manager: compose}\n"
		     "  redis: {manager: compose}\n"
		     "  api: {run: [x], after: [postgres, redis]}\n",
		     stack, 4);
}

static void test_select_services(void **state)
{
	(void)state;
	struct config cfg;
	struct error err = ERROR_INIT;
	unsigned char *mask;
	parse_ok("lastgood.yml", "services: {a: {run: [x]}, b: {run: [x]}, c: {run: [x]}}\n", &cfg);

	assert_int_equal(config_select_services(&cfg, NULL, &mask, &err), 0);
	assert_true(mask[0] && mask[1] && mask[2]);
	free(mask);

	assert_int_equal(config_select_services(&cfg, "c,a", &mask, &err), 0);
	assert_true(mask[0] && !mask[1] && mask[2]);
	free(mask);

	assert_int_equal(config_select_services(&cfg, " b , c", &mask, &err), 0);
	assert_true(!mask[0] && mask[1] && mask[2]);
	free(mask);

	static const struct {
		const char *names;
		const char *msg;
	} bad[] = {
		{ "x", "unknown service 'x' (known: a, b, c)" },
		{ "a,bb", "unknown service 'bb' (known: a, b, c)" },
		{ "a,,b", "empty service name in 'a,,b'" },
		{ "a,", "empty service name in 'a,'" },
		{ "", "empty service name in ''" },
		{ " ", "empty service name in ' '" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mask = (unsigned char *)"untouched";
		error_clear(&err);
		assert_int_equal(config_select_services(&cfg, bad[i].names, &mask, &err), -1);
		assert_null(mask);
		assert_int_equal(err.kind, ERROR_USAGE);
		assert_string_equal(err.msg, bad[i].msg);
	}
	config_free(&cfg);
}

static void test_starter_text_parses(void **state)
{
	(void)state;
	struct config cfg;
	parse_ok("/srv/app/lastgood.yml", init_starter_text, &cfg);
	assert_int_equal(cfg.keep_releases, 10);
	assert_int_equal(cfg.nservices, 1);
	assert_string_equal(cfg.services[0].name, "api");
	assert_int_equal(cfg.services[0].nhealth, 1);
	assert_int_equal(cfg.services[0].health[0].njson, 1);
	assert_memory_equal(&cfg.services[0].policy, &cfg.policy, sizeof(cfg.policy));
	/* It restates every default, so a reader sees the real values. */
	assert_int_equal(cfg.policy.start_timeout_ms, 30000);
	assert_int_equal(cfg.policy.interval_ms, 200);
	assert_int_equal(cfg.policy.timeout_ms, 5000);
	assert_int_equal(cfg.policy.stabilize_ms, 0);
	assert_int_equal(cfg.policy.stop_timeout_ms, 10000);
	assert_int_equal(cfg.policy.retries, 2);
	config_free(&cfg);
}

/* The starter's commented databases, uncommented (with the api listing
 * the migrations' folder under files), are a valid config. */
static void test_starter_databases_parse(void **state)
{
	(void)state;
	struct strbuf text = STRBUF_INIT;
	struct config cfg;
	int in_databases = 0;

	for (const char *line = init_starter_text; *line; ) {
		const char *end = strchrnul(line, '\n');
		if (!strncmp(line, "# databases:", 12))
			in_databases = 1;
		else if (end == line)
			in_databases = 0;
		if (in_databases)
			line += 2;
		if (!strncmp(line, "    files: []", 13))
			strbuf_addstr(&text, "    files: [db]");
		else
			strbuf_add(&text, line, (size_t)(end - line));
		strbuf_addch(&text, '\n');
		line = *end ? end + 1 : end;
	}
	parse_ok("/srv/app/lastgood.yml", text.buf, &cfg);
	assert_int_equal(cfg.ndatabases, 2);
	assert_int_equal(cfg.databases[0].engine, DB_ENGINE_POSTGRES);
	assert_int_equal(cfg.databases[1].engine, DB_ENGINE_COMMAND);
	config_free(&cfg);
	strbuf_release(&text);
}

static void test_errors_syntax(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "services:\n  api:\n    run: [x\n",
		  "lastgood.yml:4:1: invalid YAML: did not find expected ',' or ']' "
		  "(while parsing a flow sequence at line 3)" },
		{ "keep_releases: 10\nservices: a: b\n",
		  "lastgood.yml:2:12: invalid YAML: mapping values are not allowed in this context" },
		{ "services:\n\tapi: {run: [x]}\n",
		  "lastgood.yml:2:1: invalid YAML: found character that cannot start any token "
		  "(while scanning for the next token at line 2)" },
		{ "services: *nope\n",
		  "lastgood.yml:1:11: invalid YAML: found undefined alias" },
		{ "keep_releases: 1\nservices: \xff\n",
		  "lastgood.yml:2:11: invalid YAML: invalid leading UTF-8 octet" },
		{ "services: {api: {run: [x]}}\n---\nservices: {}\n",
		  "lastgood.yml:2:1: a second YAML document; the config is one document" },
		{ "services: {api: {run: [x]}}\n---\n[\n",
		  "lastgood.yml:4:1: invalid YAML: did not find expected node content "
		  "(while parsing a flow node at line 4)" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_structure(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "", "lastgood.yml:1:1: empty config; describe at least one service under 'services'" },
		{ "# nothing but a comment\n",
		  "lastgood.yml:1:1: empty config; describe at least one service under 'services'" },
		{ "- a\n- b\n", "lastgood.yml:1:1: the config must be a mapping" },
		{ "keep_releases: 3\n",
		  "lastgood.yml:1:1: missing 'services'; describe at least one service" },
		{ "keep_releases: 3\nservices: {}\n",
		  "lastgood.yml:2:11: 'services' is empty; describe at least one service" },
		{ "services:\n",
		  "lastgood.yml:1:10: 'services' must be a mapping of service names to services" },
		{ "services: [api]\n",
		  "lastgood.yml:1:11: 'services' must be a mapping of service names to services" },
		{ "services:\n  api: 1\n", "lastgood.yml:2:8: service 'api' must be a mapping" },
		{ "services:\n  api:\n", "lastgood.yml:2:7: service 'api' must be a mapping" },
		{ "services:\n  \"a b\": {run: [x]}\n",
		  "lastgood.yml:2:3: invalid service name 'a b' (use letters, digits, '.', '_' and '-')" },
		{ "services:\n  -api: {run: [x]}\n",
		  "lastgood.yml:2:3: invalid service name '-api' (use letters, digits, '.', '_' and '-')" },
		{ "services:\n  ? [a]\n  : {run: [x]}\n",
		  "lastgood.yml:2:5: 'services' must be a mapping of names, not a list" },
		{ "? [a]\n: 1\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:3: keys must be strings, not a list" },
		{ "policy: [1]\nservices: {api: {run: [x]}}\n", "lastgood.yml:1:9: 'policy' must be a mapping" },
		{ "source: git\nservices: {api: {run: [x]}}\n", "lastgood.yml:1:9: 'source' must be a mapping" },
		{ "source: {build: [make]}\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:9: 'source' needs 'git' (the repository to deploy from)" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_unknown_keys(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "servics:\n  api: {run: [x]}\n", "lastgood.yml:1:1: unknown key 'servics'" },
		{ "services:\n"
		  "  api:\n"
		  "    run: [x]\n"
		  "    files: []\n"
		  "    after: []\n"
		  "\n"
		  "    helth: []\n",
		  "lastgood.yml:7:5: unknown key 'helth' in service 'api'" },
		{ "policy:\n  retry: 3\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:3: unknown key 'retry' in 'policy'" },
		{ "services:\n  api:\n    run: [x]\n    policy: {start_timout: 1s}\n",
		  "lastgood.yml:4:14: unknown key 'start_timout' in 'policy' of service 'api'" },
		{ "services:\n  api:\n    run: [x]\n    health:\n      - http: http://x/\n        jsn: {}\n",
		  "lastgood.yml:6:9: unknown key 'jsn' in health check 1 of service 'api'" },
		{ "source:\n  repo: .\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:3: unknown key 'repo' in 'source'" },
		/* Text from the file cannot break the message over two lines. */
		{ "services:\n  api:\n    run: [x]\n    \"he\\nlth\\t\": []\n",
		  "lastgood.yml:4:5: unknown key 'he\\x0alth\\x09' in service 'api'" },
		/* A per-service start_timeout belongs under the service's policy. */
		{ "services:\n  api:\n    run: [x]\n    start_timeout: 5s\n",
		  "lastgood.yml:4:5: unknown key 'start_timeout' in service 'api'" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_duplicates(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "keep_releases: 1\nkeep_releases: 2\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:1: duplicate key 'keep_releases'" },
		{ "services:\n  api:\n    run: [x]\n  db:\n    run: [y]\n  api:\n    run: [z]\n",
		  "lastgood.yml:6:3: duplicate service 'api' (first at line 2)" },
		{ "services:\n  api:\n    run: [x]\n    run: [y]\n",
		  "lastgood.yml:4:5: duplicate key 'run' in service 'api'" },
		{ "services:\n  api:\n    run: [x]\n    env: {A: 1, B: 2, A: 3}\n",
		  "lastgood.yml:4:23: duplicate key 'A' in 'env' in service 'api'" },
		{ "policy: {retries: 1, retries: 2}\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:22: duplicate key 'retries' in 'policy'" },
		{ "services:\n  api:\n    run: [x]\n    health:\n"
		  "      - http: http://x/\n        json: {status: ok, status: bad}\n",
		  "lastgood.yml:6:28: duplicate key 'status' in 'json' in health check 1 of service 'api'" },
		{ "services:\n  api:\n    run: [x]\n    health:\n"
		  "      - http: http://x/\n        http: http://y/\n",
		  "lastgood.yml:6:9: duplicate key 'http' in health check 1 of service 'api'" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_types(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "keep_releases: 0\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:16: 'keep_releases' must be an integer of at least 1, not '0'" },
		{ "keep_releases: ten\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:16: 'keep_releases' must be an integer of at least 1, not 'ten'" },
		{ "keep_releases: 1.5\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:16: 'keep_releases' must be an integer of at least 1, not '1.5'" },
		{ "keep_releases: [3]\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:16: 'keep_releases' must be an integer of at least 1, not a list" },
		{ "keep_releases: 99999999999999999999\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:16: 'keep_releases' must be an integer of at least 1, "
		  "not '99999999999999999999'" },
		{ "policy:\n  retries: -1\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:12: 'retries' in 'policy' must be an integer of at least 0, not '-1'" },
		{ "state_dir: ''\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:1: 'state_dir' must not be empty" },
		{ "state_dir: {a: b}\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:1:12: 'state_dir' must be a string, not a mapping" },
		{ "services:\n  api:\n    run: bin/api --port 8000\n",
		  "lastgood.yml:3:10: 'run' in service 'api' must be a list of strings, not a string" },
		{ "services:\n  api:\n    run:\n",
		  "lastgood.yml:3:9: 'run' in service 'api' must be a list of strings, not empty" },
		{ "services:\n  api:\n    run: []\n",
		  "lastgood.yml:3:10: 'run' in service 'api' must not be empty" },
		{ "services:\n  api:\n    run: [bin/api, {port: 8000}]\n",
		  "lastgood.yml:3:20: 'run' in service 'api' must be a list of strings, not a mapping" },
		{ "services:\n  api:\n    run: [x]\n    files: bin/api\n",
		  "lastgood.yml:4:12: 'files' in service 'api' must be a list of paths, not a string" },
		{ "services:\n  api:\n    run: [x]\n    files:\n      - bin/api\n      - [etc]\n",
		  "lastgood.yml:6:9: 'files' in service 'api' must be a list of paths, not a list" },
		{ "services:\n  api:\n    run: [x]\n    env: [A=1]\n",
		  "lastgood.yml:4:10: 'env' in service 'api' must be a mapping, not a list" },
		{ "services:\n  api:\n    run: [x]\n    env: {A: [1]}\n",
		  "lastgood.yml:4:14: 'A' in 'env' in service 'api' must be a string, not a list" },
		{ "services:\n  api:\n    run: [x]\n    env: {A=B: 1}\n",
		  "lastgood.yml:4:11: variable name 'A=B' in 'env' in service 'api' must not contain '='" },
		{ "services:\n  api:\n    run: [x]\n    after: db\n",
		  "lastgood.yml:4:12: 'after' in service 'api' must be a list of strings, not a string" },
		{ "services:\n  api:\n    run: [x]\n    workdir: [a]\n",
		  "lastgood.yml:4:14: 'workdir' in service 'api' must be a string, not a list" },
		{ "services:\n  api:\n    run: [\"a\\0b\"]\n",
		  "lastgood.yml:3:11: 'run' in service 'api' contains a NUL byte" },
		{ "services:\n  api:\n    run: [x]\n    health: {http: http://x/}\n",
		  "lastgood.yml:4:13: 'health' in service 'api' must be a list of checks" },
		{ "services:\n  api:\n    run: [x]\n    health: [http://x/]\n",
		  "lastgood.yml:4:14: health check 1 of service 'api' must be a mapping" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_durations(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "policy:\n  timeout: 5x\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:12: invalid duration '5x' for 'timeout' in 'policy' "
		  "(use ms, s or m, e.g. 250ms, 5s, 2m)" },
		{ "services:\n  api:\n    run: [x]\n    policy:\n      start_timeout: -5s\n",
		  "lastgood.yml:5:22: invalid duration '-5s' for 'start_timeout' in 'policy' of "
		  "service 'api' (use ms, s or m, e.g. 250ms, 5s, 2m)" },
		{ "policy:\n  stabilize: 1.5s\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:14: invalid duration '1.5s' for 'stabilize' in 'policy' "
		  "(use ms, s or m, e.g. 250ms, 5s, 2m)" },
		{ "policy:\n  interval: 0ms\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:13: 'interval' in 'policy' must be longer than 0" },
		{ "policy:\n  stop_timeout: [1s]\nservices: {api: {run: [x]}}\n",
		  "lastgood.yml:2:17: 'stop_timeout' in 'policy' must be a duration, not a list" },
		{ "services:\n  api:\n    run: [x]\n    health:\n      - tcp: localhost:1\n"
		  "        timeout: soon\n",
		  "lastgood.yml:6:18: invalid duration 'soon' for 'timeout' in health check 1 of "
		  "service 'api' (use ms, s or m, e.g. 250ms, 5s, 2m)" },
	};
	EXPECT_ERRORS(cases);
}

/* The `compose:` section reaches every compose service, and only those:
 * its files made absolute against the config's folder. */
static void test_compose_section(void **state)
{
	(void)state;
	struct config cfg;
	parse_ok("/srv/app/lastgood.yml",
		 "compose:\n  project: ziggie\n"
		 "  files: [docker-compose.yml, /etc/ziggie/prod.yml]\n"
		 "services:\n  api: {manager: compose}\n  job: {run: [x]}\n", &cfg);
	assert_string_equal(cfg.services[0].compose_project, "ziggie");
	assert_int_equal(cfg.services[0].compose_files.n, 2);
	assert_string_equal(cfg.services[0].compose_files.v[0], "/srv/app/docker-compose.yml");
	assert_string_equal(cfg.services[0].compose_files.v[1], "/etc/ziggie/prod.yml");
	assert_null(cfg.services[1].compose_project);
	assert_int_equal(cfg.services[1].compose_files.n, 0);
	config_free(&cfg);

	parse_ok("/srv/app/lastgood.yml", "services:\n  api: {manager: compose}\n", &cfg);
	assert_null(cfg.services[0].compose_project);
	assert_int_equal(cfg.services[0].compose_files.n, 0);
	config_free(&cfg);
}

static void test_errors_compose(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "compose:\n  project: Ziggie\nservices:\n  api: {manager: compose}\n",
		  "lastgood.yml:2:12: 'project' in 'compose' must be lowercase letters, digits, "
		  "'_' and '-', starting with a letter or digit" },
		{ "compose:\n  files: []\nservices:\n  api: {manager: compose}\n",
		  "lastgood.yml:2:10: 'files' in 'compose' must not be empty" },
		{ "compose:\n  file: [a.yml]\nservices:\n  api: {manager: compose}\n",
		  "lastgood.yml:2:3: unknown key 'file' in 'compose'" },
		{ "compose: [a.yml]\nservices:\n  api: {manager: compose}\n",
		  "lastgood.yml:1:10: 'compose' must be a mapping" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_managers(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "services:\n  api:\n    files: []\n",
		  "lastgood.yml:2:3: service 'api' needs 'run' (manager 'process')" },
		{ "services:\n  op:\n    manager: systemd\n",
		  "lastgood.yml:2:3: service 'op' needs 'unit' (manager 'systemd')" },
		{ "services:\n  job:\n    manager: command\n    start: [x]\n",
		  "lastgood.yml:2:3: service 'job' needs 'stop' (manager 'command')" },
		{ "services:\n  job:\n    manager: command\n    stop: [x]\n",
		  "lastgood.yml:2:3: service 'job' needs 'start' (manager 'command')" },
		{ "services:\n  op:\n    manager: systemd\n    unit: op.service\n    run: [x]\n",
		  "lastgood.yml:5:5: 'run' does not apply to manager 'systemd' in service 'op'" },
		{ "services:\n  db:\n    service: postgres\n    run: [x]\n",
		  "lastgood.yml:3:5: 'service' does not apply to manager 'process' in service 'db'" },
		{ "services:\n  op:\n    manager: upstart\n",
		  "lastgood.yml:3:14: unknown manager 'upstart' in service 'op' "
		  "(use process, systemd, compose or command)" },
		{ "services:\n  op:\n    manager: systemd\n    unit:\n",
		  "lastgood.yml:4:5: 'unit' in service 'op' must not be empty" },
		{ "services:\n  db:\n    manager: compose\n    service: ''\n",
		  "lastgood.yml:4:5: 'service' in service 'db' must not be empty" },
	};
	EXPECT_ERRORS(cases);
}

#define HEALTH_PREFIX "services:\n  api:\n    run: [x]\n    health:\n"

static void test_errors_health(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ HEALTH_PREFIX "      - http: http://x/\n        tcp: x:1\n",
		  "lastgood.yml:6:9: health check 1 of service 'api' has both 'http' and 'tcp'; "
		  "use one per check" },
		{ HEALTH_PREFIX "      - exec: [x]\n      - timeout: 1s\n",
		  "lastgood.yml:6:9: health check 2 of service 'api' needs one of 'http', 'tcp' or 'exec'" },
		{ HEALTH_PREFIX "      - tcp: x:1\n        json: {a: b}\n",
		  "lastgood.yml:6:9: 'json' in health check 1 of service 'api' applies only to 'http' checks" },
		{ HEALTH_PREFIX "      - http: http://x/\n        expect: PONG\n",
		  "lastgood.yml:6:9: 'expect' in health check 1 of service 'api' applies only to 'tcp' checks" },
		{ HEALTH_PREFIX "      - http: http://x/\n        json: {status: [a]}\n",
		  "lastgood.yml:6:24: 'status' in 'json' in health check 1 of service 'api' must be a "
		  "string, not a list" },
		{ HEALTH_PREFIX "      - http: http://x/\n        json: healthy\n",
		  "lastgood.yml:6:15: 'json' in health check 1 of service 'api' must be a mapping, "
		  "not a string" },
		{ HEALTH_PREFIX "      - http: http://x/\n        status: ok\n",
		  "lastgood.yml:6:17: 'status' in health check 1 of service 'api' must be an integer "
		  "from 100 to 599, not 'ok'" },
		{ HEALTH_PREFIX "      - http: http://x/\n        status: 99\n",
		  "lastgood.yml:6:17: 'status' in health check 1 of service 'api' must be an integer "
		  "from 100 to 599, not '99'" },
		{ HEALTH_PREFIX "      - http: http://x/\n        headers: [Host]\n",
		  "lastgood.yml:6:18: 'headers' in health check 1 of service 'api' must be a mapping, "
		  "not a list" },
		{ HEALTH_PREFIX "      - http: http://x/\n        headers: {\"Bad Name\": x}\n",
		  "lastgood.yml:6:19: invalid header 'Bad Name' in 'headers' in health check 1 of "
		  "service 'api'" },
		{ HEALTH_PREFIX "      - exec: []\n",
		  "lastgood.yml:5:15: 'exec' in health check 1 of service 'api' must not be empty" },
		{ HEALTH_PREFIX "      - exec: /bin/true\n",
		  "lastgood.yml:5:15: 'exec' in health check 1 of service 'api' must be a list of "
		  "strings, not a string" },
		{ HEALTH_PREFIX "      - tcp: localhost\n",
		  "lastgood.yml:5:14: 'tcp' in health check 1 of service 'api' must be HOST:PORT, "
		  "not 'localhost'" },
		{ HEALTH_PREFIX "      - tcp: localhost:70000\n",
		  "lastgood.yml:5:14: 'tcp' in health check 1 of service 'api' must be HOST:PORT, "
		  "not 'localhost:70000'" },
		{ HEALTH_PREFIX "      - http: 127.0.0.1:8000/health\n",
		  "lastgood.yml:5:15: 'http' in health check 1 of service 'api' must be a URL starting "
		  "with http:// or https://, not '127.0.0.1:8000/health'" },
		{ HEALTH_PREFIX "      - http: http://x/\n        contains: [a]\n",
		  "lastgood.yml:6:19: 'contains' in health check 1 of service 'api' must be a string, "
		  "not a list" },
		{ HEALTH_PREFIX "      - tcp: x:1\n        send: {a: b}\n",
		  "lastgood.yml:6:15: 'send' in health check 1 of service 'api' must be a string, "
		  "not a mapping" },
	};
	EXPECT_ERRORS(cases);
}

/* The long env form and basic auth: values kept as written, secrets marked. */
static void test_secrets(void **state)
{
	(void)state;
	struct config cfg;
	parse_ok("/srv/app/lastgood.yml",
		 "services:\n  api:\n    run: [bin/api]\n"
		 "    env:\n"
		 "      PLAIN: visible\n"
		 "      TOKEN: {value: s3cret-token, secret: true}\n"
		 "      SHOWN: {value: shown, secret: False}\n"
		 "      EMPTY: {value: \"\"}\n"
		 "    health:\n"
		 "      - http: http://127.0.0.1:8000/health\n"
		 "        username: ops\n"
		 "        password: pa55word\n"
		 "      - http: http://127.0.0.1:8000/health\n"
		 "        username: ops\n", &cfg);

	const struct service *api = &cfg.services[0];
	assert_int_equal(api->nenv, 4);
	assert_string_equal(api->env[0].value, "visible");
	assert_false(api->env[0].secret);
	assert_string_equal(api->env[1].key, "TOKEN");
	assert_string_equal(api->env[1].value, "s3cret-token");
	assert_true(api->env[1].secret);
	assert_string_equal(api->env[2].value, "shown");
	assert_false(api->env[2].secret);
	assert_string_equal(api->env[3].value, "");
	assert_false(api->env[3].secret);

	assert_int_equal(api->nhealth, 2);
	assert_string_equal(api->health[0].username, "ops");
	assert_string_equal(api->health[0].password, "pa55word");
	assert_string_equal(api->health[1].username, "ops");
	assert_null(api->health[1].password);
	config_free(&cfg);
}

/* A mistake near a secret is reported by key; a URL is quoted redacted. */
static void test_errors_secrets(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "services:\n  api:\n    run: [x]\n    env: {T: {value: [s3cret-token]}}\n",
		  "lastgood.yml:4:22: 'value' in 'T' in 'env' in service 'api' must be a string, "
		  "not a list" },
		{ "services:\n  api:\n    run: [x]\n    env: {T: {secret: true}}\n",
		  "lastgood.yml:4:14: 'T' in 'env' in service 'api' needs 'value'" },
		{ "services:\n  api:\n    run: [x]\n    env: {T: {value: x, secret: s3cret-token}}\n",
		  "lastgood.yml:4:33: 'secret' in 'T' in 'env' in service 'api' must be true or false" },
		{ "services:\n  api:\n    run: [x]\n    env: {T: {value: x, secret: \"true\"}}\n",
		  "lastgood.yml:4:33: 'secret' in 'T' in 'env' in service 'api' must be true or false" },
		{ "services:\n  api:\n    run: [x]\n    env: {T: {value: x, secert: true}}\n",
		  "lastgood.yml:4:25: unknown key 'secert' in 'T' in 'env' in service 'api'" },
		{ "services:\n  api:\n    run: [x]\n    env: {T: {value: x, value: s3cret-token}}\n",
		  "lastgood.yml:4:25: duplicate key 'value' in 'T' in 'env' in service 'api'" },
		{ "services:\n  api:\n    run: [x]\n    env: {T: {value: x}, T: s3cret-token}\n",
		  "lastgood.yml:4:26: duplicate key 'T' in 'env' in service 'api'" },
		{ HEALTH_PREFIX "      - tcp: x:1\n        username: ops\n",
		  "lastgood.yml:6:9: 'username' in health check 1 of service 'api' applies only to "
		  "'http' checks" },
		{ HEALTH_PREFIX "      - http: http://x/\n        password: s3cret-token\n",
		  "lastgood.yml:6:9: 'password' in health check 1 of service 'api' needs 'username'" },
		{ HEALTH_PREFIX "      - http: http://x/\n        username: ops\n        password: [s3cret]\n",
		  "lastgood.yml:7:19: 'password' in health check 1 of service 'api' must be a string, "
		  "not a list" },
		{ HEALTH_PREFIX "      - http: http://x/\n        username: ops\n        password: ''\n",
		  "lastgood.yml:7:9: 'password' in health check 1 of service 'api' must not be empty" },
		{ HEALTH_PREFIX "      - http: ftp://ops:s3cret-token@x/h?token=s3cret-token&v#top\n",
		  "lastgood.yml:5:15: 'http' in health check 1 of service 'api' must be a URL starting "
		  "with http:// or https://, not 'ftp://ops:***@x/h?token=***&***#***'" },
	};
	EXPECT_ERRORS(cases);
}

/* The helpers behind every redacted URL and scrubbed response. */
static void test_secret_helpers(void **state)
{
	(void)state;
	static const struct { const char *url, *shown; } urls[] = {
		{ "http://ops:pw@host:80/p?token=abc&verbose#frag",
		  "http://ops:***@host:80/p?token=***&***#***" },
		{ "https://ghp_token@github.com/x", "https://***@github.com/x" },
		{ "http://host/p", "http://host/p" },
		{ "http://host/p?", "http://host/p?" },
		{ "http://host/p?a=&&b=1#", "http://host/p?a=***&&b=***#***" },
		/* the last '@' ends the user info, the first ':' starts the password */
		{ "http://a@b:c:d@host/", "http://a@b:***@host/" },
		/* a URL inside a query value is a value like any other */
		{ "host/x?next=http://u:p@h/", "host/x?next=***" },
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		char *shown = secret_redact_url(urls[i].url);
		assert_string_equal(shown, urls[i].shown);
		free(shown);
	}

	struct strbuf text = STRBUF_INIT;
	strbuf_addstr(&text, "no token=abcdef123 for ops:pa55word, v=1, again abcdef123");
	secret_scrub_url(&text, "http://ops:pa55word@h/h?token=abcdef123&v=1");
	/* every query value is a secret, however short ("1"), masked as a
	 * whole token */
	assert_string_equal(text.buf, "no token=*** for ops:***, v=***, again ***");
	/* NULL leaves the text alone. */
	secret_scrub(&text, NULL);
	secret_scrub_url(&text, NULL);
	assert_string_equal(text.buf, "no token=*** for ops:***, v=***, again ***");
	secret_scrub(&text, "again ***");
	assert_string_equal(text.buf, "no token=*** for ops:***, v=***, ***");
	strbuf_release(&text);
	secret_free(NULL);
}

static const char databases_config[] =
	"services:\n"
	"  api:\n"
	"    run: [bin/api]\n"
	"    files: [bin/api, db]\n"
	"databases:\n"
	"  main:\n"
	"    engine: postgres\n"
	"    url: postgresql://ziggie@127.0.0.1:5432/ziggie\n"
	"    password: {value: \"pw-s3cret\", secret: true}\n"
	"    migrations: db/migrations\n"
	"    backup: destructive\n"
	"    services: [api]\n"
	"  cache:\n"
	"    engine: sqlite\n"
	"    path: data/app.db\n"
	"    migrations: ./db//cache/\n"
	"  legacy:\n"
	"    engine: command\n"
	"    current: [alembic, current]\n"
	"    upgrade: [alembic, upgrade, head]\n"
	"    downgrade: [alembic, downgrade, \"{version}\"]\n"
	"    backup: [pg_dump, -Fc, -f, \"{file}\", ziggie]\n"
	"    restore: [pg_restore, --clean, -d, ziggie, \"{file}\"]\n"
	"  tool:\n"
	"    engine: command\n"
	"    current: [tool, version]\n"
	"    upgrade: [tool, up]\n"
	"    downgrade: [tool, \"--to={version}\"]\n"
	"    backup: never\n"
	"    migrations: db/tool\n"
	"    workdir: db\n"
	"  settings:\n"
	"    engine: postgres\n"
	"    url: host=127.0.0.1 dbname=settings\n"
	"    migrations: db\n"
	"    backup: never\n"
	"  sessions:\n"
	"    engine: command\n"
	"    backup: [redis-cli, --rdb, \"{file}\"]\n"
	"    restore: [./load-rdb, \"{file}\"]\n";

static void assert_argv(const struct argv_list *list, size_t n, const char *last)
{
	assert_int_equal(list->n, n);
	assert_string_equal(list->v[n - 1], last);
	assert_null(list->v[n]);
}

/* What config_parse made of databases_config (the same whether parsed from
 * the file or from the text recorded with a release). */
static void assert_databases(const struct config *cfg)
{
	assert_int_equal(cfg->ndatabases, 6);
	const struct database *main_db = &cfg->databases[0];
	assert_string_equal(main_db->name, "main");
	assert_int_equal(main_db->mark.line, 6);
	assert_int_equal(main_db->mark.column, 3);
	assert_int_equal(main_db->engine, DB_ENGINE_POSTGRES);
	assert_string_equal(main_db->url, "postgresql://ziggie@127.0.0.1:5432/ziggie");
	assert_string_equal(main_db->password, "pw-s3cret");
	assert_null(main_db->path);
	assert_string_equal(main_db->migrations, "/srv/app/db/migrations");
	assert_string_equal(main_db->migrations_written, "db/migrations");
	assert_int_equal(main_db->migrations_mark.line, 10);
	assert_int_equal(main_db->migrations_mark.column, 17);
	assert_int_equal(main_db->backup, DB_BACKUP_DESTRUCTIVE);
	assert_int_equal(main_db->nservices, 1);
	assert_string_equal(main_db->services[0], "api");
	assert_int_equal(main_db->current.n, 0);
	assert_int_equal(main_db->backup_cmd.n, 0);

	const struct database *cache = &cfg->databases[1];
	assert_int_equal(cache->engine, DB_ENGINE_SQLITE);
	assert_null(cache->url);
	assert_null(cache->password);
	assert_string_equal(cache->path, "/srv/app/data/app.db");
	assert_string_equal(cache->migrations, "/srv/app/db/cache");
	assert_string_equal(cache->migrations_written, "./db//cache/");
	assert_int_equal(cache->backup, DB_BACKUP_ALWAYS);
	assert_int_equal(cache->nservices, 0);

	const struct database *legacy = &cfg->databases[2];
	assert_int_equal(legacy->engine, DB_ENGINE_COMMAND);
	assert_null(legacy->migrations);
	assert_null(legacy->migrations_written);
	assert_argv(&legacy->current, 2, "current");
	assert_argv(&legacy->upgrade, 3, "head");
	assert_argv(&legacy->downgrade, 3, "{version}");
	assert_argv(&legacy->backup_cmd, 5, "ziggie");
	assert_argv(&legacy->restore_cmd, 5, "{file}");
	assert_int_equal(legacy->backup, DB_BACKUP_ALWAYS);
	assert_string_equal(legacy->workdir, "/srv/app");

	const struct database *tool = &cfg->databases[3];
	assert_int_equal(tool->backup, DB_BACKUP_NEVER);
	assert_argv(&tool->downgrade, 2, "--to={version}");
	assert_int_equal(tool->backup_cmd.n, 0);
	assert_int_equal(tool->restore_cmd.n, 0);
	assert_string_equal(tool->migrations, "/srv/app/db/tool");
	assert_string_equal(tool->workdir, "/srv/app/db");

	const struct database *settings = &cfg->databases[4];
	assert_string_equal(settings->url, "host=127.0.0.1 dbname=settings");
	assert_null(settings->password);
	assert_string_equal(settings->migrations, "/srv/app/db");
	assert_int_equal(settings->backup, DB_BACKUP_NEVER);

	/* backed up and restored only: no migration tool */
	const struct database *sessions = &cfg->databases[5];
	assert_int_equal(sessions->current.n, 0);
	assert_int_equal(sessions->upgrade.n, 0);
	assert_int_equal(sessions->downgrade.n, 0);
	assert_argv(&sessions->backup_cmd, 3, "{file}");
	assert_argv(&sessions->restore_cmd, 2, "{file}");
	assert_int_equal(sessions->backup, DB_BACKUP_ALWAYS);
	assert_null(sessions->migrations);
}

static void test_databases(void **state)
{
	(void)state;
	struct config cfg, again;
	struct error err = ERROR_INIT;

	parse_ok("/srv/app/lastgood.yml", databases_config, &cfg);
	assert_databases(&cfg);
	/* A recorded config is parsed again from its text. */
	assert_int_equal(config_parse("/srv/app/lastgood.yml", cfg.text, cfg.text_len, &again,
				      &err), 0);
	assert_databases(&again);
	config_free(&again);
	config_free(&cfg);
	assert_null(cfg.databases);
	assert_int_equal(cfg.ndatabases, 0);

	/* None is the default, and an empty section is none. */
	parse_ok("/srv/app/lastgood.yml", "services: {api: {run: [x]}}\ndatabases: {}\n", &cfg);
	assert_int_equal(cfg.ndatabases, 0);
	config_free(&cfg);
	parse_ok("/srv/app/lastgood.yml", "services: {api: {run: [x]}}\n", &cfg);
	assert_null(cfg.databases);
	assert_int_equal(cfg.ndatabases, 0);
	config_free(&cfg);
}

/* Lines 1-5; the first database is on line 6. */
#define DB_PREFIX "services:\n  api:\n    run: [x]\n    files: [db]\ndatabases:\n"
/* A command database lacking only its backup choice, lines 6-10. */
#define DB_COMMAND DB_PREFIX "  main:\n    engine: command\n    current: [c]\n" \
	"    upgrade: [u]\n    downgrade: [d, \"{version}\"]\n"

static void test_errors_databases(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ DB_PREFIX, "lastgood.yml:5:11: 'databases' must be a mapping of database names "
		  "to databases" },
		{ DB_PREFIX "  - main\n", "lastgood.yml:6:3: 'databases' must be a mapping of "
		  "database names to databases" },
		{ DB_PREFIX "  main: 1\n", "lastgood.yml:6:9: database 'main' must be a mapping" },
		{ DB_PREFIX "  \"a b\": {engine: sqlite}\n",
		  "lastgood.yml:6:3: invalid database name 'a b' (use letters, digits, '.', '_' and "
		  "'-')" },
		{ DB_PREFIX "  ? [a]\n  : {engine: sqlite}\n",
		  "lastgood.yml:6:5: 'databases' must be a mapping of names, not a list" },
		{ DB_PREFIX "  main: {engine: sqlite, path: a.db, migrations: db/a}\n"
		  "  main: {engine: sqlite, path: b.db, migrations: db/b}\n",
		  "lastgood.yml:7:3: duplicate database 'main' (first at line 6)" },
		{ DB_PREFIX "  main: {engine: sqlite, engine: sqlite}\n",
		  "lastgood.yml:6:26: duplicate key 'engine' in database 'main'" },
		{ DB_PREFIX "  main: {path: a.db}\n",
		  "lastgood.yml:6:3: database 'main' needs 'engine' (postgres, sqlite or command)" },
		{ DB_PREFIX "  main: {engine: mysql}\n",
		  "lastgood.yml:6:18: unknown engine 'mysql' in database 'main' (use postgres, "
		  "sqlite or command)" },
		{ DB_PREFIX "  main: {engine: [sqlite]}\n",
		  "lastgood.yml:6:18: 'engine' in database 'main' must be a string, not a list" },
		{ DB_PREFIX "  main: {engine: sqlite, pth: a.db}\n",
		  "lastgood.yml:6:26: unknown key 'pth' in database 'main'" },
		/* keys of another engine, where they are written */
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n    migrations: db\n"
		  "    url: x\n", "lastgood.yml:10:5: key 'url' is not for engine sqlite" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    path: a.db\n",
		  "lastgood.yml:8:5: key 'path' is not for engine postgres" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    current: [x]\n",
		  "lastgood.yml:8:5: key 'current' is not for engine sqlite" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    password: {value: x, secret: true}\n",
		  "lastgood.yml:8:5: key 'password' is not for engine sqlite" },
		{ DB_COMMAND "    path: a.db\n",
		  "lastgood.yml:11:5: key 'path' is not for engine command" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    restore: [x]\n",
		  "lastgood.yml:8:5: key 'restore' is not for engine postgres" },
		/* keys an engine requires */
		{ DB_PREFIX "  main:\n    engine: postgres\n    migrations: db\n",
		  "lastgood.yml:6:3: database 'main' needs 'url' (engine postgres)" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=x\n",
		  "lastgood.yml:6:3: database 'main' needs 'migrations' (engine postgres)" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    migrations: db\n",
		  "lastgood.yml:6:3: database 'main' needs 'path' (engine sqlite)" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n",
		  "lastgood.yml:6:3: database 'main' needs 'migrations' (engine sqlite)" },
		{ DB_PREFIX "  main:\n    engine: command\n    current: [c]\n    upgrade: [u]\n",
		  "lastgood.yml:6:3: database 'main' needs 'downgrade' (engine command)" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: ''\n    migrations: db\n",
		  "lastgood.yml:8:5: 'path' in database 'main' must not be empty" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n    migrations: db\n"
		  "    services: [api, web]\n",
		  "lastgood.yml:10:21: unknown service 'web' in 'services' of database 'main'" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n    migrations: db\n"
		  "    services: api\n",
		  "lastgood.yml:10:15: 'services' in database 'main' must be a list of strings, "
		  "not a string" },
	};
	EXPECT_ERRORS(cases);
}

/* Connection strings and passwords: never quoted, a URL redacted. */
static void test_errors_database_secrets(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ DB_PREFIX "  main:\n    engine: postgres\n    migrations: db\n"
		  "    url: \"host=db password=s3cret-pw hots=x\"\n",
		  "lastgood.yml:9:10: 'url' in database 'main' is not a connection string libpq "
		  "accepts: use a postgresql:// URL or key=value settings (host=... dbname=...)" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    migrations: db\n"
		  "    url: s3cret-pw\n",
		  "lastgood.yml:9:10: 'url' in database 'main' is not a connection string libpq "
		  "accepts: use a postgresql:// URL or key=value settings (host=... dbname=...)" },
		/* "://" inside a value does not make a URL */
		{ DB_PREFIX "  main:\n    engine: postgres\n    migrations: db\n"
		  "    url: \"password='a://s3cret-pw' hots=x\"\n",
		  "lastgood.yml:9:10: 'url' in database 'main' is not a connection string libpq "
		  "accepts: use a postgresql:// URL or key=value settings (host=... dbname=...)" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    migrations: db\n"
		  "    url: mysql://ops:s3cret-pw@db/app?token=s3cret-pw\n",
		  "lastgood.yml:9:10: 'url' in database 'main' must be a postgresql:// URL libpq "
		  "accepts, not 'mysql://ops:***@db/app?token=***'" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    migrations: db\n"
		  "    url: postgresql://ops:s3cret-pw@db/app?pasword=s3cret-pw\n",
		  "lastgood.yml:9:10: 'url' in database 'main' must be a postgresql:// URL libpq "
		  "accepts, not 'postgresql://ops:***@db/app?pasword=***'" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    migrations: db\n    url: \"\"\n",
		  "lastgood.yml:9:5: 'url' in database 'main' must not be empty" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=app\n    migrations: db\n"
		  "    password: s3cret-pw\n",
		  "lastgood.yml:10:15: 'password' in database 'main' must be a secret: write it "
		  "{value: \"...\", secret: true}, or leave it out and use PGPASSFILE or the "
		  "environment" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=app\n    migrations: db\n"
		  "    password: {value: s3cret-pw}\n",
		  "lastgood.yml:10:15: 'password' in database 'main' must be a secret: write it "
		  "{value: \"...\", secret: true}, or leave it out and use PGPASSFILE or the "
		  "environment" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=app\n    migrations: db\n"
		  "    password: {value: s3cret-pw, secret: false}\n",
		  "lastgood.yml:10:15: 'password' in database 'main' must be a secret: write it "
		  "{value: \"...\", secret: true}, or leave it out and use PGPASSFILE or the "
		  "environment" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=app\n    migrations: db\n"
		  "    password: {value: \"\", secret: true}\n",
		  "lastgood.yml:10:15: 'password' in database 'main' must not be empty" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=app\n    migrations: db\n"
		  "    password: {secret: true}\n",
		  "lastgood.yml:10:15: 'password' in database 'main' needs 'value'" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=app\n    migrations: db\n"
		  "    password: {value: s3cret-pw, secret: yes}\n",
		  "lastgood.yml:10:42: 'secret' in 'password' in database 'main' must be true or "
		  "false" },
	};
	EXPECT_ERRORS(cases);
}

/* Migrations travel with the release, a SQLite file never does. */
static void test_errors_database_paths(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n"
		  "    migrations: db2/migrations\n",
		  "lastgood.yml:9:17: migrations folder 'db2/migrations' is in no service's files: "
		  "list it (or a folder holding it) under a service's files, so that every release "
		  "holds its migrations" },
		/* by components: "dbx" is not inside "db" */
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=x\n    migrations: dbx\n",
		  "lastgood.yml:9:17: migrations folder 'dbx' is in no service's files: list it (or "
		  "a folder holding it) under a service's files, so that every release holds its "
		  "migrations" },
		{ DB_PREFIX "  main:\n    engine: postgres\n    url: dbname=x\n    migrations: .\n",
		  "lastgood.yml:9:17: migrations folder '.' is in no service's files: list it (or "
		  "a folder holding it) under a service's files, so that every release holds its "
		  "migrations" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: db/app.db\n    migrations: db\n",
		  "lastgood.yml:8:11: sqlite file 'db/app.db' of database 'main' lies in file 'db' "
		  "of service 'api' (line 4): a switch would swap the data with the release's "
		  "files; keep it out of every service's files" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: ./db\n    migrations: db\n",
		  "lastgood.yml:8:11: sqlite file './db' of database 'main' lies in file 'db' "
		  "of service 'api' (line 4): a switch would swap the data with the release's "
		  "files; keep it out of every service's files" },
		{ DB_PREFIX "  a: {engine: sqlite, path: app.db, migrations: db/a}\n"
		  "  b: {engine: sqlite, path: ./app.db, migrations: db/b}\n",
		  "lastgood.yml:7:29: database 'b' has the sqlite file of database 'a' (line 6)" },
		{ DB_PREFIX "  a: {engine: sqlite, path: a.db, migrations: db/m}\n"
		  "  b: {engine: postgres, url: dbname=b, migrations: db/m/}\n",
		  "lastgood.yml:7:52: database 'b' has the migrations folder of database 'a' "
		  "(line 6)" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_database_commands(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n    migrations: db\n"
		  "    backup: sometimes\n",
		  "lastgood.yml:10:13: 'backup' in database 'main' must be always, destructive or "
		  "never, not 'sometimes'" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n    migrations: db\n"
		  "    backup: [cp, a.db, \"{file}\"]\n",
		  "lastgood.yml:10:13: 'backup' in database 'main' must be always, destructive or "
		  "never, not a list" },
		{ DB_PREFIX "  main:\n    engine: sqlite\n    path: a.db\n    migrations: db\n"
		  "    backup:\n",
		  "lastgood.yml:10:12: 'backup' in database 'main' must be always, destructive or "
		  "never, not empty" },
		{ DB_COMMAND,
		  "lastgood.yml:6:3: database 'main' needs 'backup' and 'restore' commands, or "
		  "'backup: never' (engine command)" },
		{ DB_COMMAND "    backup: always\n",
		  "lastgood.yml:11:13: 'backup' in database 'main' must be the backup command (a "
		  "list with {file}) or never for engine command" },
		{ DB_COMMAND "    backup: destructive\n",
		  "lastgood.yml:11:13: 'backup' in database 'main' must be the backup command (a "
		  "list with {file}) or never for engine command" },
		{ DB_COMMAND "    backup: [dump, out.sql]\n    restore: [load, \"{file}\"]\n",
		  "lastgood.yml:11:13: 'backup' in database 'main' must have {file} in an argument "
		  "(the backup file to write)" },
		{ DB_COMMAND "    backup: [dump, \"{file}\"]\n",
		  "lastgood.yml:11:5: 'backup' in database 'main' needs 'restore', the command that "
		  "reads {file} back" },
		{ DB_COMMAND "    backup: never\n    restore: [load, \"{file}\"]\n",
		  "lastgood.yml:12:5: 'restore' in database 'main' needs 'backup', the command that "
		  "writes {file}" },
		/* backup-only (Redis, MongoDB), or a tool, or both; not neither */
		{ DB_PREFIX "  main:\n    engine: command\n    backup: never\n",
		  "lastgood.yml:6:3: database 'main' needs 'current', 'upgrade' and 'downgrade' (a "
		  "migration tool), or 'backup' and 'restore' commands, or both (engine command)" },
		{ DB_PREFIX "  main:\n    engine: command\n    migrations: db\n"
		  "    backup: [dump, \"{file}\"]\n    restore: [load, \"{file}\"]\n",
		  "lastgood.yml:8:5: 'migrations' in database 'main' is the folder of its tool's "
		  "migrations: it needs 'current', 'upgrade' and 'downgrade'" },
		{ DB_PREFIX "  main:\n    engine: command\n    downgrade: [d, \"{version}\"]\n"
		  "    backup: [dump, \"{file}\"]\n    restore: [load, \"{file}\"]\n",
		  "lastgood.yml:6:3: database 'main' needs 'current' (engine command)" },
		{ DB_COMMAND "    restore: [load, \"{file}\"]\n",
		  "lastgood.yml:11:5: 'restore' in database 'main' needs 'backup', the command that "
		  "writes {file}" },
		{ DB_COMMAND "    backup: [dump, \"-o{file}\"]\n    restore: [load, in.sql]\n",
		  "lastgood.yml:12:14: 'restore' in database 'main' must have {file} in an argument "
		  "(the backup file to read)" },
		{ DB_PREFIX "  main:\n    engine: command\n    current: [c]\n    upgrade: [u]\n"
		  "    downgrade: [d, version]\n    backup: never\n",
		  "lastgood.yml:10:16: 'downgrade' in database 'main' must have {version} in an "
		  "argument (the version to go down to)" },
		{ DB_PREFIX "  main:\n    engine: command\n    current: []\n    upgrade: [u]\n"
		  "    downgrade: [d, \"{version}\"]\n",
		  "lastgood.yml:8:14: 'current' in database 'main' must not be empty" },
		{ DB_PREFIX "  main:\n    engine: command\n    current: [c]\n    upgrade: u\n"
		  "    downgrade: [d, \"{version}\"]\n",
		  "lastgood.yml:9:14: 'upgrade' in database 'main' must be a list of strings, not a "
		  "string" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_after(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "services:\n  api:\n    run: [x]\n    after: [db, dbb]\n  db:\n    run: [y]\n",
		  "lastgood.yml:4:17: unknown service 'dbb' in 'after' of service 'api'" },
		{ "services:\n  api:\n    run: [x]\n    after: [db]\n  db:\n    run: [y]\n    after: [api]\n",
		  "lastgood.yml:7:13: cycle in 'after': api -> db -> api" },
		{ "services:\n  api:\n    run: [x]\n    after: [api]\n",
		  "lastgood.yml:4:13: cycle in 'after': api -> api" },
		/* The cycle is named from where it closes, not from the first service. */
		{ "services:\n"
		  "  web: {run: [x], after: [api]}\n"
		  "  api: {run: [x], after: [db]}\n"
		  "  db: {run: [x], after: [cache]}\n"
		  "  cache: {run: [x], after: [api]}\n",
		  "lastgood.yml:5:29: cycle in 'after': api -> db -> cache -> api" },
	};
	EXPECT_ERRORS(cases);
}

static void test_errors_paths(void **state)
{
	(void)state;
	static const struct error_case cases[] = {
		{ "services:\n  api:\n    run: [x]\n    files: [bin/api]\n"
		  "  web:\n    run: [y]\n    files: [./bin//api]\n",
		  "lastgood.yml:7:13: file './bin//api' of service 'web' is also 'bin/api' of service "
		  "'api' (line 4)" },
		{ "services:\n  api:\n    run: [x]\n    files: [a/]\n"
		  "  web:\n    run: [y]\n    files: [a/b]\n",
		  "lastgood.yml:7:13: file 'a/b' of service 'web' is inside 'a/' of service 'api' (line 4)" },
		{ "services:\n  api:\n    run: [x]\n    files: [a/b/c]\n"
		  "  web:\n    run: [y]\n    files: [lib, a]\n",
		  "lastgood.yml:7:18: file 'a' of service 'web' holds 'a/b/c' of service 'api' (line 4)" },
		{ "services:\n  api:\n    run: [x]\n    files: [etc, etc/api.env]\n",
		  "lastgood.yml:4:18: file 'etc/api.env' of service 'api' is inside 'etc' of service "
		  "'api' (line 4)" },
		{ "services:\n  api:\n    run: [x]\n    files: [/opt/a, /opt/ab]\n",
		  NULL },
		{ "services:\n  api:\n    run: [x]\n    files: [bin/../etc]\n",
		  "lastgood.yml:4:13: file 'bin/../etc' of service 'api' must not contain '..'" },
		{ "services:\n  api:\n    run: [x]\n    files: [..]\n",
		  "lastgood.yml:4:13: file '..' of service 'api' must not contain '..'" },
		{ "services:\n  api:\n    run: [x]\n    files: [bin, '']\n",
		  "lastgood.yml:4:18: empty path in 'files' in service 'api'" },
		{ "services:\n  api:\n    run: [x]\n    files: [.]\n",
		  "lastgood.yml:4:13: file '.' of service 'api' is the config folder" },
		{ "services:\n  api:\n    run: [x]\n    files: [/]\n",
		  "lastgood.yml:4:13: file '/' of service 'api' holds the config folder" },
		{ "state_dir: /var/lib/lg\nservices:\n  api:\n    run: [x]\n    files: [/var/lib/lg]\n",
		  "lastgood.yml:5:13: file '/var/lib/lg' of service 'api' overlaps the state folder "
		  "'/var/lib/lg'" },
		{ "state_dir: /var/lib/lg\nservices:\n  api:\n    run: [x]\n    files: [/var/lib]\n",
		  "lastgood.yml:5:13: file '/var/lib' of service 'api' overlaps the state folder "
		  "'/var/lib/lg'" },
		{ "services:\n  api:\n    run: [x]\n    files: [.lastgood/objects]\n",
		  "lastgood.yml:4:13: file '.lastgood/objects' of service 'api' overlaps the state "
		  "folder '/srv/app/.lastgood'" },
	};
	/* Relative paths resolve against the config's folder, so give it one. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		struct error err = ERROR_INIT;
		const char *text = cases[i].text;
		int rc = config_parse("/srv/app/lastgood.yml", text, strlen(text), &cfg, &err);
		if (!cases[i].msg) {
			assert_int_equal(rc, 0);
			config_free(&cfg);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(err.kind, ERROR_USAGE);
		char *want = xstrfmt("/srv/app/%s", cases[i].msg);
		assert_string_equal(err.msg, want);
		free(want);
	}
}

/* A fresh folder with a config in it; the caller removes the folder. */
static char *write_config(const char *text)
{
	char tmpl[] = "/tmp/lastgood-test-config-XXXXXX";
	struct error err = ERROR_INIT;
	assert_non_null(mkdtemp(tmpl));
	char *path = path_join(tmpl, "lastgood.yml");
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644, &err), 0);
	return path;
}

static void remove_config_dir(char *path)
{
	struct error err = ERROR_INIT;
	char *dir = path_dirname(path);
	assert_int_equal(fs_remove_tree(dir, &err), 0);
	free(dir);
	free(path);
}

static void test_check_files(void **state)
{
	(void)state;
	struct config cfg;
	struct error err = ERROR_INIT;
	char *path = write_config("services:\n"
				  "  api:\n"
				  "    run: [bin/api]\n"
				  "    files:\n"
				  "      - bin/api\n"
				  "      - etc\n");
	char *dir = path_dirname(path);

	assert_int_equal(config_load(path, &cfg, &err), 0);
	assert_string_equal(cfg.dir, dir);
	/* Not there yet is fine: a release that brings it is recorded with
	 * it, and until then it is absent. */
	assert_int_equal(config_check_files(&cfg, &err), 0);

	char *bin = path_join(dir, "bin");
	char *api = path_join(dir, "bin/api");
	char *etc = path_join(dir, "etc");
	assert_int_equal(fs_mkdir_p(bin, 0755, &err), 0);
	assert_int_equal(fs_write_atomic(api, "x", 1, 0755, &err), 0);
	assert_int_equal(config_check_files(&cfg, &err), 0);

	/* lstat, not stat: a dangling symlink is a file that exists. */
	assert_int_equal(symlink("nowhere", etc), 0);
	assert_int_equal(config_check_files(&cfg, &err), 0);

	config_free(&cfg);
	free(bin);
	free(api);
	free(etc);
	free(dir);
	remove_config_dir(path);
}

/* config_check_live_paths and config_check_parents look at the folders as
 * they are: links followed for overlaps, refused on the way to an entry. */
static void test_live_paths(void **state)
{
	(void)state;
	struct config cfg;
	struct error err = ERROR_INIT;
	char *path = write_config("services:\n"
				  "  api:\n"
				  "    run: [x]\n"
				  "    files: [real/b]\n"
				  "  web:\n"
				  "    run: [y]\n"
				  "    files: [realsym/b]\n");
	char *dir = path_dirname(path);
	char *real = path_join(dir, "real");
	char *realsym = path_join(dir, "realsym");
	char *state_dir = path_join(dir, ".lastgood");

	assert_int_equal(config_load(path, &cfg, &err), 0);
	assert_int_equal(config_check_live_paths(&cfg, state_dir, "", &err), 0);
	assert_int_equal(config_check_parents(&cfg, &err), 0);   /* missing folders are fine */

	assert_int_equal(fs_mkdir_p(real, 0755, &err), 0);
	assert_int_equal(symlink("real", realsym), 0);
	assert_int_equal(config_check_live_paths(&cfg, state_dir, "", &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	char *want = xstrfmt("%s:7:13: file 'realsym/b' of service 'web' is also 'real/b' of "
			     "service 'api' (line 4)", path);
	assert_string_equal(err.msg, want);
	free(want);

	error_clear(&err);
	assert_int_equal(config_check_parents(&cfg, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	want = xstrfmt("%s:7:13: file 'realsym/b' of service 'web': refusing '%s' on the way "
		       "to live files: it is a symbolic link", path, realsym);
	assert_string_equal(err.msg, want);
	free(want);

	config_free(&cfg);
	free(state_dir);
	free(real);
	free(realsym);
	free(dir);
	remove_config_dir(path);
}

/* Masking finds each secret as written; one written with YAML escapes
 * cannot be found, and the text must then not be shown. */
static void test_mask_secrets(void **state)
{
	(void)state;
	static const char text[] =
		"services:\n"
		"  api:\n"
		"    run: [x]\n"
		"    env: {A: plain-value, B: {value: hunter22, secret: true}}\n"
		"    health:\n"
		"      - http: http://ops:pa55word@host/h?token=t0k3n\n"
		"      - http: http://host/h\n"
		"        username: ops\n"
		"        password: sesame-77\n";
	struct config cfg, other;
	struct strbuf masked = STRBUF_INIT;

	parse_ok("/srv/app/lastgood.yml", text, &cfg);
	strbuf_addstr(&masked, text);
	assert_int_equal(config_mask_secrets(&cfg, &masked, 1), 0);
	assert_non_null(strstr(masked.buf, "B: {value: ***, secret: true}"));
	assert_non_null(strstr(masked.buf, "http://ops:***@host/h?token=***"));
	assert_non_null(strstr(masked.buf, "password: ***\n"));
	assert_non_null(strstr(masked.buf, "A: plain-value"));
	assert_null(strstr(masked.buf, "hunter22"));
	assert_null(strstr(masked.buf, "pa55word"));
	assert_null(strstr(masked.buf, "t0k3n"));
	assert_null(strstr(masked.buf, "sesame"));

	/* another config's secrets are masked where found, never required */
	parse_ok("/srv/app/lastgood.yml", "services:\n  api:\n    run: [x]\n"
		 "    env: {A: {value: plain-value, secret: true}, C: {value: gone, secret: true}}\n",
		 &other);
	assert_int_equal(config_mask_secrets(&other, &masked, 0), 0);
	assert_non_null(strstr(masked.buf, "A: ***,"));
	assert_int_equal(config_mask_secrets(&other, &masked, 1), -1);
	config_free(&other);

	strbuf_reset(&masked);
	strbuf_addstr(&masked, "services:\n  api:\n    run: [x]\n"
		      "    env: {B: {value: \"hunt\\x65r22\", secret: true}}\n");
	parse_ok("/srv/app/lastgood.yml", masked.buf, &other);
	assert_int_equal(config_mask_secrets(&other, &masked, 1), -1);
	config_free(&other);

	config_free(&cfg);
	strbuf_release(&masked);
}

/* A database's password and the secrets of its connection string are
 * masked like any other (diff shows config lines). */
static void test_mask_database_secrets(void **state)
{
	(void)state;
	static const char text[] =
		DB_PREFIX
		"  main:\n"
		"    engine: postgres\n"
		"    url: postgresql://ops:url-pa55@db/app?sslmode=require\n"
		"    password: {value: hunter22, secret: true}\n"
		"    migrations: db/main\n"
		"  other:\n"
		"    engine: postgres\n"
		"    url: host=db password='kv pa55' dbname=other\n"
		"    migrations: db/other\n";
	struct config cfg;
	struct strbuf masked = STRBUF_INIT;

	parse_ok("/srv/app/lastgood.yml", text, &cfg);
	strbuf_addstr(&masked, text);
	assert_int_equal(config_mask_secrets(&cfg, &masked, 1), 0);
	assert_non_null(strstr(masked.buf, "url: postgresql://ops:***@db/app?sslmode=***\n"));
	assert_non_null(strstr(masked.buf, "password: {value: ***, secret: true}"));
	assert_non_null(strstr(masked.buf, "url: host=db password='***' dbname=other\n"));
	assert_null(strstr(masked.buf, "pa55"));
	assert_null(strstr(masked.buf, "hunter22"));
	config_free(&cfg);

	/* written so that the text does not hold it as parsed: not shown */
	strbuf_reset(&masked);
	strbuf_addstr(&masked, DB_PREFIX "  main:\n    engine: postgres\n"
		      "    url: host=db password='kv\\ pa55'\n    migrations: db\n");
	parse_ok("/srv/app/lastgood.yml", masked.buf, &cfg);
	assert_int_equal(config_mask_secrets(&cfg, &masked, 1), -1);
	config_free(&cfg);
	strbuf_release(&masked);
}

static void test_load_errors(void **state)
{
	(void)state;
	struct config cfg;
	struct error err = ERROR_INIT;

	assert_int_equal(config_load("/nonexistent/lastgood.yml", &cfg, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	assert_string_equal(err.msg, "/nonexistent/lastgood.yml: no such file "
			    "(create one with 'lastgood init')");
	assert_null(cfg.path);

	char *path = write_config("services:\n  api:\n    run: [x]\n    helth: []\n");
	error_clear(&err);
	assert_int_equal(config_load(path, &cfg, &err), -1);
	char *want = xstrfmt("%s:4:5: unknown key 'helth' in service 'api'", path);
	assert_string_equal(err.msg, want);
	free(want);
	remove_config_dir(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_relative_config_path),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_policy_merge),
		cmocka_unit_test(test_start_order),
		cmocka_unit_test(test_select_services),
		cmocka_unit_test(test_starter_text_parses),
		cmocka_unit_test(test_starter_databases_parse),
		cmocka_unit_test(test_errors_syntax),
		cmocka_unit_test(test_errors_structure),
		cmocka_unit_test(test_errors_unknown_keys),
		cmocka_unit_test(test_errors_duplicates),
		cmocka_unit_test(test_errors_types),
		cmocka_unit_test(test_errors_durations),
		cmocka_unit_test(test_errors_managers),
		cmocka_unit_test(test_compose_section),
		cmocka_unit_test(test_errors_compose),
		cmocka_unit_test(test_errors_health),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_errors_secrets),
		cmocka_unit_test(test_secret_helpers),
		cmocka_unit_test(test_databases),
		cmocka_unit_test(test_errors_databases),
		cmocka_unit_test(test_errors_database_secrets),
		cmocka_unit_test(test_errors_database_paths),
		cmocka_unit_test(test_errors_database_commands),
		cmocka_unit_test(test_errors_after),
		cmocka_unit_test(test_errors_paths),
		cmocka_unit_test(test_check_files),
		cmocka_unit_test(test_live_paths),
		cmocka_unit_test(test_mask_secrets),
		cmocka_unit_test(test_mask_database_secrets),
		cmocka_unit_test(test_load_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
