/*
 * demo-service: a tiny HTTP/1.1 server standing in for each service of the
 * ziggie runbook (ziggie-api, mcp-gateway, sim-studio) in `make demo`.
 * Its env file says which version it is and how it behaves, so a "broken
 * release" is just a different env file that lastgood can switch back.
 *
 *   demo-service --name NAME --port PORT --config FILE
 *
 * FILE holds KEY=VALUE lines:
 *   VERSION=TEXT        reported by /health
 *   MODE=healthy        GET /health -> 200 {"status": "healthy", ...}
 *   MODE=unhealthy      GET /health -> 503 {"status": "unhealthy", ...}
 *   MODE=crash          exits with status 1 about 200ms after it starts
 *   MODE=hang           accepts connections but never answers /health
 *   START_DELAY_MS=N    wait this long before listening (start-up time)
 *
 * One process, no threads: non-blocking sockets under one ppoll loop that
 * also waits for SIGTERM/SIGINT (blocked outside ppoll, so none is lost).
 * Listens on 127.0.0.1 only; one log line per request on stderr.
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

#define MAX_CLIENTS 64
#define REQUEST_MAX 4096
#define RESPONSE_MAX 1024
#define CRASH_AFTER_MS 200
#define IDLE_TIMEOUT_MS 30000

enum mode { MODE_HEALTHY, MODE_UNHEALTHY, MODE_CRASH, MODE_HANG };

struct settings {
	const char *name;
	int port;
	char version[128];
	enum mode mode;
	long start_delay_ms;
};

struct client {
	int fd;                      /* -1: slot free */
	char in[REQUEST_MAX];
	size_t in_len;
	char out[RESPONSE_MAX];
	size_t out_len, out_sent;
	int answered;                /* a response is queued; close once sent */
	int held;                    /* hang mode: read on, never answer */
	long long last_active_ms;
};

static volatile sig_atomic_t stop_signal;
static const char *log_name = "demo-service";

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "demo-service %s: %s\n", log_name, text);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *mode_name(enum mode mode)
{
	switch (mode) {
	case MODE_HEALTHY: return "healthy";
	case MODE_UNHEALTHY: return "unhealthy";
	case MODE_CRASH: return "crash";
	case MODE_HANG: return "hang";
	}
	return "?";
}

static int parse_mode(const char *text, enum mode *mode)
{
	static const enum mode all[] = { MODE_HEALTHY, MODE_UNHEALTHY, MODE_CRASH, MODE_HANG };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(text, mode_name(all[i])) == 0) {
			*mode = all[i];
			return 0;
		}
	}
	return -1;
}

/* Whole decimal number in [min, max]; -1 otherwise. */
static int parse_long(const char *text, long min, long max, long *value)
{
	char *end;

	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return -1;
	*value = v;
	return 0;
}

static char *trim(char *s)
{
	size_t len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
		       s[len - 1] == '\r' || s[len - 1] == '\n'))
		s[--len] = '\0';
	return s;
}

/* Reads the env file into *set; on error prints why and returns -1. */
static int read_config(const char *path, struct settings *set)
{
	char line[512];
	int lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		log_line("cannot open config '%s': %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq, *key, *value;
		lineno++;
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			log_line("%s:%d: expected KEY=VALUE", path, lineno);
			goto fail;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		if (strcmp(key, "VERSION") == 0) {
			int n = snprintf(set->version, sizeof(set->version), "%s", value);
			if (n < 0 || (size_t)n >= sizeof(set->version)) {
				log_line("%s:%d: VERSION is too long", path, lineno);
				goto fail;
			}
		} else if (strcmp(key, "MODE") == 0) {
			if (parse_mode(value, &set->mode) < 0) {
				log_line("%s:%d: unknown MODE '%s' (want healthy, unhealthy, crash or hang)",
					 path, lineno, value);
				goto fail;
			}
		} else if (strcmp(key, "START_DELAY_MS") == 0) {
			if (parse_long(value, 0, 600000, &set->start_delay_ms) < 0) {
				log_line("%s:%d: START_DELAY_MS wants milliseconds, not '%s'",
					 path, lineno, value);
				goto fail;
			}
		}
		/* other keys belong to the service, not to us */
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: demo-service --name NAME --port PORT --config FILE\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct settings *set)
{
	const char *config = NULL;
	long port = 0;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--name") == 0)
			set->name = argv[++i];
		else if (strcmp(argv[i], "--port") == 0) {
			if (parse_long(argv[++i], 1, 65535, &port) < 0) {
				fprintf(stderr, "demo-service: bad port '%s'\n", argv[i]);
				exit(2);
			}
		} else if (strcmp(argv[i], "--config") == 0)
			config = argv[++i];
		else
			usage();
	}
	if (!set->name || !port || !config)
		usage();
	set->port = (int)port;
	log_name = set->name;
	if (read_config(config, set) < 0)
		exit(2);
}

