/*
 * Health checks: a round runs every http, tcp and exec check at once under
 * one poll loop; health_wait repeats rounds until services are stable or fail.
 */
#include "core/health.h"
#include "core/config.h"
#include "core/secret.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/dynlib.h"
#include "util/error.h"
#include "util/interrupt.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <ctype.h>
/* Calls go through the table below; curl's type-checking macros would
 * name the functions themselves. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* libcurl, loaded by curl_ready (util/dynlib.h): the functions used. */
#define CURL_FUNCTIONS(X)                                                        \
	X(global_init) X(easy_init) X(easy_cleanup) X(easy_setopt) X(easy_getinfo) \
	X(easy_strerror) X(slist_append) X(slist_free_all) X(multi_init)             \
	X(multi_cleanup) X(multi_add_handle) X(multi_remove_handle) X(multi_perform) \
	X(multi_poll) X(multi_info_read)

static struct {
#define CURL_MEMBER(name) __typeof__(curl_##name) *name;
	CURL_FUNCTIONS(CURL_MEMBER)
#undef CURL_MEMBER
} curl;

#define HEALTH_BODY_MAX 65536        /* http body kept for matching */
#define HEALTH_OUTPUT_MAX 65536      /* exec output kept */
#define HEALTH_REPLY_MAX 4096        /* tcp reply kept */
#define HEALTH_EXCERPT_MAX 200       /* bytes of a body or output in a response */
#define HEALTH_ROUND_POLL_MS 1000    /* longest poll in a round of http checks alone */
#define HEALTH_STARTING_PAUSE_MS 10  /* between checks of a service not answering yet */
#define HEALTH_CHILD_TICK_MS 10      /* child polling when pidfd_open is missing */

enum tcp_stage { TCP_CONNECTING, TCP_SENDING, TCP_READING };

/* One check in flight during a round. Only the members of its kind are
 * used; every descriptor is -1 while closed. */
struct probe {
	struct health_result *result;
	const struct health_check *check;
	const struct service *svc;
	long timeout_ms;
	long long started_ms;
	long long deadline_ms;
	int done;
	char *label;                 /* summary before " -> ": "GET URL", "tcp ADDR" */
	/* http */
	CURL *easy;
	struct curl_slist *headers;
	struct strbuf body;
	int body_truncated;
	char curl_error[CURL_ERROR_SIZE];
	/* tcp */
	struct addrinfo *addrs;
	struct addrinfo *next_addr;
	int fd;
	enum tcp_stage stage;
	size_t sent;
	struct strbuf reply;
	int connect_errno;
	/* exec */
	pid_t pid;
	int out_fd;
	int pid_fd;
	struct strbuf output;
	/* where a tcp probe's socket sits in the poll set, -1 when absent */
	int poll_fd;
};

/* strerror text with its first letter lowered, to fit the message style. */
static void add_errno_text(struct strbuf *sb, int errno_value)
{
	size_t at = sb->len;
	strbuf_addstr(sb, strerror(errno_value));
	sb->buf[at] = (char)tolower((unsigned char)sb->buf[at]);
}

/*
 * Append at most HEALTH_EXCERPT_MAX bytes of data, surrounding whitespace
 * dropped and control characters escaped, so a response stays one line.
 * A cut never splits a UTF-8 sequence and is marked with "...".
 */
static void add_excerpt(struct strbuf *sb, const char *data, size_t len)
{
	while (len && isspace((unsigned char)*data)) {
		data++;
		len--;
	}
	while (len && isspace((unsigned char)data[len - 1]))
		len--;
	size_t cut = len;
	if (cut > HEALTH_EXCERPT_MAX) {
		cut = HEALTH_EXCERPT_MAX;
		while (cut && ((unsigned char)data[cut] & 0xc0) == 0x80)
			cut--;
	}
	char *text = xstrndup(data, cut);
	strbuf_add_escaped(sb, text);
	free(text);
	if (cut < len)
		strbuf_addstr(sb, "...");
}

/* Release whatever the probe still holds; safe to call more than once. */
static void probe_release(struct probe *p)
{
	if (p->easy) {
		curl.easy_cleanup(p->easy);
		p->easy = NULL;
	}
	curl.slist_free_all(p->headers);
	p->headers = NULL;
	if (p->addrs) {
		freeaddrinfo(p->addrs);
		p->addrs = NULL;
	}
	if (p->fd >= 0)
		close(p->fd);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->pid_fd >= 0)
		close(p->pid_fd);
	p->fd = p->out_fd = p->pid_fd = -1;
	strbuf_release(&p->body);
	strbuf_release(&p->reply);
	strbuf_release(&p->output);
	free(p->label);
	p->label = NULL;
}

