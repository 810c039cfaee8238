/*
 * demo-service: the small HTTP service the ziggie demo runs three times
 * (examples/ziggie/demo.sh) and the CLI tests start, stop, deploy and roll
 * back (tests/cli/70-*, 80-*, 85-*). Its config file decides how it
 * behaves, so a "broken release" is just a different config file.
 *
 *   demo-service --port PORT --config FILE [--name NAME]
 *
 * FILE holds KEY=VALUE lines (unknown keys are an error, exit 2):
 *   NAME=TEXT          name in /health and the start log (else --name, else "demo-service")
 *   VERSION=TEXT       reported by GET /health
 *   MODE=healthy       GET /health -> 200 {"status":"healthy","version":V,"service":NAME}
 *   MODE=unhealthy     GET /health -> 503 {"status":"unhealthy",...}
 *   MODE=mismatch      GET /health -> 200 {"status":"degraded",...}
 *   MODE=hang          accepts /health requests and never answers them
 *   MODE=flaky-N       the first N /health requests get 503, then healthy
 *   MODE=crash         exits with status 1 at start, before listening
 *   FAIL_AFTER=K       the first K /health requests are answered healthy
 *                      whatever MODE says (MODE applies from request K+1)
 *   START_DELAY_MS=N   wait this long before listening (a slow start)
 *
 * Other endpoints: GET /stats -> {"health_requests":N,"pid":P};
 * GET /set?KEY=VALUE&... changes VERSION, MODE or FAIL_AFTER (0 unless
 * given) while running and restarts the request count; it answers once the
 * change is made, so a test can turn a running service unhealthy without
 * restarting it and know the next request sees the change.
 *
 * When the environment names START_LOG, one line is appended to that file
 * at each event, "NAME EVENT MONOTONIC_NS REALTIME_NS", EVENT being
 * `start` (listening), `healthy` (first healthy answer) or `stop`
 * (SIGTERM/SIGINT received): tests read the order services started in.
 *
 * One process, no threads: non-blocking sockets under one ppoll loop that
 * also takes SIGTERM/SIGINT (blocked outside ppoll, so none is lost).
 * Listens on 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS_MAX 64
#define REQUEST_MAX 4096
#define RESPONSE_MAX 1024
#define TEXT_MAX 128

enum mode { MODE_HEALTHY, MODE_UNHEALTHY, MODE_MISMATCH, MODE_HANG, MODE_FLAKY, MODE_CRASH };

struct behaviour {
	char name[TEXT_MAX];
	char version[TEXT_MAX];
	enum mode mode;
	long flaky_failures;         /* MODE_FLAKY: requests failed before healthy */
	long fail_after;             /* healthy answers before MODE applies */
	long start_delay_ms;
	int logged_healthy;          /* the `healthy` event is in START_LOG */
};

struct client {
	int fd;                      /* -1: slot free */
	char in[REQUEST_MAX];
	size_t in_len;
	char out[RESPONSE_MAX];
	size_t out_len;
	size_t out_sent;
	int answered;                /* a response is queued; close once sent */
	int held;                    /* MODE_HANG: keep reading, never answer */
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("test-service: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* -1 when src does not fit. */
static int copy_text(char *dst, size_t size, const char *src)
{
	int n = snprintf(dst, size, "%s", src);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A decimal count >= 0, or -1. */
static long parse_count(const char *text)
{
	char *end;
	errno = 0;
	long n = strtol(text, &end, 10);
	return errno || end == text || *end || n < 0 ? -1 : n;
}

static int parse_mode(const char *text, struct behaviour *b)
{
	static const struct { const char *name; enum mode mode; } modes[] = {
		{ "healthy", MODE_HEALTHY }, { "unhealthy", MODE_UNHEALTHY },
		{ "mismatch", MODE_MISMATCH }, { "hang", MODE_HANG }, { "crash", MODE_CRASH },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(text, modes[i].name)) {
			b->mode = modes[i].mode;
			return 0;
		}
	}
	long n = strncmp(text, "flaky-", 6) ? -1 : parse_count(text + 6);
	if (n < 0)
		return -1;
	b->mode = MODE_FLAKY;
	b->flaky_failures = n;
	return 0;
}

/* Apply one KEY=VALUE; -1 for an unknown key or a bad value. */
static int apply_setting(struct behaviour *b, const char *key, const char *value)
{
	if (!strcmp(key, "NAME"))
		return copy_text(b->name, sizeof(b->name), value);
	if (!strcmp(key, "VERSION"))
		return copy_text(b->version, sizeof(b->version), value);
	if (!strcmp(key, "MODE"))
		return parse_mode(value, b);
	if (!strcmp(key, "FAIL_AFTER"))
		return (b->fail_after = parse_count(value)) < 0 ? -1 : 0;
	if (!strcmp(key, "START_DELAY_MS"))
		return (b->start_delay_ms = parse_count(value)) < 0 ? -1 : 0;
	return -1;
}

static void read_config(const char *path, struct behaviour *b)
{
	char line[512];
	int lineno = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		die(2, "cannot open '%s': %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		char *eq = strchr(line, '=');
		if (!eq)
			die(2, "%s:%d: expected KEY=VALUE", path, lineno);
		*eq = '\0';
		if (apply_setting(b, line, eq + 1) < 0)
			die(2, "%s:%d: bad setting '%s=%s'", path, lineno, line, eq + 1);
	}
	fclose(f);
}

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One line per event; O_APPEND and a single write keep lines whole when
 * several services share the file. */
static void log_event(const struct behaviour *b, const char *event)
{
	const char *path = getenv("START_LOG");
	char line[256];
	if (!path || !*path)
		return;
	int n = snprintf(line, sizeof(line), "%s %s %lld %lld\n", b->name, event,
			 clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_REALTIME));
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) != n)
		fprintf(stderr, "test-service: cannot write '%s'\n", path);
	close(fd);
}

