/*
 * What every kind of probe shares (probe.h): the text of a response, and
 * recording a probe's result.
 */
#include "core/health/probe.h"
#include "core/config.h"
#include "core/health.h"
#include "core/secret.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void probe_add_errno_text(struct strbuf *sb, int errno_value)
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
void probe_add_excerpt(struct strbuf *sb, const char *data, size_t len)
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

void probe_release(struct probe *p)
{
	if (p->easy) {
		health_curl.easy_cleanup(p->easy);
		p->easy = NULL;
	}
	health_curl.slist_free_all(p->headers);
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
void probe_scrub(const struct probe *p, struct strbuf *text)
{
	secret_scrub(text, p->check->password);
	secret_scrub_url(text, p->check->url);
}

/* Record the outcome: summary "LABEL -> outcome", response NULL when ok
 * (the strbuf is taken over either way). The probe's connections and
 * descriptors close now, not when the slowest check of the round ends. */
void probe_finish(struct probe *p, int ok, const char *outcome, struct strbuf *response)
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

void probe_fail(struct probe *p, const char *outcome, const char *fmt, ...)
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