/* A server may echo what it was sent (an error page quoting the request
 * URL), and libcurl's messages may quote the URL: the check's secrets are
 * masked in anything taken from either. */
static void probe_scrub(const struct probe *p, struct strbuf *text)
{
	secret_scrub(text, p->check->password);
	secret_scrub_url(text, p->check->url);
}

/* Record the outcome: summary "LABEL -> outcome", response NULL when ok
 * (the strbuf is taken over either way). The probe's connections and
 * descriptors close now, not when the slowest check of the round ends. */
static void probe_finish(struct probe *p, int ok, const char *outcome, struct strbuf *response)
{
	struct health_result *r = p->result;
	probe_scrub(p, response);
	r->ok = ok;
	r->elapsed_ms = clock_monotonic_ms() - p->started_ms;
	r->summary = xstrfmt("%s -> %s", p->label, outcome);
	if (ok)
		strbuf_release(response);
	else
		r->response = strbuf_detach(response);
	p->done = 1;
	probe_release(p);
}

static void probe_fail(struct probe *p, const char *outcome, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void probe_fail(struct probe *p, const char *outcome, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	struct strbuf response = STRBUF_INIT;
	strbuf_addstr(&response, buf);
	probe_finish(p, 0, outcome, &response);
}

/* ---- http ---- */

/* Bodies past HEALTH_BODY_MAX are cut off: returning short makes curl end
 * the transfer, and the response is judged on what arrived. */
static size_t http_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct probe *p = userdata;
	size_t n = size * nmemb, room = HEALTH_BODY_MAX - p->body.len;
	if (n > room) {
		strbuf_add(&p->body, data, room);
		p->body_truncated = 1;
		return 0;
	}
	strbuf_add(&p->body, data, n);
	return n;
}

/* Health checks mostly go to loopback, which a host-wide http_proxy must not
 * take through a proxy that cannot reach it. */
static char *http_no_proxy(void)
{
	const char *env = getenv("no_proxy");
	if (!env || !*env)
		env = getenv("NO_PROXY");
	if (!env || !*env)
		return xstrdup("localhost,127.0.0.1,::1");
	if (!strcmp(env, "*"))
		return xstrdup(env);
	return xstrfmt("%s,localhost,127.0.0.1,::1", env);
}

static int http_start(struct probe *p, CURLM *multi, const char *no_proxy, struct error *err)
{
	const struct health_check *check = p->check;

	p->easy = curl.easy_init();
	if (!p->easy)
		return error_set(err, EXIT_FAILED, "cannot initialize libcurl");
	for (size_t i = 0; i < check->nheaders; i++) {
		char *line = xstrfmt("%s: %s", check->headers[i].key, check->headers[i].value);
		struct curl_slist *list = curl.slist_append(p->headers, line);
		free(line);
		if (!list)
			return error_set(err, EXIT_FAILED, "cannot add http header '%s'",
					 check->headers[i].key);
		p->headers = list;
	}
	curl.easy_setopt(p->easy, CURLOPT_URL, check->url);
	if (check->username) {
		curl.easy_setopt(p->easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl.easy_setopt(p->easy, CURLOPT_USERNAME, check->username);
		curl.easy_setopt(p->easy, CURLOPT_PASSWORD, check->password ? check->password : "");
	}
	curl.easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	/* No SIGALRM around name resolution: signals are the caller's, and
	 * the round bounds the time anyway. */
	curl.easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(p->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl.easy_setopt(p->easy, CURLOPT_NOPROXY, no_proxy);
	curl.easy_setopt(p->easy, CURLOPT_USERAGENT, "lastgood");
	curl.easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
	curl.easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, http_write);
	curl.easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
	curl.easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->curl_error);
	curl.easy_setopt(p->easy, CURLOPT_PRIVATE, p);
	if (curl.multi_add_handle(multi, p->easy) != CURLM_OK)
		return error_set(err, EXIT_FAILED, "cannot start http check of '%s'", p->label);
	return 0;
}

/* The text of a JSON value as a config scalar would spell it. */
static char *json_text(json_t *value)
{
	if (json_is_string(value))
		return xstrdup(json_string_value(value));
	char *dump = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
	char *text = xstrdup(dump ? dump : "?");
	free(dump);
	return text;
}

/* A member of an object, or an element of an array named by its index. */
static json_t *json_child(json_t *node, const char *name)
{
	if (json_is_object(node))
		return json_object_get(node, name);
	if (json_is_array(node) && *name && strspn(name, "0123456789") == strlen(name))
		return json_array_get(node, strtoul(name, NULL, 10));
	return NULL;
}

/*
 * Find a dotted key ("checks.db.status", "nodes.0.state") in a JSON value.
 * A key that itself contains dots is tried whole first.
 */
