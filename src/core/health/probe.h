/*
 * Inside a round of health checks (core/health.h): one probe per check in
 * flight, and what the kinds share. round.c starts each probe with its
 * kind's start function (exec first, then tcp, then http), then drives
 * them all in one poll loop: http through libcurl's multi interface
 * (http_collect hands finished transfers back), tcp and exec through their
 * step functions, called with what poll saw. A probe ends with
 * probe_finish, which records its result and releases what it holds.
 *
 * Adding a kind of check: a file here with its start and step functions,
 * its members in struct probe, its case in round.c (start order, poll
 * set, step, timeout, label) and its parsing in core/config.c.
 */
#ifndef LG_HEALTH_PROBE_H
#define LG_HEALTH_PROBE_H

#include "util/strbuf.h"

/* Calls go through health_curl; curl's type-checking macros would name
 * the functions themselves. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <netdb.h>
#include <stddef.h>
#include <sys/types.h>

struct error;
struct health_check;
struct health_result;
struct service;

#define HEALTH_BODY_MAX 65536        /* http body kept for matching */
#define HEALTH_OUTPUT_MAX 65536      /* exec output kept */
#define HEALTH_REPLY_MAX 4096        /* tcp reply kept */
#define HEALTH_EXCERPT_MAX 200       /* bytes of a body or output in a response */

/* libcurl, loaded by http_ready (util/dynlib.h): the functions used. */
#define CURL_FUNCTIONS(X)                                                        \
	X(global_init) X(easy_init) X(easy_cleanup) X(easy_setopt) X(easy_getinfo) \
	X(easy_strerror) X(slist_append) X(slist_free_all) X(multi_init)             \
	X(multi_cleanup) X(multi_add_handle) X(multi_remove_handle) X(multi_perform) \
	X(multi_poll) X(multi_info_read)

struct health_curl_functions {
#define CURL_MEMBER(name) __typeof__(curl_##name) *name;
	CURL_FUNCTIONS(CURL_MEMBER)
#undef CURL_MEMBER
};
/* Filled by http_ready; only called once it succeeded. */
extern struct health_curl_functions health_curl;

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

/* ---- shared by the kinds (probe.c) ---- */

/* strerror text with its first letter lowered, to fit the message style. */
void probe_add_errno_text(struct strbuf *sb, int errno_value);
/* At most HEALTH_EXCERPT_MAX bytes of data, on one line. */
void probe_add_excerpt(struct strbuf *sb, const char *data, size_t len);
/* Release whatever the probe still holds; safe to call more than once. */
void probe_release(struct probe *p);
/* Mask the check's secrets in text taken from a server or libcurl. */
void probe_scrub(const struct probe *p, struct strbuf *text);
/* Record the outcome ("LABEL -> outcome"; response NULL when ok, the
 * strbuf taken over either way) and release the probe. */
void probe_finish(struct probe *p, int ok, const char *outcome, struct strbuf *response);
/* probe_finish as failed, with a formatted response. */
void probe_fail(struct probe *p, const char *outcome, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- http.c ---- */

/* Load libcurl and set it up, once per process. */
int http_ready(struct error *err);
/* The no_proxy list every transfer of a round uses (caller frees). */
char *http_no_proxy(void);
/* Add the probe's transfer to multi; -1 only when libcurl fails. */
int http_start(struct probe *p, CURLM *multi, const char *no_proxy, struct error *err);
/* Judge every transfer multi has finished. */
void http_collect(CURLM *multi);

/* ---- tcp.c ---- */

/* Resolve and start connecting (or fail the probe). */
void tcp_start(struct probe *p);
/* Advance on what poll saw on the socket (revents). */
void tcp_step(struct probe *p, short revents);

/* ---- exec.c ---- */

/* Spawn the program in its own process group (or fail the probe). */
void exec_start(struct probe *p);
/* Read its output and reap it once it exited; on every turn of the loop. */
void exec_step(struct probe *p);

#endif
