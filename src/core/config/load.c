/*
 * lastgood.yml with libyaml: the document is loaded whole and walked into
 * struct config, then cross-checked (after, cycles, overlapping paths:
 * order.c, paths.c) while the nodes and their marks are still at hand for
 * FILE:LINE:COL messages.
 */
#include "core/config/internal.h"
#include "core/manager/manager.h"
#include "core/secret.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

static const struct policy default_policy = {
	.start_timeout_ms = 30000,
	.interval_ms = 200,
	.timeout_ms = 5000,
	.stabilize_ms = 0,
	.stop_timeout_ms = 10000,
	.retries = 2,
};

const char *config_manager_name(enum manager_kind kind)
{
	return service_manager_of(kind)->name;
}

static int mark_errorv(struct error *err, const char *path, struct config_mark mark,
		       const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
/* Messages quote text from the file, which may hold any byte: control
 * bytes are escaped so that an error stays one line. */
static int mark_errorv(struct error *err, const char *path, struct config_mark mark,
		       const char *fmt, va_list ap)
{
	char msg[sizeof(err->msg)];
	struct strbuf line = STRBUF_INIT, escaped = STRBUF_INIT;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	strbuf_addf(&line, "%s:%d:%d: %s", path, mark.line, mark.column, msg);
	for (const unsigned char *c = (const unsigned char *)line.buf; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			strbuf_addf(&escaped, "\\x%02x", *c);
		else
			strbuf_addch(&escaped, (char)*c);
	}
	error_set(err, ERROR_USAGE, "%s", escaped.buf);
	strbuf_release(&line);
	strbuf_release(&escaped);
	return -1;
}

int mark_error(struct error *err, const char *path, struct config_mark mark, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mark_errorv(err, path, mark, fmt, ap);
	va_end(ap);
	return -1;
}

struct config_mark node_mark(const yaml_node_t *node)
{
	struct config_mark mark = {
		(int)node->start_mark.line + 1,
		(int)node->start_mark.column + 1,
	};
	return mark;
}

int node_error(struct config_parser *p, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mark_errorv(p->err, p->path, node_mark(node), fmt, ap);
	va_end(ap);
	return -1;
}

static yaml_node_t *node_at(struct config_parser *p, int index)
{
	return yaml_document_get_node(&p->doc, index);
}

static const char *scalar_value(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

static size_t sequence_length(const yaml_node_t *node)
{
	return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

yaml_node_t *sequence_item(struct config_parser *p, const yaml_node_t *node, size_t i)
{
	return node_at(p, node->data.sequence.items.start[i]);
}

/* YAML's null (`key:`, `~`, `null`), which no key here accepts as text. */
static int is_null(const yaml_node_t *node)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *v = scalar_value(node);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const char *node_kind(const yaml_node_t *node)
{
	if (node->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (node->type == YAML_SEQUENCE_NODE)
		return "a list";
	return is_null(node) ? "empty" : "a string";
}

int scalar_text(struct config_parser *p, const yaml_node_t *node, const char *key,
		const char *where, const char *expected, const char **text)
{
	if (node->type != YAML_SCALAR_NODE)
		return node_error(p, node, "'%s'%s must be %s, not %s", key, where, expected,
				  node_kind(node));
	if (strlen(scalar_value(node)) != node->data.scalar.length)
		return node_error(p, node, "'%s'%s contains a NUL byte", key, where);
	*text = scalar_value(node);
	return 0;
}

int read_mapping(struct config_parser *p, yaml_node_t *node, const char *what,
		 const char *where, struct field *fields, size_t nfields)
{
	if (node->type != YAML_MAPPING_NODE)
		return node_error(p, node, "%s must be a mapping", what);
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = node_at(p, pair->key);
		struct field *field = NULL;

		if (key->type != YAML_SCALAR_NODE)
			return node_error(p, key, "keys%s must be strings, not %s", where,
					  node_kind(key));
		for (size_t i = 0; i < nfields; i++)
			if (!strcmp(fields[i].name, scalar_value(key)))
				field = &fields[i];
		if (!field)
			return node_error(p, key, "unknown key '%s'%s", scalar_value(key), where);
		if (field->key)
			return node_error(p, key, "duplicate key '%s'%s", scalar_value(key), where);
		field->key = key;
		field->value = node_at(p, pair->value);
	}
	return 0;
}

int get_string(struct config_parser *p, const struct field *f, const char *where, char **out)
{
	const char *text;
	if (scalar_text(p, f->value, f->name, where, "a string", &text) < 0)
		return -1;
	if (!*text || is_null(f->value))
		return node_error(p, f->key, "'%s'%s must not be empty", f->name, where);
	*out = xstrdup(text);
	return 0;
}

int get_path(struct config_parser *p, const struct field *f, const char *where, char **out)
{
	char *text;
	if (get_string(p, f, where, &text) < 0)
		return -1;
	*out = path_absolute(p->cfg->dir, text);
	free(text);
	return 0;
}

/* Integers are written in decimal; anything else names the value. */
static int get_integer(struct config_parser *p, const struct field *f, const char *where,
		       long min, long max, long *out)
{
	const yaml_node_t *node = f->value;
	if (node->type == YAML_SCALAR_NODE) {
		const char *text = scalar_value(node);
		char *end;
		errno = 0;
		long value = strtol(text, &end, 10);
		if (isdigit((unsigned char)text[text[0] == '-']) && !*end && !errno &&
		    value >= min && value <= max) {
			*out = value;
			return 0;
		}
	}
	struct strbuf expected = STRBUF_INIT, actual = STRBUF_INIT;
	if (max == INT_MAX)
		strbuf_addf(&expected, "an integer of at least %ld", min);
	else
		strbuf_addf(&expected, "an integer from %ld to %ld", min, max);
	if (node->type == YAML_SCALAR_NODE)
		strbuf_addf(&actual, "'%s'", scalar_value(node));
	else
		strbuf_addstr(&actual, node_kind(node));
	node_error(p, node, "'%s'%s must be %s, not %s", f->name, where, expected.buf, actual.buf);
	strbuf_release(&expected);
	strbuf_release(&actual);
	return -1;
}

static int get_duration(struct config_parser *p, const struct field *f, const char *where,
			int allow_zero, long *ms)
{
	const char *text;
	if (scalar_text(p, f->value, f->name, where, "a duration", &text) < 0)
		return -1;
	if (config_parse_duration(text, ms) < 0)
		return node_error(p, f->value,
				  "invalid duration '%s' for '%s'%s (use ms, s or m, e.g. 250ms, 5s, 2m)",
				  text, f->name, where);
	if (!allow_zero && *ms == 0)
		return node_error(p, f->value, "'%s'%s must be longer than 0", f->name, where);
	return 0;
}

int get_string_list(struct config_parser *p, const struct field *f, const char *where,
		    int allow_empty, struct argv_list *out)
{
	if (f->value->type != YAML_SEQUENCE_NODE)
		return node_error(p, f->value, "'%s'%s must be a list of strings, not %s", f->name,
				  where, node_kind(f->value));
	size_t n = sequence_length(f->value);
	if (!n && !allow_empty)
		return node_error(p, f->value, "'%s'%s must not be empty", f->name, where);
	out->v = xcalloc(n + 1, sizeof(*out->v));
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		const char *text;
		if (scalar_text(p, sequence_item(p, f->value, i), f->name, where,
				"a list of strings", &text) < 0)
			return -1;
		out->v[i] = xstrdup(text);
	}
	return 0;
}

/* YAML's core-schema booleans. The value is never quoted back: a misplaced
 * secret is the likeliest thing to find here. */
static int get_boolean(struct config_parser *p, const struct field *f, const char *where,
		       int *out)
{
	static const char *const words[][2] = {
		{ "false", "true" }, { "False", "True" }, { "FALSE", "TRUE" },
	};
	const yaml_node_t *node = f->value;

	if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			for (int truth = 0; truth < 2; truth++)
				if (!strcmp(scalar_value(node), words[i][truth])) {
					*out = truth;
					return 0;
				}
	return node_error(p, node, "'%s'%s must be true or false", f->name, where);
}

int get_value_entry(struct config_parser *p, yaml_node_t *node, const char *name,
		    const char *where, const char **value, int *secret)
{
	struct field fields[] = { { .name = "value" }, { .name = "secret" } };
	char *what = xstrfmt("'%s'%s", name, where);
	char *inner = xstrfmt(" in '%s'%s", name, where);
	int rc = read_mapping(p, node, what, inner, fields, 2);

	*secret = 0;
	if (!rc && !fields[0].key)
		rc = node_error(p, node, "'%s'%s needs 'value'", name, where);
	if (!rc)
		rc = scalar_text(p, fields[0].value, "value", inner, "a string", value);
	if (!rc && fields[1].key)
		rc = get_boolean(p, &fields[1], inner, secret);
	free(what);
	free(inner);
	return rc;
}

enum key_value_kind { KV_ENV, KV_JSON, KV_HEADERS };

/* A mapping of scalar to scalar (env, json, headers), duplicates refused;
 * an env value may also be written in the long form (get_value_entry). */
static int get_key_values(struct config_parser *p, const struct field *f, const char *where,
			  enum key_value_kind kind, struct key_value **out, size_t *nout)
{
	yaml_node_t *node = f->value;
	if (node->type != YAML_MAPPING_NODE)
		return node_error(p, node, "'%s'%s must be a mapping, not %s", f->name, where,
				  node_kind(node));
	size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
	char *inner = xstrfmt(" in '%s'%s", f->name, where);
	int rc = -1;

	*out = xcalloc(n, sizeof(**out));
	*nout = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
		yaml_node_t *key = node_at(p, pair->key), *value = node_at(p, pair->value);
		const char *k, *v;
		int secret = 0;

		if (scalar_text(p, key, f->name, where, "a mapping of strings", &k) < 0)
			goto out;
		if (kind == KV_ENV && value->type == YAML_MAPPING_NODE) {
			if (get_value_entry(p, value, k, inner, &v, &secret) < 0)
				goto out;
		} else if (scalar_text(p, value, k, inner, "a string", &v) < 0) {
			goto out;
		}
		if (!*k) {
			node_error(p, key, "empty key%s", inner);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp((*out)[j].key, k)) {
				node_error(p, key, "duplicate key '%s'%s", k, inner);
				goto out;
			}
		if (kind == KV_ENV && strchr(k, '=')) {
			node_error(p, key, "variable name '%s'%s must not contain '='", k, inner);
			goto out;
		}
		if (kind == KV_HEADERS && (strpbrk(k, ": \t\r\n") || strpbrk(v, "\r\n"))) {
			node_error(p, key, "invalid header '%s'%s", k, inner);
			goto out;
		}
		(*out)[i].key = xstrdup(k);
		(*out)[i].value = xstrdup(v);
		(*out)[i].secret = secret;
	}
	rc = 0;
out:
	free(inner);
	return rc;
}

/* The policy keys, in one place for parsing and for the field table. */
static const struct {
	const char *name;
	size_t offset;
	int allow_zero;
} policy_durations[] = {
	{ "start_timeout", offsetof(struct policy, start_timeout_ms), 0 },
	{ "interval", offsetof(struct policy, interval_ms), 0 },
	{ "timeout", offsetof(struct policy, timeout_ms), 0 },
	{ "stabilize", offsetof(struct policy, stabilize_ms), 1 },
	{ "stop_timeout", offsetof(struct policy, stop_timeout_ms), 1 },
};
#define NPOLICY_DURATIONS (sizeof(policy_durations) / sizeof(policy_durations[0]))

/* Overwrite the keys node sets in *policy, leaving the others (the global
 * policy, for a service's override) as they are. */
static int parse_policy(struct config_parser *p, yaml_node_t *node, const char *what,
			struct policy *policy)
{
	struct field fields[NPOLICY_DURATIONS + 1] = { { 0 } };
	char *where = xstrfmt(" in %s", what);
	int rc = -1;

	for (size_t i = 0; i < NPOLICY_DURATIONS; i++)
		fields[i].name = policy_durations[i].name;
	fields[NPOLICY_DURATIONS].name = "retries";
	if (read_mapping(p, node, what, where, fields, NPOLICY_DURATIONS + 1) < 0)
		goto out;
	for (size_t i = 0; i < NPOLICY_DURATIONS; i++) {
		long *ms = (long *)((char *)policy + policy_durations[i].offset);
		if (fields[i].key &&
		    get_duration(p, &fields[i], where, policy_durations[i].allow_zero, ms) < 0)
			goto out;
	}
	if (fields[NPOLICY_DURATIONS].key) {
		long retries;
		if (get_integer(p, &fields[NPOLICY_DURATIONS], where, 0, INT_MAX, &retries) < 0)
			goto out;
		policy->retries = (int)retries;
	}
	rc = 0;
out:
	free(where);
	return rc;
}

/* "host:port", the host possibly a bracketed IPv6 address. */
static int valid_address(const char *address)
{
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address || !colon[1])
		return 0;
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	return isdigit((unsigned char)colon[1]) && !*end && !errno && port >= 1 && port <= 65535;
}