static json_t *json_find(json_t *node, const char *key)
{
	json_t *whole = json_child(node, key);
	if (whole)
		return whole;
	for (const char *dot = strchr(key, '.'); dot; dot = strchr(dot + 1, '.')) {
		char *head = xstrndup(key, (size_t)(dot - key));
		json_t *child = json_child(node, head);
		free(head);
		json_t *found = child ? json_find(child, dot + 1) : NULL;
		if (found)
			return found;
	}
	return NULL;
}

/* Numbers compare by value, so "200" matches 200 and "1.50" matches 1.5;
 * everything else by its text. */
static int json_matches(json_t *value, const char *want)
{
	if (json_is_number(value)) {
		char *end;
		errno = 0;
		double d = strtod(want, &end);
		return *want && !*end && !errno && d == json_number_value(value);
	}
	char *text = json_text(value);
	int same = !strcmp(text, want);
	free(text);
	return same;
}

/* Append why the body fails the `json:` fields, or nothing when it passes. */
static void http_check_json(struct probe *p, struct strbuf *why)
{
	const struct health_check *check = p->check;
	json_t *root = json_loadb(p->body.buf, p->body.len, 0, NULL);

	if (!root) {
		strbuf_addstr(why, p->body_truncated ? "body is not JSON (cut at 64 KiB)"
			      : "body is not JSON");
		return;
	}
	for (size_t i = 0; i < check->njson; i++) {
		json_t *value = json_find(root, check->json[i].key);
		if (!value) {
			strbuf_addf(why, "no '%s' in JSON", check->json[i].key);
			break;
		}
		if (!json_matches(value, check->json[i].value)) {
			char *actual = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
			strbuf_addf(why, "'%s' is ", check->json[i].key);
			add_excerpt(why, actual ? actual : "?", actual ? strlen(actual) : 1);
			strbuf_addstr(why, ", expected '");
			add_excerpt(why, check->json[i].value, strlen(check->json[i].value));
			strbuf_addch(why, '\'');
			free(actual);
			break;
		}
	}
	json_decref(root);
}

static void http_error(struct probe *p, CURLcode code)
{
	struct strbuf response = STRBUF_INIT;
	long os_errno = 0;

	curl.easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &os_errno);
	if (code == CURLE_OPERATION_TIMEDOUT) {
		strbuf_addf(&response, "timeout after %ldms", p->timeout_ms);
	} else if (code == CURLE_COULDNT_CONNECT && os_errno) {
		add_errno_text(&response, (int)os_errno);
	} else {
		size_t at = response.len;
		strbuf_addstr(&response, *p->curl_error ? p->curl_error : curl.easy_strerror(code));
		response.buf[at] = (char)tolower((unsigned char)response.buf[at]);
	}
	probe_finish(p, 0, "error", &response);
}

/* Judge a finished transfer: status, then `contains`, then `json`. */
static void http_done(struct probe *p, CURLcode code)
{
	const struct health_check *check = p->check;
	if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && p->body_truncated)) {
		http_error(p, code);
		return;
	}

	long status = 0;
	curl.easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
	p->result->answered = status != 0;
	struct strbuf why = STRBUF_INIT;
	int status_ok = check->expect_status ? status == check->expect_status
		: status >= 200 && status <= 299;
	if (!status_ok) {
		strbuf_addf(&why, "status %ld", status);
		if (check->expect_status)
			strbuf_addf(&why, " (expected %ld)", check->expect_status);
	} else if (check->contains &&
		   !memmem(p->body.buf, p->body.len, check->contains, strlen(check->contains))) {
		strbuf_addstr(&why, "no '");
		add_excerpt(&why, check->contains, strlen(check->contains));
		strbuf_addstr(&why, "' in body");
	} else if (check->njson) {
		http_check_json(p, &why);
	}

	char outcome[32];
	snprintf(outcome, sizeof(outcome), "%ld", status);
	if (why.len && p->body.len) {
		/* Before the excerpt, whose cut could leave half a secret. */
		probe_scrub(p, &p->body);
		strbuf_addstr(&why, ": ");
		add_excerpt(&why, p->body.buf, p->body.len);
	}
	probe_finish(p, !why.len, outcome, &why);
}

/* Hand every transfer curl has finished to http_done. */
static void http_collect(CURLM *multi)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl.multi_info_read(multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		void *priv;
		CURLcode code = msg->data.result;
		curl.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		struct probe *p = priv;
		/* msg is gone after this; the easy handle stays for http_done. */
		curl.multi_remove_handle(multi, p->easy);
		http_done(p, code);
	}
}

/* ---- tcp ---- */

