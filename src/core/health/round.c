/*
 * One round of health checks (health_round_run): every check of every
 * selected service started at once and driven to its end in one poll loop,
 * each bounded by its timeout.
 */
#include "core/health.h"
#include "core/health/probe.h"
#include "core/config.h"
#include "core/secret.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define HEALTH_ROUND_POLL_MS 1000    /* longest poll in a round of http checks alone */
#define HEALTH_CHILD_TICK_MS 10      /* child polling when pidfd_open is missing */

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
		if (health_curl.multi_perform(multi, &running) != CURLM_OK) {
			rc = error_set(err, ERROR_FAILED, "http checks failed inside libcurl");
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
		if (health_curl.multi_poll(multi, fds, nfds, (int)(wait > INT_MAX ? INT_MAX : wait), NULL)
		    != CURLM_OK) {
			rc = error_set(err, ERROR_FAILED, "cannot wait for health checks");
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
	if (http_ready(err) < 0)
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

	CURLM *multi = health_curl.multi_init();
	char *no_proxy = http_no_proxy();
	int rc = 0;
	if (!multi)
		rc = error_set(err, ERROR_FAILED, "cannot initialize libcurl");
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
			health_curl.multi_remove_handle(multi, p->easy);
		probe_release(p);
	}
	free(probes);
	free(no_proxy);
	if (multi)
		health_curl.multi_cleanup(multi);
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
