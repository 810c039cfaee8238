/*
 * Unit tests for health checks against real peers on 127.0.0.1: a server
 * thread answers programmed HTTP responses (status, body, delay) or raw TCP
 * replies; exec checks run true, false, sh and sleep.
 */
#include "core/config.h"
#include "core/health.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* What the server answers to its Nth request; the last entry repeats. */
struct reply {
	int status;                  /* HTTP status; unused for raw TCP */
	const char *body;            /* HTTP body, or the raw TCP reply */
	int delay_ms;                /* pause before answering */
};

struct server {
	int raw;                     /* raw TCP: read a line, answer body */
	const struct reply *replies;
	size_t nreplies;
	int listen_fd;
	int stop[2];
	int port;
	pthread_t thread;
	atomic_size_t requests;
	pthread_mutex_t lock;
	char last_request[4096];     /* under lock */
};

/* Wait up to ms (-1: forever) for fd to be readable; 0 when the stop pipe
 * fired or the time ran out. With fd -1, just sleep until stopped or ms. */
static int server_wait(struct server *s, int fd, int ms)
{
	struct pollfd pfd[2] = { { s->stop[0], POLLIN, 0 }, { fd, POLLIN, 0 } };
	int n = poll(pfd, fd >= 0 ? 2 : 1, ms);
	return n > 0 && !pfd[0].revents && pfd[1].revents;
}

static int server_stopped(struct server *s)
{
	struct pollfd pfd = { s->stop[0], POLLIN, 0 };
	return poll(&pfd, 1, 0) > 0;
}

/* Read one request: up to the blank line for HTTP, one line for TCP. */
static size_t server_read_request(struct server *s, int fd, char *buf, size_t size)
{
	const char *end = s->raw ? "\r\n" : "\r\n\r\n";
	size_t len = 0;
	buf[0] = '\0';
	while (len + 1 < size && !strstr(buf, end) && server_wait(s, fd, 2000)) {
		ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return len;
}

static void server_answer(struct server *s, int fd)
{
	char request[4096];
	server_read_request(s, fd, request, sizeof(request));
	pthread_mutex_lock(&s->lock);
	snprintf(s->last_request, sizeof(s->last_request), "%s", request);
	pthread_mutex_unlock(&s->lock);

	size_t i = atomic_fetch_add(&s->requests, 1);
	const struct reply *r = &s->replies[i < s->nreplies ? i : s->nreplies - 1];
	if (r->delay_ms) {
		server_wait(s, -1, r->delay_ms);
		if (server_stopped(s))
			return;
	}
	char out[8192];
	int len;
	if (s->raw)
		len = snprintf(out, sizeof(out), "%s", r->body);
	else
		len = snprintf(out, sizeof(out),
			       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			       r->status, strlen(r->body), r->body);
	send(fd, out, (size_t)len, MSG_NOSIGNAL);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	while (server_wait(s, s->listen_fd, -1)) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		server_answer(s, fd);
		close(fd);
	}
	return NULL;
}

/* Listen on 127.0.0.1 at a free port; returns the bound socket. */
static int listen_loopback(int *port)
{
	struct sockaddr_in addr = { 0 };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	*port = ntohs(addr.sin_port);
	return fd;
}

static void server_start(struct server *s, int raw, const struct reply *replies, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->raw = raw;
	s->replies = replies;
	s->nreplies = n;
	atomic_init(&s->requests, 0);
	pthread_mutex_init(&s->lock, NULL);
	s->listen_fd = listen_loopback(&s->port);
	assert_int_equal(pipe(s->stop), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	assert_int_equal(write(s->stop[1], "x", 1), 1);
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	close(s->stop[0]);
	close(s->stop[1]);
	pthread_mutex_destroy(&s->lock);
}

#define SERVE(s, raw, replies) server_start(s, raw, replies, sizeof(replies) / sizeof(replies[0]))

/* A service still starting: nothing listens on the port for late_ms, then
 * the server does. No cmocka asserts here, off the test's thread: a bind
 * that fails leaves the port refused and the test's wait to fail it. */
struct late_server {
	struct server s;
	int late_ms;
};

static void *server_late_main(void *arg)
{
	struct late_server *late = arg;
	struct server *s = &late->s;
	struct sockaddr_in addr = { 0 };
	int one = 1;

	server_wait(s, -1, late->late_ms);
	if (server_stopped(s))
		return NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)s->port);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return NULL;
	}
	s->listen_fd = fd;
	return server_main(s);
}