/* Connected (and, with `send`, sent): done unless a reply is expected. */
static void tcp_advance(struct probe *p)
{
	const struct health_check *check = p->check;
	struct strbuf none = STRBUF_INIT;

	if (p->stage == TCP_CONNECTING)
		p->stage = check->send && *check->send ? TCP_SENDING : TCP_READING;
	if (p->stage == TCP_SENDING) {
		size_t len = strlen(check->send);
		while (p->sent < len) {
			ssize_t n = send(p->fd, check->send + p->sent, len - p->sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				int e = errno;
				struct strbuf response = STRBUF_INIT;
				strbuf_addstr(&response, "cannot send: ");
				add_errno_text(&response, e);
				probe_finish(p, 0, "failed", &response);
				return;
			}
			p->sent += (size_t)n;
		}
		p->stage = TCP_READING;
	}
	if (!check->expect || !*check->expect)
		probe_finish(p, 1, "ok", &none);
}

/* Start connecting to the next resolved address; fails the probe when
 * none is left. */
static void tcp_connect_next(struct probe *p)
{
	while (p->next_addr) {
		struct addrinfo *ai = p->next_addr;
		p->next_addr = ai->ai_next;
		p->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (p->fd < 0) {
			p->connect_errno = errno;
			continue;
		}
		p->stage = TCP_CONNECTING;
		if (connect(p->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			tcp_advance(p);
			return;
		}
		if (errno == EINPROGRESS)
			return;
		p->connect_errno = errno;
		close(p->fd);
		p->fd = -1;
	}
	struct strbuf response = STRBUF_INIT;
	add_errno_text(&response, p->connect_errno ? p->connect_errno : ECONNREFUSED);
	probe_finish(p, 0, "failed", &response);
}

/* Resolution is synchronous: tcp checks name local peers, which the
 * resolver answers from /etc/hosts or as literals. */
static void tcp_start(struct probe *p)
{
	const char *address = p->check->address, *colon = strrchr(address, ':');
	char *host = xstrndup(address, (size_t)(colon - address));
	size_t hlen = strlen(host);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	struct addrinfo hints = { 0 };
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(host, colon + 1, &hints, &p->addrs);
	if (rc) {
		p->addrs = NULL;
		probe_fail(p, "failed", "cannot resolve '%s': %s", host, gai_strerror(rc));
	} else {
		p->next_addr = p->addrs;
		tcp_connect_next(p);
	}
	free(host);
}

static void tcp_step(struct probe *p, short revents)
{
	const struct health_check *check = p->check;

	if (!revents)
		return;
	if (p->stage == TCP_CONNECTING) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr) {
			p->connect_errno = soerr;
			close(p->fd);
			p->fd = -1;
			tcp_connect_next(p);
			return;
		}
	}
	if (p->stage != TCP_READING) {
		tcp_advance(p);
		return;
	}

	char buf[1024];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		int e = errno;
		struct strbuf response = STRBUF_INIT;
		strbuf_addstr(&response, "cannot read reply: ");
		add_errno_text(&response, e);
		probe_finish(p, 0, "failed", &response);
		return;
	}
	size_t keep = (size_t)n;
	if (keep > HEALTH_REPLY_MAX - p->reply.len)
		keep = HEALTH_REPLY_MAX - p->reply.len;
	strbuf_add(&p->reply, buf, keep);

	/* Decide as soon as the reply is long enough, or already differs. */
	size_t want = strlen(check->expect);
	size_t have = p->reply.len < want ? p->reply.len : want;
	int differs = memcmp(p->reply.buf, check->expect, have) != 0;
	if (!differs && p->reply.len >= want) {
		struct strbuf none = STRBUF_INIT;
		probe_finish(p, 1, "ok", &none);
	} else if (differs || n == 0 || p->reply.len == HEALTH_REPLY_MAX) {
		struct strbuf response = STRBUF_INIT;
		strbuf_addstr(&response, "reply does not start with '");
		add_excerpt(&response, check->expect, want);
		strbuf_addstr(&response, "': ");
		if (p->reply.len)
			add_excerpt(&response, p->reply.buf, p->reply.len);
		else
			strbuf_addstr(&response, "connection closed without a reply");
		probe_finish(p, 0, "failed", &response);
	}
}

/* ---- exec ---- */

