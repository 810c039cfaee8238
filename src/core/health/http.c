/*
 * http checks through libcurl's multi interface, so that every transfer of
 * a round runs at once: the status, then `contains`, then the `json`
 * fields (read with jansson). libcurl is loaded when a round first needs
 * it (util/dynlib.h).
 */
#include "core/health/probe.h"
#include "core/config.h"
#include "core/health.h"
#include "util/alloc.h"
#include "util/dynlib.h"
#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct health_curl_functions health_curl;

int http_ready(struct error *err)
{
	static const char soname[] = "libcurl.so.4";
	static int initialized;
	if (initialized)
		return 0;
	void *lib = dynlib_open(soname, "libcurl4", err);
	if (!lib)
		return -1;
#define CURL_LOAD(name) DYNLIB_LOAD(health_curl, lib, soname, "curl_", name, err)
	CURL_FUNCTIONS(CURL_LOAD)
#undef CURL_LOAD
	if (health_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return error_set(err, ERROR_FAILED, "cannot initialize libcurl");
	initialized = 1;
	return 0;
}

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
char *http_no_proxy(void)
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

int http_start(struct probe *p, CURLM *multi, const char *no_proxy, struct error *err)
{
	const struct health_check *check = p->check;

	p->easy = health_curl.easy_init();
	if (!p->easy)
		return error_set(err, ERROR_FAILED, "cannot initialize libcurl");
	for (size_t i = 0; i < check->nheaders; i++) {
		char *line = xstrfmt("%s: %s", check->headers[i].key, check->headers[i].value);
		struct curl_slist *list = health_curl.slist_append(p->headers, line);
		free(line);
		if (!list)
			return error_set(err, ERROR_FAILED, "cannot add http header '%s'",
					 check->headers[i].key);
		p->headers = list;
	}
	health_curl.easy_setopt(p->easy, CURLOPT_URL, check->url);
	if (check->username) {
		health_curl.easy_setopt(p->easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		health_curl.easy_setopt(p->easy, CURLOPT_USERNAME, check->username);
		health_curl.easy_setopt(p->easy, CURLOPT_PASSWORD, check->password ? check->password : "");
	}
	health_curl.easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	/* No SIGALRM around name resolution: signals are the caller's, and
	 * the round bounds the time anyway. */
	health_curl.easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
	health_curl.easy_setopt(p->easy, CURLOPT_FOLLOWLOCATION, 0L);
	health_curl.easy_setopt(p->easy, CURLOPT_NOPROXY, no_proxy);
	health_curl.easy_setopt(p->easy, CURLOPT_USERAGENT, "lastgood");
	health_curl.easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
	health_curl.easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, http_write);
	health_curl.easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
	health_curl.easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->curl_error);
	health_curl.easy_setopt(p->easy, CURLOPT_PRIVATE, p);
	if (health_curl.multi_add_handle(multi, p->easy) != CURLM_OK)
		return error_set(err, ERROR_FAILED, "cannot start http check of '%s'", p->label);
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
			probe_add_excerpt(why, actual ? actual : "?", actual ? strlen(actual) : 1);
			strbuf_addstr(why, ", expected '");
			probe_add_excerpt(why, check->json[i].value, strlen(check->json[i].value));
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

	health_curl.easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &os_errno);
	if (code == CURLE_OPERATION_TIMEDOUT) {
		strbuf_addf(&response, "timeout after %ldms", p->timeout_ms);
	} else if (code == CURLE_COULDNT_CONNECT && os_errno) {
		probe_add_errno_text(&response, (int)os_errno);
	} else {
		size_t at = response.len;
		strbuf_addstr(&response, *p->curl_error ? p->curl_error : health_curl.easy_strerror(code));
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
	health_curl.easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
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
		probe_add_excerpt(&why, check->contains, strlen(check->contains));
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
		probe_add_excerpt(&why, p->body.buf, p->body.len);
	}
	probe_finish(p, !why.len, outcome, &why);
}

/* Hand every transfer curl has finished to http_done. */
void http_collect(CURLM *multi)
{
	CURLMsg *msg;
	int left;
	while ((msg = health_curl.multi_info_read(multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		void *priv;
		CURLcode code = msg->data.result;
		health_curl.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		struct probe *p = priv;
		/* msg is gone after this; the easy handle stays for http_done. */
		health_curl.multi_remove_handle(multi, p->easy);
		http_done(p, code);
	}
}