/* Waits up to ms for SIGTERM/SIGINT (blocked by the caller); 1 if one came. */
static int wait_for_stop(long ms)
{
	sigset_t set;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sig = sigtimedwait(&set, NULL, &ts);
	if (sig <= 0)
		return 0;            /* timed out: start up */
	stop_signal = sig;
	return 1;
}

static int listen_on(int port)
{
	struct sockaddr_in addr;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log_line("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		log_line("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 64) < 0) {
		log_line("listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Copies s into a JSON string body (without quotes), escaping as needed. */
static void json_escape(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s && n + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
}

static void client_close(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

static void client_respond(struct client *c, int status, const char *reason, const char *body,
			   int head_only)
{
	size_t body_len = strlen(body);
	int n = snprintf(c->out, sizeof(c->out),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n"
			 "\r\n"
			 "%s",
			 status, reason,
			 body[0] == '{' ? "application/json" : "text/plain",
			 body_len, head_only ? "" : body);
	if (n < 0 || (size_t)n >= sizeof(c->out))
		n = (int)sizeof(c->out) - 1;  /* bodies here are small; never reached */
	c->out_len = (size_t)n;
	c->out_sent = 0;
	c->answered = 1;
}

/* A whole request header is in c->in: decide the answer (or hold it). */
static void client_handle(struct client *c, const struct settings *set)
{
	char method[16], target[256], body[640], version[256], name[256];
	const char *status_text;
	int status, head_only;
	char *query;

	if (sscanf(c->in, "%15s %255s HTTP/1.%*c", method, target) != 2) {
		log_line("bad request line -> 400");
		client_respond(c, 400, "Bad Request", "bad request\n", 0);
		return;
	}
	query = strchr(target, '?');
	if (query)
		*query = '\0';
	head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head_only) {
		log_line("%s %s -> 405", method, target);
		client_respond(c, 405, "Method Not Allowed", "method not allowed\n", 0);
		return;
	}
	if (strcmp(target, "/health") != 0) {
		log_line("%s %s -> 404", method, target);
		client_respond(c, 404, "Not Found", "not found\n", head_only);
		return;
	}
	if (set->mode == MODE_HANG) {
		log_line("%s %s -> (hanging, mode hang)", method, target);
		c->held = 1;
		return;
	}
	if (set->mode == MODE_HEALTHY) {
		status = 200;
		status_text = "healthy";
	} else {
		status = 503;
		status_text = "unhealthy";
	}
	json_escape(set->version, version, sizeof(version));
	json_escape(set->name, name, sizeof(name));
	snprintf(body, sizeof(body),
		 "{\"status\": \"%s\", \"version\": \"%s\", \"service\": \"%s\"}\n",
		 status_text, version, name);
	log_line("%s %s -> %d %s", method, target, status, status_text);
	client_respond(c, status, status == 200 ? "OK" : "Service Unavailable", body, head_only);
}

static void client_read(struct client *c, const struct settings *set)
{
	for (;;) {
		ssize_t n;
		if (c->in_len == sizeof(c->in) - 1) {
			if (c->held) {       /* a hung request: discard what follows */
				c->in_len = 0;
				continue;
			}
			log_line("request header too large -> 431");
			client_respond(c, 431, "Request Header Fields Too Large", "too large\n", 0);
			return;
		}
		n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_close(c);
			return;
		}
		if (n == 0) {                /* peer closed before (or instead of) an answer */
			client_close(c);
			return;
		}
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		if (!c->held && strstr(c->in, "\r\n\r\n")) {
			client_handle(c, set);
			if (c->answered)
				return;
		}
	}
}

static void client_write(struct client *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
				 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_close(c);
			return;
		}
		c->out_sent += (size_t)n;
	}
	client_close(c);
}