static void exec_start(struct probe *p)
{
	char *const *argv = p->check->argv.v;
	int pipefd[2];

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		int e = errno;
		probe_fail(p, "failed", "cannot create pipe: %s", strerror(e));
		return;
	}
	struct process_redirect to_pipe[] = {
		{ STDOUT_FILENO, pipefd[1] },
		{ STDERR_FILENO, pipefd[1] },
	};
	/* Its own process group, so a timeout kills whatever it started too;
	 * default signals, so an ignored SIGPIPE or a blocked mask of ours does
	 * not leak into it. Relative programs ("bin/api --self-test") mean the
	 * service's folder. */
	struct process_spawn_options opts = {
		.flags = PROCESS_SEARCH_PATH | PROCESS_STDIN_NULL | PROCESS_NEW_GROUP |
			 PROCESS_DEFAULT_SIGNALS,
		.cwd = p->svc->workdir,
		.redirects = to_pipe,
		.nredirects = 2,
	};
	int rc = process_spawn(argv, &opts, &p->pid);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		p->pid = 0;
		struct strbuf response = STRBUF_INIT;
		strbuf_addf(&response, "cannot run '%s': ", argv[0]);
		add_errno_text(&response, rc);
		probe_finish(p, 0, "failed", &response);
		return;
	}
	p->out_fd = pipefd[0];
	fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
	/* Without a pidfd the loop falls back to polling waitpid. */
	p->pid_fd = pidfd_open(p->pid, 0);
}

/* Read what the child has written; output past HEALTH_OUTPUT_MAX is read
 * and dropped so the child never blocks on a full pipe. */
static void exec_read(struct probe *p)
{
	char buf[4096];
	while (p->out_fd >= 0) {
		ssize_t n = read(p->out_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close(p->out_fd);
			p->out_fd = -1;
			return;
		}
		size_t keep = (size_t)n;
		if (keep > HEALTH_OUTPUT_MAX - p->output.len)
			keep = HEALTH_OUTPUT_MAX - p->output.len;
		strbuf_add(&p->output, buf, keep);
	}
}

static void exec_exited(struct probe *p, int wstatus)
{
	struct strbuf response = STRBUF_INIT;

	p->pid = 0;
	/* The child is gone, so what it wrote is all in the pipe; a grandchild
	 * still holding the pipe is not waited for. */
	exec_read(p);
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		probe_finish(p, 1, "ok", &response);
		return;
	}
	if (WIFEXITED(wstatus))
		strbuf_addf(&response, "exit %d", WEXITSTATUS(wstatus));
	else
		strbuf_addf(&response, "killed by signal %d", WTERMSIG(wstatus));
	if (p->output.len) {
		strbuf_addstr(&response, ": ");
		add_excerpt(&response, p->output.buf, p->output.len);
	}
	probe_finish(p, 0, "failed", &response);
}

/* Called on every turn of the loop, whatever poll reported: libcurl passes
 * on POLLIN but not a bare POLLHUP, so a pipe's end is found by reading. */
static void exec_step(struct probe *p)
{
	exec_read(p);
	int wstatus;
	pid_t rc;
	do
		rc = waitpid(p->pid, &wstatus, WNOHANG);
	while (rc < 0 && errno == EINTR);
	if (rc == p->pid) {
		exec_exited(p, wstatus);
	} else if (rc < 0) {
		int e = errno;
		p->pid = 0;
		probe_fail(p, "failed", "cannot wait for '%s': %s", p->check->argv.v[0],
			   strerror(e));
	}
}

/* ---- one round ---- */

static void probe_timeout(struct probe *p)
{
	const char *stage = "";
	if (p->check->kind == HEALTH_EXEC && p->pid > 0) {
		if (kill(-p->pid, SIGKILL) < 0)
			kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
	} else if (p->check->kind == HEALTH_TCP) {
		stage = p->stage == TCP_CONNECTING ? " connecting"
			: p->stage == TCP_SENDING ? " sending" : " waiting for a reply";
	}
	probe_fail(p, "failed", "timeout after %ldms%s", p->timeout_ms, stage);
}

static void probe_start_label(struct probe *p)
{
	const struct health_check *check = p->check;
	if (check->kind == HEALTH_HTTP) {
		/* Summaries end up in output, the record and reports, and
		 * URLs of health endpoints often carry a token. */
		char *url = secret_redact_url(check->url);
		p->label = xstrfmt("GET %s", url);
		free(url);
	} else if (check->kind == HEALTH_TCP) {
		p->label = xstrfmt("tcp %s", check->address);
	} else {
		/* Only the program: its arguments may hold a password
		 * (redis-cli -a). */
		p->label = xstrfmt("exec %s", check->argv.v[0]);
	}
}

/*
 * Drive every started probe to its end in one poll loop: curl's sockets
 * through curl_multi_poll, with the tcp sockets, exec pipes and pidfds as
 * its extra descriptors. Curl enforces the http timeouts itself; the others
 * are enforced here.
 */