enum {
	H_HTTP, H_TCP, H_EXEC, H_JSON, H_CONTAINS, H_STATUS, H_HEADERS, H_USERNAME,
	H_PASSWORD, H_TIMEOUT, H_SEND, H_EXPECT, H_NFIELDS
};

/* The check kind each key belongs to; H_NFIELDS for keys every kind takes. */
static const int health_key_kind[H_NFIELDS] = {
	[H_HTTP] = H_HTTP, [H_TCP] = H_TCP, [H_EXEC] = H_EXEC,
	[H_JSON] = H_HTTP, [H_CONTAINS] = H_HTTP, [H_STATUS] = H_HTTP, [H_HEADERS] = H_HTTP,
	[H_USERNAME] = H_HTTP, [H_PASSWORD] = H_HTTP,
	[H_TIMEOUT] = H_NFIELDS, [H_SEND] = H_TCP, [H_EXPECT] = H_TCP,
};

static int parse_health_fields(struct config_parser *p, struct health_check *check,
			       struct field *fields, const char *what, const char *where)
{
	int kind = -1;
	for (int i = H_HTTP; i <= H_EXEC; i++) {
		if (!fields[i].key)
			continue;
		if (kind >= 0)
			return node_error(p, fields[i].key,
					  "%s has both '%s' and '%s'; use one per check", what,
					  fields[kind].name, fields[i].name);
		kind = i;
	}
	if (kind < 0)
		return mark_error(p->err, p->path, check->mark,
				  "%s needs one of 'http', 'tcp' or 'exec'", what);
	for (int i = H_JSON; i < H_NFIELDS; i++)
		if (fields[i].key && health_key_kind[i] != H_NFIELDS && health_key_kind[i] != kind)
			return node_error(p, fields[i].key, "'%s'%s applies only to '%s' checks",
					  fields[i].name, where, fields[health_key_kind[i]].name);

