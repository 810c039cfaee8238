/*
 * tcp checks: connect to host:port without blocking, optionally send
 * bytes, and expect a reply that starts with the given text.
 */
#include "core/health/probe.h"
#include "core/config.h"
#include "util/alloc.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
				probe_add_errno_text(&response, e);
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
	probe_add_errno_text(&response, p->connect_errno ? p->connect_errno : ECONNREFUSED);
	probe_finish(p, 0, "failed", &response);
}

/* Resolution is synchronous: tcp checks name local peers, which the
 * resolver answers from /etc/hosts or as literals. */
void tcp_start(struct probe *p)
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

void tcp_step(struct probe *p, short revents)
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
		probe_add_errno_text(&response, e);
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
		probe_add_excerpt(&response, check->expect, want);
		strbuf_addstr(&response, "': ");
		if (p->reply.len)
			probe_add_excerpt(&response, p->reply.buf, p->reply.len);
		else
			strbuf_addstr(&response, "connection closed without a reply");
		probe_finish(p, 0, "failed", &response);
	}
}