static int round_drive(CURLM *multi, struct probe *probes, size_t n, struct error *err)
{
	struct curl_waitfd *fds = xcalloc(2 * n, sizeof(*fds));
	int rc = 0;

	for (;;) {
		int running;
		if (curl.multi_perform(multi, &running) != CURLM_OK) {
			rc = error_set(err, EXIT_FAILED, "http checks failed inside libcurl");
			break;
		}
		http_collect(multi);

		long long now = clock_monotonic_ms(), wake = LLONG_MAX;
		unsigned nfds = 0;
		int pending = 0;
		for (size_t i = 0; i < n; i++) {
			struct probe *p = &probes[i];
			p->poll_fd = -1;
			if (p->done)
				continue;
			if (p->check->kind != HEALTH_HTTP && now >= p->deadline_ms) {
				probe_timeout(p);
				continue;
			}
			pending = 1;
			if (p->check->kind == HEALTH_HTTP)
				continue;
			if (p->deadline_ms < wake)
				wake = p->deadline_ms;
			if (p->check->kind == HEALTH_TCP) {
				short events = p->stage == TCP_READING ? CURL_WAIT_POLLIN
					: CURL_WAIT_POLLOUT;
				fds[nfds] = (struct curl_waitfd){ p->fd, events, 0 };
				p->poll_fd = (int)nfds++;
				continue;
			}
			if (p->out_fd >= 0)
				fds[nfds++] = (struct curl_waitfd){ p->out_fd, CURL_WAIT_POLLIN, 0 };
			if (p->pid_fd >= 0)
				fds[nfds++] = (struct curl_waitfd){ p->pid_fd, CURL_WAIT_POLLIN, 0 };
			else if (now + HEALTH_CHILD_TICK_MS < wake)
				wake = now + HEALTH_CHILD_TICK_MS;
		}
		if (!pending)
			break;

		/* curl_multi_poll shortens this to curl's own next timeout. */
		long long wait = wake == LLONG_MAX ? HEALTH_ROUND_POLL_MS : wake - now;
		if (wait < 0)
			wait = 0;
		if (curl.multi_poll(multi, fds, nfds, (int)(wait > INT_MAX ? INT_MAX : wait), NULL)
		    != CURLM_OK) {
			rc = error_set(err, EXIT_FAILED, "cannot wait for health checks");
			break;
		}

		for (size_t i = 0; i < n; i++) {
			struct probe *p = &probes[i];
			if (p->done || p->check->kind == HEALTH_HTTP)
				continue;
			if (p->check->kind == HEALTH_TCP)
				tcp_step(p, fds[p->poll_fd].revents);
			else
				exec_step(p);
		}
	}
	free(fds);
	return rc;
}