	switch (kind) {
	case H_HTTP:
		check->kind = HEALTH_HTTP;
		if (get_string(p, &fields[H_HTTP], where, &check->url) < 0)
			return -1;
		if (strncmp(check->url, "http://", 7) && strncmp(check->url, "https://", 8)) {
			char *shown = secret_redact_url(check->url);
			node_error(p, fields[H_HTTP].value,
				   "'http'%s must be a URL starting with http:// or https://, not '%s'",
				   where, shown);
			free(shown);
			return -1;
		}
		break;
	case H_TCP:
		check->kind = HEALTH_TCP;
		if (get_string(p, &fields[H_TCP], where, &check->address) < 0)
			return -1;
		if (!valid_address(check->address))
			return node_error(p, fields[H_TCP].value, "'tcp'%s must be HOST:PORT, not '%s'",
					  where, check->address);
		break;
	default:
		check->kind = HEALTH_EXEC;
		if (get_string_list(p, &fields[H_EXEC], where, 0, &check->argv) < 0)
			return -1;
		break;
	}
	if (fields[H_JSON].key &&
	    get_key_values(p, &fields[H_JSON], where, KV_JSON, &check->json, &check->njson) < 0)
		return -1;
	if (fields[H_HEADERS].key &&
	    get_key_values(p, &fields[H_HEADERS], where, KV_HEADERS, &check->headers,
			   &check->nheaders) < 0)
		return -1;
	if (fields[H_CONTAINS].key &&
	    get_string(p, &fields[H_CONTAINS], where, &check->contains) < 0)
		return -1;
	if (fields[H_STATUS].key &&
	    get_integer(p, &fields[H_STATUS], where, 100, 599, &check->expect_status) < 0)
		return -1;
	if (fields[H_TIMEOUT].key &&
	    get_duration(p, &fields[H_TIMEOUT], where, 0, &check->timeout_ms) < 0)
		return -1;
	if (fields[H_SEND].key && get_string(p, &fields[H_SEND], where, &check->send) < 0)
		return -1;
	if (fields[H_EXPECT].key && get_string(p, &fields[H_EXPECT], where, &check->expect) < 0)
		return -1;
	/* A password alone would go out with an empty user name, which is
	 * rarely what was meant. */
	if (fields[H_PASSWORD].key && !fields[H_USERNAME].key)
		return node_error(p, fields[H_PASSWORD].key, "'password'%s needs 'username'", where);
	if (fields[H_USERNAME].key &&
	    get_string(p, &fields[H_USERNAME], where, &check->username) < 0)
		return -1;
	if (fields[H_PASSWORD].key &&
	    get_string(p, &fields[H_PASSWORD], where, &check->password) < 0)
		return -1;
	return 0;
}