/* A port nothing listens on: bound, then closed. */
static int closed_port(void)
{
	int port, fd = listen_loopback(&port);
	close(fd);
	return port;
}

static void config_from(struct config *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void config_from(struct config *cfg, const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	struct error err = ERROR_INIT;
	if (config_parse("/tmp/lastgood.yml", text, strlen(text), cfg, &err) < 0)
		fail_msg("config: %s\n%s", err.msg, text);
}

/* One service "api" with the given health list (YAML, indented 6). */
static void config_api(struct config *cfg, const char *health)
{
	config_from(cfg, "services:\n  api:\n    run: [bin/api]\n    health:\n%s", health);
}

static void run_round(const struct config *cfg, const unsigned char *selected,
		      struct health_round *round)
{
	struct error err = ERROR_INIT;
	if (health_round_run(cfg, selected, round, &err) < 0)
		fail_msg("round: %s", err.msg);
}

/* Run one round of the single check in cfg and return its result. */
static const struct health_result *one_check(const struct config *cfg, struct health_round *round)
{
	run_round(cfg, NULL, round);
	assert_int_equal(round->n, 1);
	assert_int_equal(round->results[0].service, 0);
	assert_non_null(round->results[0].summary);
	return &round->results[0];
}

static void test_http_json_ok(void **state)
{
	(void)state;
	static const struct reply replies[] = {
		{ 200, "{\"status\": \"healthy\", \"checks\": {\"db\": {\"ok\": true}}, "
		  "\"code\": 200, \"ratio\": 0.1, \"node.name\": \"a\", "
		  "\"list\": [\"x\", \"y\"]}", 0 },
	};
	struct server s;
	struct config cfg;
	struct health_round round;
	SERVE(&s, 0, replies);
	char health[1024];
	snprintf(health, sizeof(health),
		 "      - http: http://127.0.0.1:%d/health\n"
		 "        json: {status: healthy, checks.db.ok: true, code: \"200\",\n"
		 "               ratio: \"0.1\", node.name: a, list.1: y}\n"
		 "        headers: {X-Probe: lastgood-test}\n", s.port);
	config_api(&cfg, health);

	const struct health_result *r = one_check(&cfg, &round);
	if (!r->ok)
		fail_msg("not ok: %s", r->response);
	assert_null(r->response);
	char want[128];
	snprintf(want, sizeof(want), "GET http://127.0.0.1:%d/health -> 200", s.port);
	assert_string_equal(r->summary, want);
	assert_ptr_equal(r->check, &cfg.services[0].health[0]);
	pthread_mutex_lock(&s.lock);
	assert_non_null(strstr(s.last_request, "GET /health HTTP/1.1\r\n"));
	assert_non_null(strstr(s.last_request, "\r\nX-Probe: lastgood-test\r\n"));
	pthread_mutex_unlock(&s.lock);

	health_round_free(&round);
	config_free(&cfg);
	server_stop(&s);
}

/* Each case: the body served with 200, the json: line, the response. */
static void test_http_json_mismatch(void **state)
{
	(void)state;
	static const struct {
		const char *body, *json, *response;
	} cases[] = {
		{ "{\"status\":\"degraded\"}", "{status: healthy}",
		  "'status' is \"degraded\", expected 'healthy': {\"status\":\"degraded\"}" },
		{ "{\"state\":\"ok\"}", "{status: healthy}",
		  "no 'status' in JSON: {\"state\":\"ok\"}" },
		{ "{\"code\": 500}", "{code: 200}",
		  "'code' is 500, expected '200': {\"code\": 500}" },
		{ "{\"a\": {\"b\": false}}", "{a.b: true}",
		  "'a.b' is false, expected 'true': {\"a\": {\"b\": false}}" },
		{ "OK\n", "{status: healthy}", "body is not JSON: OK" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply replies[] = { { 200, cases[i].body, 0 } };
		struct server s;
		struct config cfg;
		struct health_round round;
		char health[512];
		SERVE(&s, 0, replies);
		snprintf(health, sizeof(health),
			 "      - http: http://127.0.0.1:%d/health\n        json: %s\n", s.port,
			 cases[i].json);
		config_api(&cfg, health);

		const struct health_result *r = one_check(&cfg, &round);
		assert_false(r->ok);
		assert_string_equal(r->response, cases[i].response);
		assert_non_null(strstr(r->summary, "-> 200"));

		health_round_free(&round);
		config_free(&cfg);
		server_stop(&s);
	}
}

static void test_http_status(void **state)
{
	(void)state;
	static const struct reply replies[] = { { 503, "{\"status\":\"unhealthy\"}\n", 0 } };
	struct server s;
	struct config cfg;
	struct health_round round;
	char health[512];
	SERVE(&s, 0, replies);
	snprintf(health, sizeof(health),
		 "      - http: http://127.0.0.1:%d/health\n        json: {status: healthy}\n"
		 "      - http: http://127.0.0.1:%d/health\n        status: 503\n"
		 "      - http: http://127.0.0.1:%d/health\n        status: 204\n",
		 s.port, s.port, s.port);
	config_api(&cfg, health);

	run_round(&cfg, NULL, &round);
	assert_int_equal(round.n, 3);
	char want[128];
	snprintf(want, sizeof(want), "GET http://127.0.0.1:%d/health -> 503", s.port);
	assert_false(round.results[0].ok);
	assert_string_equal(round.results[0].summary, want);
	assert_string_equal(round.results[0].response, "status 503: {\"status\":\"unhealthy\"}");
	assert_true(round.results[1].ok);
	assert_false(round.results[2].ok);
	assert_string_equal(round.results[2].response,
			    "status 503 (expected 204): {\"status\":\"unhealthy\"}");

	health_round_free(&round);
	config_free(&cfg);
	server_stop(&s);
}

static void test_http_contains(void **state)
{
	(void)state;
	static const struct reply replies[] = { { 200, "all systems\nhealthy", 0 } };
	struct server s;
	struct config cfg;
	struct health_round round;
	char health[512];
	SERVE(&s, 0, replies);
	snprintf(health, sizeof(health),
		 "      - http: http://127.0.0.1:%d/health\n        contains: healthy\n"
		 "      - http: http://127.0.0.1:%d/health\n        contains: ready\n",
		 s.port, s.port);
	config_api(&cfg, health);

	run_round(&cfg, NULL, &round);
	assert_int_equal(round.n, 2);
	assert_true(round.results[0].ok);
	assert_false(round.results[1].ok);
	assert_string_equal(round.results[1].response, "no 'ready' in body: all systems\\nhealthy");

	health_round_free(&round);
	config_free(&cfg);
	server_stop(&s);
}

/* Three endpoints that never answer in time, checked at once: the round
 * lasts about one timeout, not three. */
static void test_http_timeout(void **state)
{
	(void)state;
	static const struct reply replies[] = { { 200, "{}", 5000 } };
	struct server s[3];
	struct config cfg;
	struct health_round round;
	char health[1024];
	for (size_t i = 0; i < 3; i++)
		SERVE(&s[i], 0, replies);
	snprintf(health, sizeof(health),
		 "      - http: http://127.0.0.1:%d/slow\n        timeout: 300ms\n"
		 "      - http: http://127.0.0.1:%d/slow\n        timeout: 300ms\n"
		 "      - http: http://127.0.0.1:%d/slow\n        timeout: 300ms\n",
		 s[0].port, s[1].port, s[2].port);
	config_api(&cfg, health);

	run_round(&cfg, NULL, &round);
	assert_int_equal(round.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_false(round.results[i].ok);
		assert_string_equal(round.results[i].response, "timeout after 300ms");
		assert_non_null(strstr(round.results[i].summary, "/slow -> error"));
	}

	health_round_free(&round);
	config_free(&cfg);
	for (size_t i = 0; i < 3; i++)
		server_stop(&s[i]);
}

static void test_http_refused(void **state)
{
	(void)state;
	struct config cfg;
	struct health_round round;
	char health[512];
	int port = closed_port();
	snprintf(health, sizeof(health), "      - http: http://127.0.0.1:%d/health\n", port);
	config_api(&cfg, health);

	const struct health_result *r = one_check(&cfg, &round);
	assert_false(r->ok);
	assert_string_equal(r->response, "connection refused");
	char want[128];
	snprintf(want, sizeof(want), "GET http://127.0.0.1:%d/health -> error", port);
	assert_string_equal(r->summary, want);

	health_round_free(&round);
	config_free(&cfg);
}

/* Passwords and query values never reach a summary, response or failure. */
static void test_http_redacts_credentials(void **state)
{
	(void)state;
	static const struct reply replies[] = { { 503, "{\"status\":\"unhealthy\"}", 0 } };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	struct error err = ERROR_INIT;
	char health[512];
	int port = closed_port();
	SERVE(&s, 0, replies);
	snprintf(health, sizeof(health),
		 "      - http: http://ops:s3cret@127.0.0.1:%d/health?token=abc123&verbose#frag\n"
		 "      - http: http://ops:s3cret@127.0.0.1:%d/health?token=abc123\n",
		 s.port, port);
	config_from(&cfg,
		    "services:\n  api:\n    run: [bin/api]\n    health:\n%s"
		    "policy: {start_timeout: 100ms, interval: 20ms}\n", health);

	struct health_round round;
	run_round(&cfg, NULL, &round);
	assert_int_equal(round.n, 2);
	char want[160];
	snprintf(want, sizeof(want),
		 "GET http://ops:***@127.0.0.1:%d/health?token=***&***#*** -> 503", s.port);
	assert_string_equal(round.results[0].summary, want);
	snprintf(want, sizeof(want), "GET http://ops:***@127.0.0.1:%d/health?token=*** -> error",
		 port);
	assert_string_equal(round.results[1].summary, want);
	for (size_t i = 0; i < round.n; i++) {
		assert_null(strstr(round.results[i].summary, "s3cret"));
		assert_null(strstr(round.results[i].summary, "abc123"));
		assert_null(strstr(round.results[i].response, "s3cret"));
		assert_null(strstr(round.results[i].response, "abc123"));
	}
	health_round_free(&round);

	assert_int_equal(health_wait(&cfg, NULL, clock_monotonic_ms(), NULL, NULL, &outcome, &err), 0);
	assert_false(outcome.healthy);
	assert_null(strstr(outcome.failure, "s3cret"));
	assert_null(strstr(outcome.failure, "abc123"));
	health_outcome_free(&outcome);

	config_free(&cfg);
	server_stop(&s);
}

static void test_tcp_send_expect(void **state)
{
	(void)state;
	static const struct reply pong[] = { { 0, "+PONG\r\n", 0 } };
	static const struct reply noauth[] = { { 0, "-NOAUTH Authentication required.\r\n", 0 } };
	struct server good, bad;
	struct config cfg;
	struct health_round round;
	char health[512];
	SERVE(&good, 1, pong);
	SERVE(&bad, 1, noauth);
	snprintf(health, sizeof(health),
		 "      - tcp: 127.0.0.1:%d\n        send: \"PING\\r\\n\"\n        expect: +PONG\n"
		 "      - tcp: 127.0.0.1:%d\n        send: \"PING\\r\\n\"\n        expect: +PONG\n"
		 "      - tcp: localhost:%d\n",
		 good.port, bad.port, bad.port);
	config_api(&cfg, health);

	run_round(&cfg, NULL, &round);
	assert_int_equal(round.n, 3);
	char want[64];
	snprintf(want, sizeof(want), "tcp 127.0.0.1:%d -> ok", good.port);
	assert_true(round.results[0].ok);
	assert_string_equal(round.results[0].summary, want);
	pthread_mutex_lock(&good.lock);
	assert_string_equal(good.last_request, "PING\r\n");
	pthread_mutex_unlock(&good.lock);
	assert_false(round.results[1].ok);
	assert_string_equal(round.results[1].response,
			    "reply does not start with '+PONG': -NOAUTH Authentication required.");
	assert_true(round.results[2].ok);

	health_round_free(&round);
	config_free(&cfg);
	server_stop(&good);
	server_stop(&bad);
}

static void test_tcp_closed_port(void **state)
{
	(void)state;
	struct config cfg;
	struct health_round round;
	char health[256];
	int port = closed_port();
	snprintf(health, sizeof(health), "      - tcp: 127.0.0.1:%d\n", port);
	config_api(&cfg, health);

	const struct health_result *r = one_check(&cfg, &round);
	assert_false(r->ok);
	assert_string_equal(r->response, "connection refused");
	char want[64];
	snprintf(want, sizeof(want), "tcp 127.0.0.1:%d -> failed", port);
	assert_string_equal(r->summary, want);

	health_round_free(&round);
	config_free(&cfg);
}

/* A peer that accepts but never answers PING. */
static void test_tcp_timeout(void **state)
{
	(void)state;
	static const struct reply silent[] = { { 0, "", 5000 } };
	struct server s;
	struct config cfg;
	struct health_round round;
	char health[256];
	SERVE(&s, 1, silent);
	snprintf(health, sizeof(health),
		 "      - tcp: 127.0.0.1:%d\n        send: \"PING\\r\\n\"\n        expect: +PONG\n"
		 "        timeout: 200ms\n", s.port);
	config_api(&cfg, health);

	const struct health_result *r = one_check(&cfg, &round);
	assert_false(r->ok);
	assert_string_equal(r->response, "timeout after 200ms waiting for a reply");

	health_round_free(&round);
	config_free(&cfg);
	server_stop(&s);
}

static int count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

/* Nothing outlives a round: no descriptor stays open, no child unreaped
 * (the killed `sleep` included). */
static void test_exec(void **state)
{
	(void)state;
	struct config cfg;
	struct health_round round;
	config_api(&cfg,
		   "      - exec: [true]\n"
		   "      - exec: [false]\n"
		   "      - exec: [sh, -c, \"echo 'db not ready'; echo second >&2; exit 2\"]\n"
		   "      - exec: [sleep, \"5\"]\n"
		   "        timeout: 200ms\n"
		   "      - exec: [no-such-program-for-lastgood]\n"
		   "      - exec: [sh, -c, '[ \"$(pwd)\" = /tmp ]']\n");

	int fds = count_open_fds();
	run_round(&cfg, NULL, &round);
	assert_int_equal(count_open_fds(), fds);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(round.n, 6);
	assert_true(round.results[0].ok);
	assert_string_equal(round.results[0].summary, "exec true -> ok");
	assert_null(round.results[0].response);
	assert_false(round.results[1].ok);
	assert_string_equal(round.results[1].summary, "exec false -> failed");
	assert_string_equal(round.results[1].response, "exit 1");
	assert_false(round.results[2].ok);
	assert_string_equal(round.results[2].response, "exit 2: db not ready\\nsecond");
	assert_false(round.results[3].ok);
	assert_string_equal(round.results[3].response, "timeout after 200ms");
	assert_false(round.results[4].ok);
	assert_string_equal(round.results[4].response,
			    "cannot run 'no-such-program-for-lastgood': no such file or directory");
	assert_true(round.results[5].ok);

	health_round_free(&round);
	config_free(&cfg);
}

/* Only selected services are checked, and results name them by index. */
static void test_round_selected(void **state)
{
	(void)state;
	struct config cfg;
	struct health_round round;
	config_from(&cfg,
		    "services:\n"
		    "  api:\n    run: [bin/api]\n    health:\n      - exec: [false]\n"
		    "  quiet:\n    run: [bin/quiet]\n"
		    "  worker:\n    run: [bin/worker]\n    health:\n"
		    "      - exec: [true]\n      - exec: [\"false\"]\n");
	unsigned char selected[3] = { 0, 1, 1 };

	run_round(&cfg, selected, &round);
	assert_int_equal(round.n, 2);
	assert_int_equal(round.results[0].service, 2);
	assert_int_equal(round.results[1].service, 2);
	assert_true(round.results[0].ok);
	assert_false(round.results[1].ok);
	health_round_free(&round);

	run_round(&cfg, NULL, &round);
	assert_int_equal(round.n, 3);
	assert_int_equal(round.results[0].service, 0);
	health_round_free(&round);
	config_free(&cfg);
}

/* health_wait on one "api" service checked at http://127.0.0.1:PORT/health
 * with `json: {status: healthy}` and the given policy (YAML flow map). */
static int wait_api(const struct server *s, const char *policy, health_alive_fn alive,
		    struct health_outcome *outcome, struct config *cfg)
{
	struct error err = ERROR_INIT;
	config_from(cfg,
		    "services:\n  api:\n    run: [bin/api]\n    health:\n"
		    "      - http: http://127.0.0.1:%d/health\n        json: {status: healthy}\n"
		    "policy: %s\n", s->port, policy);
	int rc = health_wait(cfg, NULL, clock_monotonic_ms(), alive, NULL, outcome, &err);
	if (rc < 0)
		fail_msg("wait: %s", err.msg);
	return rc;
}

#define HEALTHY { 200, "{\"status\":\"healthy\"}", 0 }
#define UNHEALTHY { 503, "{\"status\":\"unhealthy\"}", 0 }

static void test_wait_becomes_healthy(void **state)
{
	(void)state;
	static const struct reply replies[] = { UNHEALTHY, UNHEALTHY, UNHEALTHY, HEALTHY };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	SERVE(&s, 0, replies);

	/* Warming up with three 503s is tolerated when retries allow it. */
	long long start = clock_monotonic_ms();
	wait_api(&s, "{start_timeout: 5s, interval: 10ms, retries: 5}", NULL, &outcome, &cfg);
	if (!outcome.healthy)
		fail_msg("not healthy: %s", outcome.failure);
	assert_null(outcome.failure);
	assert_int_equal(atomic_load(&s.requests), 4);
	assert_true(outcome.healthy_at_ms[0] >= start);

	health_outcome_free(&outcome);
	config_free(&cfg);
	server_stop(&s);
}

/* Nothing answers: the service is still starting until start_timeout. */
static void test_wait_start_timeout(void **state)
{
	(void)state;
	static const struct reply replies[] = { UNHEALTHY };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	SERVE(&s, 0, replies);
	server_stop(&s);

	wait_api(&s, "{start_timeout: 300ms, interval: 20ms}", NULL, &outcome, &cfg);
	assert_false(outcome.healthy);
	assert_int_equal(outcome.failed_service, 0);
	char want[256];
	snprintf(want, sizeof(want),
		 "api: GET http://127.0.0.1:%d/health -> error: connection refused", s.port);
	assert_string_equal(outcome.failure, want);
	assert_int_equal(outcome.healthy_at_ms[0], 0);

	health_outcome_free(&outcome);
	config_free(&cfg);
}

/* A service that answers, wrongly, is up and broken: judged after
 * `retries` replies, not after the whole start timeout. */
static void test_wait_answered_unhealthy_fails_after_retries(void **state)
{
	(void)state;
	static const struct reply replies[] = { UNHEALTHY };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	SERVE(&s, 0, replies);

	wait_api(&s, "{start_timeout: 60s, interval: 10ms, retries: 2}", NULL, &outcome, &cfg);
	assert_false(outcome.healthy);
	char want[256];
	snprintf(want, sizeof(want),
		 "api: GET http://127.0.0.1:%d/health -> 503: "
		 "status 503: {\"status\":\"unhealthy\"}", s.port);
	assert_string_equal(outcome.failure, want);
	assert_int_equal(atomic_load(&s.requests), 2);

	health_outcome_free(&outcome);
	config_free(&cfg);
	server_stop(&s);
}

/* One failure while stabilizing is forgiven with retries: 2. */
static void test_wait_retry_forgiven(void **state)
{
	(void)state;
	static const struct reply replies[] = { HEALTHY, UNHEALTHY, HEALTHY };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	SERVE(&s, 0, replies);

	long long start = clock_monotonic_ms();
	wait_api(&s, "{interval: 20ms, stabilize: 400ms, retries: 2}", NULL, &outcome, &cfg);
	if (!outcome.healthy)
		fail_msg("not healthy: %s", outcome.failure);
	assert_true(atomic_load(&s.requests) >= 4);
	assert_true(clock_monotonic_ms() - start >= 400);

	health_outcome_free(&outcome);
	config_free(&cfg);
	server_stop(&s);
}

/* Two failures in a row while stabilizing, with retries: 2, fail it. */
static void test_wait_retries_exhausted(void **state)
{
	(void)state;
	static const struct reply replies[] = { HEALTHY, UNHEALTHY, UNHEALTHY, HEALTHY };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	SERVE(&s, 0, replies);

	wait_api(&s, "{interval: 20ms, stabilize: 2s, retries: 2}", NULL, &outcome, &cfg);
	assert_false(outcome.healthy);
	assert_int_equal(atomic_load(&s.requests), 3);
	assert_non_null(strstr(outcome.failure, "-> 503: status 503: "));
	assert_true(outcome.healthy_at_ms[0] > 0);

	health_outcome_free(&outcome);
	config_free(&cfg);
	server_stop(&s);
}

/* A service not answering yet is checked at the short starting pause, not
 * at `interval`: one that comes up 100ms after its start is healthy long
 * before its first 10s interval would have ended. */
static void test_wait_starting_checked_often(void **state)
{
	(void)state;
	static const struct reply replies[] = { HEALTHY };
	struct late_server late = { .late_ms = 100 };
	struct server *s = &late.s;
	struct config cfg;
	struct health_outcome outcome;

	s->replies = replies;
	s->nreplies = 1;
	s->listen_fd = -1;
	s->port = closed_port();
	atomic_init(&s->requests, 0);
	pthread_mutex_init(&s->lock, NULL);
	assert_int_equal(pipe(s->stop), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, server_late_main, &late), 0);

	long long start = clock_monotonic_ms();
	wait_api(s, "{start_timeout: 60s, interval: 10s}", NULL, &outcome, &cfg);
	if (!outcome.healthy)
		fail_msg("not healthy: %s", outcome.failure);
	assert_int_equal(atomic_load(&s->requests), 1);
	assert_true(outcome.healthy_at_ms[0] - start < 5000);

	health_outcome_free(&outcome);
	config_free(&cfg);
	server_stop(s);
}

static enum health_liveness alive_never(size_t service, void *ctx, char *why, size_t size)
{
	(void)service;
	(void)ctx;
	(void)why;
	(void)size;
	return HEALTH_GONE;
}

static enum health_liveness alive_always(size_t service, void *ctx, char *why, size_t size)
{
	(void)service;
	(void)ctx;
	(void)why;
	(void)size;
	return HEALTH_UP;
}

/* A compose healthcheck that never leaves `starting`. */
static enum health_liveness alive_never_ready(size_t service, void *ctx, char *why, size_t size)
{
	(void)service;
	(void)ctx;
	snprintf(why, size, "container healthcheck starting");
	return HEALTH_NOT_READY;
}

/* Passing checks do not make healthy a service its manager calls not
 * ready: it stays starting, and fails at its start timeout with the
 * manager's reason. */
static void test_wait_not_ready_times_out(void **state)
{
	(void)state;
	static const struct reply replies[] = { HEALTHY };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	SERVE(&s, 0, replies);

	wait_api(&s, "{start_timeout: 300ms, interval: 50ms}", alive_never_ready, &outcome, &cfg);
	assert_false(outcome.healthy);
	assert_string_equal(outcome.failure, "api: container healthcheck starting");

	health_outcome_free(&outcome);
	config_free(&cfg);
	server_stop(&s);
}

static void test_wait_process_exited(void **state)
{
	(void)state;
	static const struct reply replies[] = { UNHEALTHY };
	struct server s;
	struct config cfg;
	struct health_outcome outcome;
	SERVE(&s, 0, replies);

	long long start = clock_monotonic_ms();
	wait_api(&s, "{start_timeout: 10s}", alive_never, &outcome, &cfg);
	assert_false(outcome.healthy);
	assert_string_equal(outcome.failure, "api: process exited");
	assert_true(clock_monotonic_ms() - start < 2000);

	health_outcome_free(&outcome);
	config_free(&cfg);
	server_stop(&s);
}

/* Without checks a live service is healthy at once, after stabilize. */
static void test_wait_no_checks(void **state)
{
	(void)state;
	struct config cfg;
	struct health_outcome outcome;
	struct error err = ERROR_INIT;
	config_from(&cfg,
		    "services:\n  api:\n    run: [bin/api]\n  other:\n    run: [bin/other]\n"
		    "policy: {stabilize: 100ms, interval: 20ms}\n");
	unsigned char selected[2] = { 1, 0 };

	long long start = clock_monotonic_ms();
	assert_int_equal(health_wait(&cfg, selected, start, alive_always, NULL, &outcome, &err), 0);
	assert_true(outcome.healthy);
	assert_true(outcome.healthy_at_ms[0] >= start);
	assert_int_equal(outcome.healthy_at_ms[1], 0);
	assert_true(clock_monotonic_ms() - start >= 100);
	health_outcome_free(&outcome);

	assert_int_equal(health_wait(&cfg, NULL, start, alive_never, NULL, &outcome, &err), 0);
	assert_false(outcome.healthy);
	assert_string_equal(outcome.failure, "api: process exited");
	health_outcome_free(&outcome);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_json_ok),
		cmocka_unit_test(test_http_json_mismatch),
		cmocka_unit_test(test_http_status),
		cmocka_unit_test(test_http_contains),
		cmocka_unit_test(test_http_timeout),
		cmocka_unit_test(test_http_refused),
		cmocka_unit_test(test_http_redacts_credentials),
		cmocka_unit_test(test_tcp_send_expect),
		cmocka_unit_test(test_tcp_closed_port),
		cmocka_unit_test(test_tcp_timeout),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_round_selected),
		cmocka_unit_test(test_wait_becomes_healthy),
		cmocka_unit_test(test_wait_start_timeout),
		cmocka_unit_test(test_wait_starting_checked_often),
		cmocka_unit_test(test_wait_answered_unhealthy_fails_after_retries),
		cmocka_unit_test(test_wait_retry_forgiven),
		cmocka_unit_test(test_wait_retries_exhausted),
		cmocka_unit_test(test_wait_process_exited),
		cmocka_unit_test(test_wait_not_ready_times_out),
		cmocka_unit_test(test_wait_no_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