/* Load libcurl and set it up, once per process. */
static int curl_ready(struct error *err)
{
	static const char soname[] = "libcurl.so.4";
	static int initialized;
	if (initialized)
		return 0;
	void *lib = dynlib_open(soname, "libcurl4", err);
	if (!lib)
		return -1;
#define CURL_LOAD(name)                                                                  \
	if (!(curl.name = (__typeof__(curl.name))dynlib_symbol(lib, soname, "curl_" #name, err))) \
		return -1;
	CURL_FUNCTIONS(CURL_LOAD)
#undef CURL_LOAD
	if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return error_set(err, EXIT_FAILED, "cannot initialize libcurl");
	initialized = 1;
	return 0;
}

int health_round_run(const struct config *cfg, const unsigned char *selected,
		     struct health_round *round, struct error *err)
{
	memset(round, 0, sizeof(*round));
	for (size_t s = 0; s < cfg->nservices; s++)
		if (!selected || selected[s])
			round->n += cfg->services[s].nhealth;
	/* Before libcurl's set-up, which costs more than a round of nothing. */
	if (!round->n)
		return 0;
	if (curl_ready(err) < 0)
		return -1;
	round->alloc = round->n;
	round->results = xcalloc(round->n, sizeof(*round->results));

	struct probe *probes = xcalloc(round->n, sizeof(*probes));
	size_t k = 0;
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		if (selected && !selected[s])
			continue;
		for (size_t c = 0; c < svc->nhealth; c++, k++) {
			struct probe *p = &probes[k];
			p->result = &round->results[k];
			p->result->service = s;
			p->result->check = &svc->health[c];
			p->check = &svc->health[c];
			p->svc = svc;
			p->timeout_ms = p->check->timeout_ms ? p->check->timeout_ms
				: svc->policy.timeout_ms;
			p->fd = p->out_fd = p->pid_fd = -1;
			strbuf_init(&p->body);
			strbuf_init(&p->reply);
			strbuf_init(&p->output);
			probe_start_label(p);
		}
	}

	CURLM *multi = curl.multi_init();
	char *no_proxy = http_no_proxy();
	int rc = 0;
	if (!multi)
		rc = error_set(err, EXIT_FAILED, "cannot initialize libcurl");
	/* Children first, so they cannot inherit the sockets libcurl opens
	 * for this round. */
	static const enum health_kind start_order[] = { HEALTH_EXEC, HEALTH_TCP, HEALTH_HTTP };
	for (size_t o = 0; !rc && o < sizeof(start_order) / sizeof(start_order[0]); o++) {
		for (size_t i = 0; !rc && i < round->n; i++) {
			struct probe *p = &probes[i];
			if (p->check->kind != start_order[o])
				continue;
			p->started_ms = clock_monotonic_ms();
			p->deadline_ms = p->started_ms + p->timeout_ms;
			if (p->check->kind == HEALTH_EXEC)
				exec_start(p);
			else if (p->check->kind == HEALTH_TCP)
				tcp_start(p);
			else
				rc = http_start(p, multi, no_proxy, err);
		}
	}
	if (!rc)
		rc = round_drive(multi, probes, round->n, err);

	for (size_t i = 0; i < round->n; i++) {
		struct probe *p = &probes[i];
		/* Only reached after an error: nothing may outlive the round. */
		if (p->pid > 0) {
			kill(-p->pid, SIGKILL);
			while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		if (p->easy)
			curl.multi_remove_handle(multi, p->easy);
		probe_release(p);
	}
	free(probes);
	free(no_proxy);
	if (multi)
		curl.multi_cleanup(multi);
	if (rc < 0)
		health_round_free(round);
	return rc;
}

void health_round_free(struct health_round *round)
{
	for (size_t i = 0; i < round->n; i++) {
		free(round->results[i].summary);
		free(round->results[i].response);
	}
	free(round->results);
	memset(round, 0, sizeof(*round));
}

/* ---- waiting ---- */

enum wait_state { WAIT_STARTING, WAIT_STABILIZING };

struct wait_service {
	enum wait_state state;
	int failures;                /* consecutive failing rounds that count */
	long long next_ms;           /* when its next check is due */
};

/*
 * The pause before a service's next check. One that does not answer yet
 * is starting: it is checked every HEALTH_STARTING_PAUSE_MS (never less
 * often than `interval`), so it counts as healthy within that much of
 * coming up; a refused connection costs next to nothing. An exec check
 * costs a process each time, so a service with one keeps `interval`, as
 * does one that answered (retries are counted at `interval`) or is
 * stabilizing.
 */
static long long wait_pause(const struct service *svc, const struct wait_service *ws)
{
	long long interval = svc->policy.interval_ms;
	if (ws->state != WAIT_STARTING || ws->failures || interval <= HEALTH_STARTING_PAUSE_MS)
		return interval;
	for (size_t c = 0; c < svc->nhealth; c++)
		if (svc->health[c].kind == HEALTH_EXEC)
			return interval;
	return HEALTH_STARTING_PAUSE_MS;
}

/* When the service must be judged whatever its pause: the end of its
 * start timeout, or of its stabilize window. */
static long long wait_deadline(const struct service *svc, const struct wait_service *ws,
			       long long started_ms, long long healthy_at_ms)
{
	return ws->state == WAIT_STARTING ? started_ms + svc->policy.start_timeout_ms
		: healthy_at_ms + svc->policy.stabilize_ms;
}

static void wait_fail(const struct config *cfg, struct health_outcome *outcome, size_t s,
		      const struct health_result *failed)
{
	outcome->healthy = 0;
	outcome->failed_service = s;
	if (failed)
		outcome->failure = xstrfmt("%s: %s: %s", cfg->services[s].name, failed->summary,
					   failed->response);
	else
		outcome->failure = xstrfmt("%s: process exited", cfg->services[s].name);
}

/* The first process found gone among the pending services, or SIZE_MAX. */
static size_t wait_find_dead(const struct config *cfg, const unsigned char *pending,
			     health_alive_fn alive, void *alive_ctx)
{
	if (!alive)
		return SIZE_MAX;
	for (size_t s = 0; s < cfg->nservices; s++)
		if (pending[s] && !alive(s, alive_ctx))
			return s;
	return SIZE_MAX;
}

/*
 * Judge each service checked in this round (due). Returns 1 when one
 * failed (outcome filled), 0 otherwise; services that are done leave
 * pending.
 */
static int wait_judge(const struct config *cfg, const struct health_round *round,
		      const unsigned char *due, unsigned char *pending, struct wait_service *ws,
		      long long started_ms, long long now, struct health_outcome *outcome)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct policy *policy = &cfg->services[s].policy;
		const struct health_result *failed = NULL;
		if (!due[s])
			continue;
		for (size_t i = 0; i < round->n && !failed; i++)
			if (round->results[i].service == s && !round->results[i].ok)
				failed = &round->results[i];

		if (ws[s].state == WAIT_STARTING) {
			/* A service that answers but answers wrong is up and
			 * broken: it fails after `retries`, like a healthy one
			 * going bad, not after the whole start timeout. */
			int allowed = policy->retries > 1 ? policy->retries : 1;
			if (failed && failed->answered && ++ws[s].failures >= allowed) {
				wait_fail(cfg, outcome, s, failed);
				return 1;
			}
			if (failed && !failed->answered)
				ws[s].failures = 0;
			if (failed) {
				if (now >= started_ms + policy->start_timeout_ms) {
					wait_fail(cfg, outcome, s, failed);
					return 1;
				}
				continue;
			}
			outcome->healthy_at_ms[s] = now;
			ws[s].state = WAIT_STABILIZING;
		} else if (failed) {
			int allowed = policy->retries > 1 ? policy->retries : 1;
			if (++ws[s].failures >= allowed) {
				wait_fail(cfg, outcome, s, failed);
				return 1;
			}
			continue;
		}
		ws[s].failures = 0;
		if (now - outcome->healthy_at_ms[s] >= policy->stabilize_ms)
			pending[s] = 0;
	}
	return 0;
}

int health_wait(const struct config *cfg, const unsigned char *selected,
		long long started_ms, health_alive_fn alive, void *alive_ctx,
		struct health_outcome *outcome, struct error *err)
{
	unsigned char *pending = xcalloc(cfg->nservices, 1);
	unsigned char *due = xcalloc(cfg->nservices, 1);
	struct wait_service *ws = xcalloc(cfg->nservices, sizeof(*ws));
	size_t npending = 0;
	int rc = 0;

	memset(outcome, 0, sizeof(*outcome));
	outcome->healthy_at_ms = xcalloc(cfg->nservices, sizeof(*outcome->healthy_at_ms));
	for (size_t s = 0; s < cfg->nservices; s++) {
		if (selected && !selected[s])
			continue;
		pending[s] = 1;
		npending++;
	}

	while (npending) {
		struct health_round round;
		int sig = interrupt_take();
		if (sig) {
			for (size_t s = 0; s < cfg->nservices; s++)
				if (pending[s]) {
					outcome->failed_service = s;
					break;
				}
			outcome->interrupted = sig;
			outcome->failure = xstrfmt("%s: wait interrupted by signal %d (%s)",
						   cfg->services[outcome->failed_service].name, sig,
						   strsignal(sig));
			break;
		}
		size_t dead = wait_find_dead(cfg, pending, alive, alive_ctx);
		if (dead != SIZE_MAX) {
			wait_fail(cfg, outcome, dead, NULL);
			break;
		}
		/* Only the services whose check or deadline is due: a slow
		 * cadence is not dragged along by a fast one. */
		long long now = clock_monotonic_ms();
		for (size_t s = 0; s < cfg->nservices; s++)
			due[s] = pending[s] &&
				(ws[s].next_ms <= now ||
				 wait_deadline(&cfg->services[s], &ws[s], started_ms,
					       outcome->healthy_at_ms[s]) <= now);
		if (health_round_run(cfg, due, &round, err) < 0) {
			rc = -1;
			break;
		}
		/* A process that died during the round explains its failing
		 * checks better than "connection refused" would. */
		dead = wait_find_dead(cfg, pending, alive, alive_ctx);
		now = clock_monotonic_ms();
		int failed = dead != SIZE_MAX;
		if (failed)
			wait_fail(cfg, outcome, dead, NULL);
		else
			failed = wait_judge(cfg, &round, due, pending, ws, started_ms, now, outcome);
		health_round_free(&round);
		if (failed)
			break;

		npending = 0;
		long long wake = LLONG_MAX;
		for (size_t s = 0; s < cfg->nservices; s++) {
			if (!pending[s])
				continue;
			const struct service *svc = &cfg->services[s];
			npending++;
			if (due[s])
				ws[s].next_ms = now + wait_pause(svc, &ws[s]);
			long long deadline = wait_deadline(svc, &ws[s], started_ms,
							   outcome->healthy_at_ms[s]);
			long long next = ws[s].next_ms < deadline ? ws[s].next_ms : deadline;
			if (next < wake)
				wake = next;
		}
		if (npending && wake > now)
			/* A signal cuts it short: the next round runs early and
			 * sees the interrupt. */
			clock_sleep_until_signal_ms(wake - now);
	}
	if (!npending)
		outcome->healthy = 1;
	free(pending);
	free(due);
	free(ws);
	if (rc < 0)
		health_outcome_free(outcome);
	return rc;
}

void health_outcome_free(struct health_outcome *outcome)
{
	free(outcome->failure);
	free(outcome->healthy_at_ms);
	memset(outcome, 0, sizeof(*outcome));
}