static void queue_response(struct client *c, int code, const char *reason, const char *body)
{
	int n = snprintf(c->out, sizeof(c->out),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 code, reason, strlen(body), body);
	c->out_len = n < 0 ? 0 : (size_t)n < sizeof(c->out) ? (size_t)n : sizeof(c->out) - 1;
	c->out_sent = 0;
	c->answered = 1;
}

static void answer_health(struct client *c, struct behaviour *b, long *requests)
{
	char body[RESPONSE_MAX / 2];
	long n = (*requests)++;
	enum mode mode = n < b->fail_after ? MODE_HEALTHY : b->mode;
	if (mode == MODE_FLAKY)
		mode = n - b->fail_after < b->flaky_failures ? MODE_UNHEALTHY : MODE_HEALTHY;

	switch (mode) {
	case MODE_HANG:
		c->held = 1;
		return;
	case MODE_UNHEALTHY:
		snprintf(body, sizeof(body), "{\"status\":\"unhealthy\",\"version\":\"%s\",\"service\":\"%s\"}\n",
			 b->version, b->name);
		queue_response(c, 503, "Service Unavailable", body);
		return;
	case MODE_MISMATCH:
		snprintf(body, sizeof(body), "{\"status\":\"degraded\",\"version\":\"%s\",\"service\":\"%s\"}\n",
			 b->version, b->name);
		queue_response(c, 200, "OK", body);
		return;
	case MODE_HEALTHY:
	case MODE_FLAKY:
	case MODE_CRASH:
		break;
	}
	snprintf(body, sizeof(body), "{\"status\":\"healthy\",\"version\":\"%s\",\"service\":\"%s\"}\n",
		 b->version, b->name);
	queue_response(c, 200, "OK", body);
	if (!b->logged_healthy) {
		b->logged_healthy = 1;
		log_event(b, "healthy");
	}
}

/* GET /set?KEY=VALUE&KEY=VALUE: every pair must apply, or none does; only
 * VERSION, MODE (not crash) and FAIL_AFTER (0 unless given) may change. */
static void answer_set(struct client *c, struct behaviour *b, long *requests, char *query)
{
	struct behaviour next = *b;
	char *pair = query;

	next.fail_after = 0;
	while (pair) {
		char *amp = strchr(pair, '&');
		if (amp)
			*amp++ = '\0';
		char *eq = strchr(pair, '=');
		int allowed = eq && (*eq = '\0', !strcmp(pair, "VERSION") || !strcmp(pair, "MODE") ||
				     !strcmp(pair, "FAIL_AFTER"));
		if (!allowed || apply_setting(&next, pair, eq + 1) < 0 || next.mode == MODE_CRASH) {
			queue_response(c, 400, "Bad Request", "{\"error\":\"bad setting\"}\n");
			return;
		}
		pair = amp;
	}
	*b = next;
	*requests = 0;
	queue_response(c, 200, "OK", "{\"ok\":true}\n");
}

static void answer_request(struct client *c, struct behaviour *b, long *requests)
{
	char body[128];
	char *line_end = memchr(c->in, '\r', c->in_len);
	if (!line_end) {
		queue_response(c, 400, "Bad Request", "{\"error\":\"bad request\"}\n");
		return;
	}
	*line_end = '\0';
	if (strncmp(c->in, "GET ", 4)) {
		queue_response(c, 405, "Method Not Allowed", "{\"error\":\"GET only\"}\n");
		return;
	}
	char *path = c->in + 4;
	char *space = strchr(path, ' ');
	if (space)
		*space = '\0';
	if (!strcmp(path, "/health")) {
		answer_health(c, b, requests);
	} else if (!strcmp(path, "/stats")) {
		snprintf(body, sizeof(body), "{\"health_requests\":%ld,\"pid\":%ld}\n", *requests,
			 (long)getpid());
		queue_response(c, 200, "OK", body);
	} else if (!strncmp(path, "/set?", 5)) {
		answer_set(c, b, requests, path + 5);
	} else {
		queue_response(c, 404, "Not Found", "{\"error\":\"not found\"}\n");
	}
}