static int parse_health(struct config_parser *p, struct service *svc, const struct field *f,
			const char *where)
{
	if (f->value->type != YAML_SEQUENCE_NODE)
		return node_error(p, f->value, "'health'%s must be a list of checks", where);
	size_t n = sequence_length(f->value);
	svc->health = xcalloc(n, sizeof(*svc->health));
	svc->nhealth = n;
	for (size_t i = 0; i < n; i++) {
		struct field fields[H_NFIELDS] = {
			FIELD(H_HTTP, "http"), FIELD(H_TCP, "tcp"), FIELD(H_EXEC, "exec"),
			FIELD(H_JSON, "json"), FIELD(H_CONTAINS, "contains"),
			FIELD(H_STATUS, "status"), FIELD(H_HEADERS, "headers"),
			FIELD(H_USERNAME, "username"), FIELD(H_PASSWORD, "password"),
			FIELD(H_TIMEOUT, "timeout"), FIELD(H_SEND, "send"),
			FIELD(H_EXPECT, "expect"),
		};
		yaml_node_t *node = sequence_item(p, f->value, i);
		char *what = xstrfmt("health check %zu of service '%s'", i + 1, svc->name);
		char *inner = xstrfmt(" in %s", what);

		svc->health[i].mark = node_mark(node);
		int rc = read_mapping(p, node, what, inner, fields, H_NFIELDS);
		if (!rc)
			rc = parse_health_fields(p, &svc->health[i], fields, what, inner);
		free(what);
		free(inner);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* A path component ".." would let an entry escape the folder a deploy
 * SOURCE lays out, so it is refused outright. */
static int has_dotdot(const char *path)
{
	for (const char *s = path; *s; ) {
		const char *end = strchrnul(s, '/');
		if (end - s == 2 && s[0] == '.' && s[1] == '.')
			return 1;
		s = *end ? end + 1 : end;
	}
	return 0;
}

static int parse_files(struct config_parser *p, struct service *svc, const struct field *f,
		       const char *where)
{
	if (f->value->type != YAML_SEQUENCE_NODE)
		return node_error(p, f->value, "'files'%s must be a list of paths, not %s", where,
				  node_kind(f->value));
	size_t n = sequence_length(f->value);
	svc->files = xcalloc(n, sizeof(*svc->files));
	svc->nfiles = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = sequence_item(p, f->value, i);
		const char *text;

		if (scalar_text(p, item, "files", where, "a list of paths", &text) < 0)
			return -1;
		if (!*text || is_null(item))
			return node_error(p, item, "empty path in 'files'%s", where);
		if (has_dotdot(text))
			return node_error(p, item, "file '%s' of service '%s' must not contain '..'",
					  text, svc->name);
		svc->files[i].written = xstrdup(text);
		svc->files[i].path = path_absolute(p->cfg->dir, text);
		svc->files[i].mark = node_mark(item);
	}
	return 0;
}

enum {
	S_MANAGER, S_RUN, S_UNIT, S_SERVICE, S_START, S_STOP, S_STATUS, S_WORKDIR, S_ENV,
	S_FILES, S_HEALTH, S_AFTER, S_POLICY, S_NFIELDS
};

static int parse_manager(struct config_parser *p, struct service *svc, const struct field *f,
			 const char *where)
{
	const char *text;
	if (scalar_text(p, f->value, "manager", where, "a string", &text) < 0)
		return -1;
	if (service_manager_named(text, &svc->manager))
		return 0;
	char *names = service_manager_names();
	int rc = node_error(p, f->value, "unknown manager '%s'%s (use %s)", text, where, names);
	free(names);
	return rc;
}

/* The manager table (core/manager/manager.h) says which keys belong to a
 * manager alone, and which it requires. */
static int check_manager_keys(struct config_parser *p, const struct service *svc,
			      const struct field *fields, const char *where)
{
	const char *own = config_manager_name(svc->manager);
	for (size_t m = 0; m < service_manager_count(); m++) {
		const struct manager_key *key = service_manager_of((enum manager_kind)m)->keys;
		for (; key->name; key++) {
			size_t i = 0;
			while (i < S_NFIELDS && strcmp(fields[i].name, key->name))
				i++;
			/* A key the parser does not read is never there: its
			 * manager's author learns it at the first service. */
			const struct field *f = i < S_NFIELDS ? &fields[i] : NULL;
			if (f && f->key && m != svc->manager)
				return node_error(p, f->key, "'%s' does not apply to manager '%s'%s",
						  f->name, own, where);
			if ((!f || !f->key) && key->required && m == svc->manager)
				return mark_error(p->err, p->path, svc->mark,
						  "service '%s' needs '%s' (manager '%s')", svc->name,
						  key->name, own);
		}
	}
	return 0;
}

static int parse_service_fields(struct config_parser *p, struct service *svc, size_t index,
				struct field *fields, const char *where)
{
	if (fields[S_MANAGER].key && parse_manager(p, svc, &fields[S_MANAGER], where) < 0)
		return -1;
	if (check_manager_keys(p, svc, fields, where) < 0)
		return -1;

	if (fields[S_RUN].key && get_string_list(p, &fields[S_RUN], where, 0, &svc->run) < 0)
		return -1;
	if (fields[S_UNIT].key && get_string(p, &fields[S_UNIT], where, &svc->unit) < 0)
		return -1;
	if (fields[S_START].key && get_string_list(p, &fields[S_START], where, 0, &svc->start) < 0)
		return -1;
	if (fields[S_STOP].key && get_string_list(p, &fields[S_STOP], where, 0, &svc->stop) < 0)
		return -1;
	if (fields[S_STATUS].key &&
	    get_string_list(p, &fields[S_STATUS], where, 0, &svc->status) < 0)
		return -1;
	if (fields[S_SERVICE].key &&
	    get_string(p, &fields[S_SERVICE], where, &svc->compose_service) < 0)
		return -1;
	if (service_manager_of(svc->manager)->configure)
		service_manager_of(svc->manager)->configure(svc);
	if (fields[S_WORKDIR].key) {
		if (get_path(p, &fields[S_WORKDIR], where, &svc->workdir) < 0)
			return -1;
	} else {
		svc->workdir = xstrdup(p->cfg->dir);
	}
	if (fields[S_ENV].key &&
	    get_key_values(p, &fields[S_ENV], where, KV_ENV, &svc->env, &svc->nenv) < 0)
		return -1;
	if (fields[S_FILES].key && parse_files(p, svc, &fields[S_FILES], where) < 0)
		return -1;
	if (fields[S_HEALTH].key && parse_health(p, svc, &fields[S_HEALTH], where) < 0)
		return -1;
	if (fields[S_AFTER].key) {
		struct argv_list after = { NULL, 0 };
		int rc = get_string_list(p, &fields[S_AFTER], where, 1, &after);
		svc->after = after.v;
		svc->nafter = after.n;
		if (rc < 0)
			return -1;
		p->after[index] = fields[S_AFTER].value;
	}
	svc->policy = p->cfg->policy;
	if (fields[S_POLICY].key) {
		char *what = xstrfmt("'policy' of service '%s'", svc->name);
		int rc = parse_policy(p, fields[S_POLICY].value, what, &svc->policy);
		free(what);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int parse_service(struct config_parser *p, size_t index, yaml_node_t *node)
{
	struct service *svc = &p->cfg->services[index];
	struct field fields[S_NFIELDS] = {
		FIELD(S_MANAGER, "manager"), FIELD(S_RUN, "run"), FIELD(S_UNIT, "unit"),
		FIELD(S_SERVICE, "service"), FIELD(S_START, "start"), FIELD(S_STOP, "stop"),
		FIELD(S_STATUS, "status"), FIELD(S_WORKDIR, "workdir"), FIELD(S_ENV, "env"),
		FIELD(S_FILES, "files"), FIELD(S_HEALTH, "health"), FIELD(S_AFTER, "after"),
		FIELD(S_POLICY, "policy"),
	};
	char *what = xstrfmt("service '%s'", svc->name);
	char *where = xstrfmt(" in %s", what);

	int rc = read_mapping(p, node, what, where, fields, S_NFIELDS);
	if (!rc)
		rc = parse_service_fields(p, svc, index, fields, where);
	free(what);
	free(where);
	return rc;
}

/* Names end up in --services lists, log file names and messages, so they
 * stay plain. */
static int valid_name(const char *name)
{
	if (!isalnum((unsigned char)name[0]))
		return 0;
	for (const char *s = name; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

int read_entry_name(struct config_parser *p, const yaml_node_t *mapping, size_t i,
		    const char *section, const char *kind, const char **name)
{
	yaml_node_pair_t *pairs = mapping->data.mapping.pairs.start;
	yaml_node_t *key = node_at(p, pairs[i].key);

	if (scalar_text(p, key, section, "", "a mapping of names", name) < 0)
		return -1;
	if (!valid_name(*name))
		return node_error(p, key, "invalid %s name '%s' (use letters, digits, '.', '_' and '-')",
				  kind, *name);
	/* The keys before it were read the same way: they are text. */
	for (size_t j = 0; j < i; j++) {
		const yaml_node_t *earlier = node_at(p, pairs[j].key);
		if (!strcmp(scalar_value(earlier), *name))
			return node_error(p, key, "duplicate %s '%s' (first at line %d)", kind, *name,
					  node_mark(earlier).line);
	}
	return 0;
}

static int parse_services(struct config_parser *p, yaml_node_t *node)
{
	struct config *cfg = p->cfg;
	if (node->type != YAML_MAPPING_NODE)
		return node_error(p, node, "'services' must be a mapping of service names to services");
	size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
	if (!n)
		return node_error(p, node, "'services' is empty; describe at least one service");

	cfg->services = xcalloc(n, sizeof(*cfg->services));
	cfg->nservices = n;
	p->after = xcalloc(n, sizeof(*p->after));
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
		const char *name;

		if (read_entry_name(p, node, i, "services", "service", &name) < 0)
			return -1;
		cfg->services[i].name = xstrdup(name);
		cfg->services[i].mark = node_mark(node_at(p, pair->key));
		if (parse_service(p, i, node_at(p, pair->value)) < 0)
			return -1;
	}
	return 0;
}


enum { T_KEEP, T_STATE_DIR, T_POLICY, T_SERVICES, T_SOURCE, T_DATABASES, T_COMPOSE, T_NFIELDS };

static int parse_source(struct config_parser *p, yaml_node_t *node)
{
	struct field fields[] = { { .name = "git" }, { .name = "build" } };
	if (read_mapping(p, node, "'source'", " in 'source'", fields, 2) < 0)
		return -1;
	if (!fields[0].key)
		return node_error(p, node, "'source' needs 'git' (the repository to deploy from)");
	if (get_path(p, &fields[0], " in 'source'", &p->cfg->source_git) < 0)
		return -1;
	if (fields[1].key &&
	    get_string_list(p, &fields[1], " in 'source'", 0, &p->cfg->source_build) < 0)
		return -1;
	return 0;
}

/*
 * The `compose:` section: the project name and compose files every compose
 * call names (-p, -f), copied into each compose service so that its
 * manager needs nothing else. A project name docker would refuse is an
 * error here, at its line, rather than at the first start.
 */
static int parse_compose(struct config_parser *p, yaml_node_t *node)
{
	struct field fields[] = { { .name = "project" }, { .name = "files" } };
	char *project = NULL;
	struct argv_list files = { 0 };
	int rc = -1;

	if (read_mapping(p, node, "'compose'", " in 'compose'", fields, 2) < 0)
		return -1;
	if (fields[0].key) {
		if (get_string(p, &fields[0], " in 'compose'", &project) < 0)
			goto out;
		if (strspn(project, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(project) ||
		    !isalnum((unsigned char)project[0])) {
			node_error(p, fields[0].value,
				   "'project' in 'compose' must be lowercase letters, digits, "
				   "'_' and '-', starting with a letter or digit");
			goto out;
		}
	}
	if (fields[1].key &&
	    get_string_list(p, &fields[1], " in 'compose'", 0, &files) < 0)
		goto out;
	for (size_t s = 0; s < p->cfg->nservices; s++) {
		struct service *svc = &p->cfg->services[s];
		if (svc->manager != MANAGER_COMPOSE)
			continue;
		svc->compose_project = project ? xstrdup(project) : NULL;
		svc->compose_files.n = files.n;
		svc->compose_files.v = xcalloc(files.n + 1, sizeof(char *));
		for (size_t f = 0; f < files.n; f++)
			svc->compose_files.v[f] = files.v[f][0] == '/' ? xstrdup(files.v[f])
				: path_join(p->cfg->dir, files.v[f]);
	}
	rc = 0;
out:
	free(project);
	argv_list_free(&files);
	return rc;
}

/* Top-level keys in an order that lets services inherit the global policy
 * and check their files against the state folder, wherever they are written. */
static int parse_document(struct config_parser *p)
{
	struct config *cfg = p->cfg;
	struct field fields[T_NFIELDS] = {
		FIELD(T_KEEP, "keep_releases"), FIELD(T_STATE_DIR, "state_dir"),
		FIELD(T_POLICY, "policy"), FIELD(T_SERVICES, "services"),
		FIELD(T_SOURCE, "source"), FIELD(T_DATABASES, "databases"),
		FIELD(T_COMPOSE, "compose"),
	};
	yaml_node_t *root = yaml_document_get_root_node(&p->doc);
	struct config_mark start = { 1, 1 };

	if (!root)
		return mark_error(p->err, p->path, start,
				  "empty config; describe at least one service under 'services'");
	if (read_mapping(p, root, "the config", "", fields, T_NFIELDS) < 0)
		return -1;
	if (fields[T_KEEP].key) {
		long keep;
		if (get_integer(p, &fields[T_KEEP], "", 1, INT_MAX, &keep) < 0)
			return -1;
		cfg->keep_releases = (int)keep;
	}
	if (fields[T_STATE_DIR].key) {
		if (get_path(p, &fields[T_STATE_DIR], "", &cfg->state_dir) < 0)
			return -1;
	} else {
		cfg->state_dir = path_join(cfg->dir, ".lastgood");
	}
	if (fields[T_POLICY].key &&
	    parse_policy(p, fields[T_POLICY].value, "'policy'", &cfg->policy) < 0)
		return -1;
	if (fields[T_SOURCE].key && parse_source(p, fields[T_SOURCE].value) < 0)
		return -1;
	if (!fields[T_SERVICES].key)
		return node_error(p, root, "missing 'services'; describe at least one service");
	if (parse_services(p, fields[T_SERVICES].value) < 0)
		return -1;
	if (check_after(p) < 0 || check_paths(p) < 0)
		return -1;
	if (fields[T_COMPOSE].key && parse_compose(p, fields[T_COMPOSE].value) < 0)
		return -1;
	/* After the services: a database names them, and its paths are
	 * judged against their files. */
	if (fields[T_DATABASES].key && parse_databases(p, fields[T_DATABASES].value) < 0)
		return -1;
	return 0;
}

static struct config_mark offset_mark(const struct config_parser *p, size_t offset)
{
	struct config_mark mark = { 1, 1 };
	for (size_t i = 0; i < offset && i < p->len; i++) {
		if (p->text[i] == '\n') {
			mark.line++;
			mark.column = 1;
		} else {
			mark.column++;
		}
	}
	return mark;
}

static int syntax_error(struct config_parser *p, const yaml_parser_t *parser)
{
	struct config_mark mark = {
		(int)parser->problem_mark.line + 1,
		(int)parser->problem_mark.column + 1,
	};
	const char *problem = parser->problem ? parser->problem : "cannot parse";

	if (parser->error == YAML_MEMORY_ERROR)
		return error_set(p->err, ERROR_FAILED, "%s: out of memory parsing YAML", p->path);
	/* The reader reports bad encoding by byte offset, not line. */
	if (parser->error == YAML_READER_ERROR)
		return mark_error(p->err, p->path, offset_mark(p, parser->problem_offset),
				  "invalid YAML: %s", problem);
	if (parser->context)
		return mark_error(p->err, p->path, mark, "invalid YAML: %s (%s at line %d)", problem,
				  parser->context, (int)parser->context_mark.line + 1);
	return mark_error(p->err, p->path, mark, "invalid YAML: %s", problem);
}

/* Load the first document and make sure nothing follows it: a second
 * document would otherwise be ignored without a word. */
static int load_document(struct config_parser *p)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = -1;

	if (!yaml_parser_initialize(&parser))
		return error_set(p->err, ERROR_FAILED, "%s: cannot initialize the YAML parser", p->path);
	yaml_parser_set_input_string(&parser, (const unsigned char *)p->text, p->len);
	if (!yaml_parser_load(&parser, &p->doc)) {
		syntax_error(p, &parser);
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(p, &parser);
		yaml_document_delete(&p->doc);
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		struct config_mark mark = {
			(int)extra.start_mark.line + 1,
			(int)extra.start_mark.column + 1,
		};
		mark_error(p->err, p->path, mark, "a second YAML document; the config is one document");
		yaml_document_delete(&extra);
		yaml_document_delete(&p->doc);
		goto out;
	}
	yaml_document_delete(&extra);
	rc = 0;
out:
	yaml_parser_delete(&parser);
	return rc;
}

static int set_config_dir(struct config *cfg, struct error *err)
{
	char *dir = path_dirname(cfg->path);
	if (dir[0] == '/') {
		cfg->dir = path_absolute("/", dir);
	} else {
		char *cwd = get_current_dir_name();
		if (!cwd) {
			free(dir);
			return error_errno(err, ERROR_FAILED, errno, "cannot find the current folder");
		}
		cfg->dir = path_absolute(cwd, dir);
		free(cwd);
	}
	free(dir);
	cfg->file = path_join(cfg->dir, path_basename(cfg->path));
	return 0;
}

int config_parse(const char *path, const char *text, size_t len, struct config *cfg,
		 struct error *err)
{
	struct config_parser p = { .path = path, .text = text, .len = len, .cfg = cfg, .err = err };
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = xstrdup(path);
	/* Kept for the record: each release stores the config it was made with. */
	cfg->text = xmalloc(len + 1);
	if (len)
		memcpy(cfg->text, text, len);
	cfg->text[len] = '\0';
	cfg->text_len = len;
	cfg->keep_releases = 10;
	cfg->policy = default_policy;
	if (set_config_dir(cfg, err) < 0)
		goto out;
	if (load_document(&p) < 0)
		goto out;
	rc = parse_document(&p);
	yaml_document_delete(&p.doc);
out:
	free(p.after);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

int config_load(const char *path, struct config *cfg, struct error *err)
{
	struct strbuf text = STRBUF_INIT;
	memset(cfg, 0, sizeof(*cfg));
	if (fs_read_file(path, &text, err) < 0) {
		if (!path_exists(path))
			error_set(err, ERROR_USAGE, "%s: no such file (create one with 'lastgood init')",
				  path);
		err->kind = ERROR_USAGE;
		strbuf_release(&text);
		return -1;
	}
	int rc = config_parse(path, text.buf, text.len, cfg, err);
	strbuf_release(&text);
	return rc;
}

void argv_list_free(struct argv_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i]);
	free(list->v);
}

static void key_values_free(struct key_value *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		if (kv[i].secret)
			secret_free(kv[i].value);
		else
			free(kv[i].value);
	}
	free(kv);
}

static void health_check_free(struct health_check *check)
{
	secret_free(check->url);
	free(check->username);
	secret_free(check->password);
	key_values_free(check->json, check->njson);
	free(check->contains);
	key_values_free(check->headers, check->nheaders);
	free(check->address);
	free(check->send);
	free(check->expect);
	argv_list_free(&check->argv);
}

static void service_free(struct service *svc)
{
	free(svc->name);
	argv_list_free(&svc->run);
	free(svc->unit);
	free(svc->compose_service);
	free(svc->compose_project);
	argv_list_free(&svc->compose_files);
	argv_list_free(&svc->start);
	argv_list_free(&svc->stop);
	argv_list_free(&svc->status);
	free(svc->workdir);
	key_values_free(svc->env, svc->nenv);
	for (size_t i = 0; i < svc->nfiles; i++) {
		free(svc->files[i].written);
		free(svc->files[i].path);
	}
	free(svc->files);
	for (size_t i = 0; i < svc->nhealth; i++)
		health_check_free(&svc->health[i]);
	free(svc->health);
	for (size_t i = 0; i < svc->nafter; i++)
		free(svc->after[i]);
	free(svc->after);
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		service_free(&cfg->services[i]);
	free(cfg->services);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->file);
	if (cfg->text)
		explicit_bzero(cfg->text, cfg->text_len);
	free(cfg->text);
	free(cfg->state_dir);
	free(cfg->source_git);
	argv_list_free(&cfg->source_build);
	for (size_t i = 0; i < cfg->ndatabases; i++)
		database_free(&cfg->databases[i]);
	free(cfg->databases);
	memset(cfg, 0, sizeof(*cfg));
}
/* Whole non-negative numbers only; the cap keeps every duration usable as
 * an int number of milliseconds (poll, timers). */
int config_parse_duration(const char *text, long *ms)
{
	const char *s = text;
	long value = 0, unit;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (value > (INT_MAX - (*s - '0')) / 10)
			return -1;
		value = value * 10 + (*s - '0');
	}
	if (!*s || !strcmp(s, "s"))
		unit = 1000;
	else if (!strcmp(s, "ms"))
		unit = 1;
	else if (!strcmp(s, "m"))
		unit = 60000;
	else
		return -1;
	if (value > INT_MAX / unit)
		return -1;
	*ms = value * unit;
	return 0;
}