static void accept_clients(int listen_fd, struct client *clients)
{
	for (;;) {
		struct client *slot = NULL;
		int fd;

		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd < 0) {
				slot = &clients[i];
				break;
			}
		}
		if (!slot)
			return;              /* full: the rest wait in the backlog */
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_line("accept: %s", strerror(errno));
			return;
		}
		memset(slot, 0, sizeof(*slot));
		slot->fd = fd;
		slot->last_active_ms = now_ms();
	}
}

static int serve(int listen_fd, const struct settings *set)
{
	static struct client clients[MAX_CLIENTS];
	struct pollfd fds[MAX_CLIENTS + 1];
	struct client *polled[MAX_CLIENTS + 1];
	long long crash_at = set->mode == MODE_CRASH ? now_ms() + CRASH_AFTER_MS : 0;
	sigset_t unblocked;

	sigemptyset(&unblocked);
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	while (!stop_signal) {
		long long now = now_ms();
		long long wake = now + IDLE_TIMEOUT_MS;
		struct timespec ts;
		nfds_t nfds = 0;
		int open = 0;

		if (crash_at && now >= crash_at) {
			log_line("crashing on purpose (MODE=crash): exit 1");
			return 1;
		}
		if (crash_at && crash_at < wake)
			wake = crash_at;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			if (c->fd < 0)
				continue;
			if (now - c->last_active_ms >= IDLE_TIMEOUT_MS) {
				client_close(c);
				continue;
			}
			if (c->last_active_ms + IDLE_TIMEOUT_MS < wake)
				wake = c->last_active_ms + IDLE_TIMEOUT_MS;
			fds[nfds] = (struct pollfd){ c->fd, c->answered ? POLLOUT : POLLIN, 0 };
			polled[nfds++] = c;
			open++;
		}
		if (open < MAX_CLIENTS) {
			fds[nfds] = (struct pollfd){ listen_fd, POLLIN, 0 };
			polled[nfds++] = NULL;
		}
		ts.tv_sec = (time_t)((wake - now) / 1000);
		ts.tv_nsec = (long)((wake - now) % 1000) * 1000000L;
		if (ppoll(fds, nfds, &ts, &unblocked) < 0) {
			if (errno == EINTR)
				continue;
			log_line("poll: %s", strerror(errno));
			return 1;
		}
		for (nfds_t i = 0; i < nfds; i++) {
			struct client *c = polled[i];
			if (!fds[i].revents)
				continue;
			if (!c) {
				accept_clients(listen_fd, clients);
				continue;
			}
			c->last_active_ms = now_ms();
			if (c->answered)
				client_write(c);
			else
				client_read(c, set);
			if (c->fd >= 0 && c->answered && fds[i].events == POLLIN)
				client_write(c);  /* try at once; usually all of it goes */
		}
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_close(&clients[i]);
	log_line("%s: stopping", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	return 0;
}

int main(int argc, char **argv)
{
	struct settings set = { .version = "unknown", .mode = MODE_HEALTHY };
	struct sigaction sa;
	sigset_t block;
	int listen_fd, rc;

	parse_args(argc, argv, &set);

	/* SIGTERM/SIGINT stay blocked except inside ppoll and sigtimedwait. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);

	log_line("version %s, mode %s, pid %ld", set.version, mode_name(set.mode),
		 (long)getpid());
	if (set.start_delay_ms > 0) {
		log_line("starting up (%ld ms)", set.start_delay_ms);
		if (wait_for_stop(set.start_delay_ms)) {
			log_line("stopped while starting up");
			return 0;
		}
	}
	listen_fd = listen_on(set.port);
	if (listen_fd < 0)
		return 1;
	log_line("listening on http://127.0.0.1:%d", set.port);
	rc = serve(listen_fd, &set);
	close(listen_fd);
	return rc;
}