static void client_close(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

static void client_read(struct client *c, struct behaviour *b, long *requests)
{
	char discard[512];
	if (c->held || c->answered) {
		ssize_t n = read(c->fd, discard, sizeof(discard));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (strstr(c->in, "\r\n\r\n") || c->in_len == sizeof(c->in) - 1)
		answer_request(c, b, requests);
}

static void client_write(struct client *c)
{
	ssize_t n = write(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(c);
		return;
	}
	c->out_sent += (size_t)n;
	if (c->out_sent == c->out_len)
		client_close(c);
}

static int listen_on(int port)
{
	struct sockaddr_in addr;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(1, "socket: %s", strerror(errno));
	/* A restarted service binds the port its predecessor just left. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die(1, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
	if (listen(fd, 64) < 0)
		die(1, "listen: %s", strerror(errno));
	return fd;
}

static void accept_clients(int listener, struct client *clients)
{
	for (;;) {
		int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		size_t i = 0;
		while (i < CLIENTS_MAX && clients[i].fd >= 0)
			i++;
		if (i == CLIENTS_MAX) {
			close(fd);
			continue;
		}
		memset(&clients[i], 0, sizeof(clients[i]));
		clients[i].fd = fd;
	}
}

static void serve(int listener, struct behaviour *b, const sigset_t *unblocked)
{
	static struct client clients[CLIENTS_MAX];
	struct pollfd fds[CLIENTS_MAX + 1];
	long requests = 0;

	for (size_t i = 0; i < CLIENTS_MAX; i++)
		clients[i].fd = -1;
	while (!stop_signal) {
		nfds_t n = 0;
		fds[n++] = (struct pollfd){ .fd = listener, .events = POLLIN };
		for (size_t i = 0; i < CLIENTS_MAX; i++) {
			short events = clients[i].answered && !clients[i].held ? POLLOUT : POLLIN;
			fds[n++] = (struct pollfd){ .fd = clients[i].fd, .events = events };
		}
		if (ppoll(fds, n, NULL, unblocked) < 0) {
			if (errno == EINTR)
				continue;
			die(1, "ppoll: %s", strerror(errno));
		}
		if (fds[0].revents & POLLIN)
			accept_clients(listener, clients);
		for (size_t i = 0; i < CLIENTS_MAX; i++) {
			short revents = fds[i + 1].revents;
			if (clients[i].fd < 0 || fds[i + 1].fd != clients[i].fd || !revents)
				continue;
			if (revents & POLLOUT)
				client_write(&clients[i]);
			else
				client_read(&clients[i], b, &requests);
		}
	}
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	die(2, "usage: demo-service --port PORT --config FILE [--name NAME]");
}

int main(int argc, char **argv)
{
	struct behaviour b;
	const char *config = NULL;
	const char *name = "demo-service";
	long port = -1;
	sigset_t blocked, unblocked;
	struct sigaction sa;

	memset(&b, 0, sizeof(b));
	copy_text(b.version, sizeof(b.version), "0");
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--port"))
			port = parse_count(argv[++i]);
		else if (!strcmp(argv[i], "--config"))
			config = argv[++i];
		else if (!strcmp(argv[i], "--name"))
			name = argv[++i];
		else
			usage();
	}
	if (!config || port < 1 || port > 65535 || copy_text(b.name, sizeof(b.name), name) < 0)
		usage();
	read_config(config, &b);

	/* SIGTERM and SIGINT stay blocked except inside ppoll. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigprocmask(SIG_BLOCK, &blocked, &unblocked);
	sigdelset(&unblocked, SIGTERM);
	sigdelset(&unblocked, SIGINT);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (b.start_delay_ms > 0) {
		/* ppoll, not sleep, so a stop during the delay ends it at once. */
		struct timespec ts = { (time_t)(b.start_delay_ms / 1000),
				       (long)(b.start_delay_ms % 1000) * 1000000L };
		ppoll(NULL, 0, &ts, &unblocked);
		if (stop_signal)
			return 0;
	}
	if (b.mode == MODE_CRASH)
		die(1, "%s: MODE=crash: exiting at start", b.name);

	int listener = listen_on((int)port);
	log_event(&b, "start");
	fprintf(stderr, "demo-service: %s %s listening on 127.0.0.1:%ld\n", b.name, b.version,
		port);
	serve(listener, &b, &unblocked);
	log_event(&b, "stop");
	close(listener);
	return 0;
}
