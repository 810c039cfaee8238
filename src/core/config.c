/*
 * lastgood.yml with libyaml: the document is loaded whole, walked into
 * struct config, then cross-checked (after, cycles, overlapping paths) while
 * the nodes and their marks are still at hand for FILE:LINE:COL messages.
 */
#include "core/config.h"
#include "core/manager/manager.h"
#include "core/secret.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define NO_SERVICE SIZE_MAX

static const struct policy default_policy = {
	.start_timeout_ms = 30000,
	.interval_ms = 200,
	.timeout_ms = 5000,
	.stabilize_ms = 0,
	.stop_timeout_ms = 10000,
	.retries = 2,
};

struct config_parser {
	const char *path;
	const char *text;
	size_t len;
	yaml_document_t doc;
	struct config *cfg;
	struct error *err;
	yaml_node_t **after;     /* per service: its `after` list, for marks */
};

/* One known key of a mapping; read_mapping fills key and value. */
struct field {
	const char *name;
	yaml_node_t *key;
	yaml_node_t *value;
};
#define FIELD(index, key_name) [index] = { .name = key_name }

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
	error_set(err, EXIT_USAGE, "%s", escaped.buf);
	strbuf_release(&line);
	strbuf_release(&escaped);
	return -1;
}

static int mark_error(struct error *err, const char *path, struct config_mark mark,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int mark_error(struct error *err, const char *path, struct config_mark mark,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mark_errorv(err, path, mark, fmt, ap);
	va_end(ap);
	return -1;
}

static struct config_mark node_mark(const yaml_node_t *node)
{
	struct config_mark mark = {
		(int)node->start_mark.line + 1,
		(int)node->start_mark.column + 1,
	};
	return mark;
}

static int node_error(struct config_parser *p, const yaml_node_t *node,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int node_error(struct config_parser *p, const yaml_node_t *node,
		      const char *fmt, ...)
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

static yaml_node_t *sequence_item(struct config_parser *p, const yaml_node_t *node, size_t i)
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

/* What was found where something else belongs, for messages. */
static const char *node_kind(const yaml_node_t *node)
{
	if (node->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (node->type == YAML_SEQUENCE_NODE)
		return "a list";
	return is_null(node) ? "empty" : "a string";
}

/* The text of a scalar; a list or mapping where text belongs is an error
 * naming the key. A NUL byte would silently cut the text, so it is refused. */
static int scalar_text(struct config_parser *p, const yaml_node_t *node, const char *key,
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

/*
 * Check that node is a mapping whose keys are all among fields, each once,
 * and point every field present at its key and value. `what` names the
 * mapping in a type error, `where` (" in service 'api'") ends the others.
 */
static int read_mapping(struct config_parser *p, yaml_node_t *node, const char *what,
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

static int get_string(struct config_parser *p, const struct field *f, const char *where,
		      char **out)
{
	const char *text;
	if (scalar_text(p, f->value, f->name, where, "a string", &text) < 0)
		return -1;
	if (!*text || is_null(f->value))
		return node_error(p, f->key, "'%s'%s must not be empty", f->name, where);
	*out = xstrdup(text);
	return 0;
}

/* A folder or file named relative to the config's folder. */
static int get_path(struct config_parser *p, const struct field *f, const char *where,
		    char **out)
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

/* A YAML list of scalars as a NULL-terminated vector; out->n is set first
 * so config_free releases a half-read list. */
static int get_string_list(struct config_parser *p, const struct field *f, const char *where,
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

/*
 * The long form of an env entry, {value: TEXT, secret: BOOL}, for values
 * that must never be shown. Messages name the variable, never the value.
 */
static int get_env_entry(struct config_parser *p, yaml_node_t *node, const char *name,
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
 * an env value may also be written in the long form (get_env_entry). */
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
			if (get_env_entry(p, value, k, inner, &v, &secret) < 0)
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
static int valid_service_name(const char *name)
{
	if (!isalnum((unsigned char)name[0]))
		return 0;
	for (const char *s = name; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
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
		yaml_node_t *key = node_at(p, pair->key);
		const char *name;

		if (scalar_text(p, key, "services", "", "a mapping of names", &name) < 0)
			return -1;
		if (!valid_service_name(name))
			return node_error(p, key,
					  "invalid service name '%s' (use letters, digits, '.', '_' and '-')",
					  name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cfg->services[j].name, name))
				return node_error(p, key, "duplicate service '%s' (first at line %d)",
						  name, cfg->services[j].mark.line);
		cfg->services[i].name = xstrdup(name);
		cfg->services[i].mark = node_mark(key);
		if (parse_service(p, i, node_at(p, pair->value)) < 0)
			return -1;
	}
	return 0;
}

static size_t service_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		if (!strcmp(cfg->services[i].name, name))
			return i;
	return NO_SERVICE;
}

/* Depth-first over `after`; meeting a service still on the stack closes a
 * cycle, reported at the entry that closes it. */
static int visit_after(struct config_parser *p, size_t i, unsigned char *state, size_t *stack,
		       size_t depth)
{
	const struct service *svc = &p->cfg->services[i];
	state[i] = 1;
	stack[depth] = i;
	for (size_t k = 0; k < svc->nafter; k++) {
		size_t j = service_index(p->cfg, svc->after[k]);
		if (state[j] == 1) {
			struct strbuf cycle = STRBUF_INIT;
			size_t from = 0;
			while (stack[from] != j)
				from++;
			for (size_t s = from; s <= depth; s++)
				strbuf_addf(&cycle, "%s -> ", p->cfg->services[stack[s]].name);
			strbuf_addstr(&cycle, p->cfg->services[j].name);
			node_error(p, sequence_item(p, p->after[i], k), "cycle in 'after': %s",
				   cycle.buf);
			strbuf_release(&cycle);
			return -1;
		}
		if (!state[j] && visit_after(p, j, state, stack, depth + 1) < 0)
			return -1;
	}
	state[i] = 2;
	return 0;
}

static int check_after(struct config_parser *p)
{
	const struct config *cfg = p->cfg;
	for (size_t i = 0; i < cfg->nservices; i++)
		for (size_t k = 0; k < cfg->services[i].nafter; k++)
			if (service_index(cfg, cfg->services[i].after[k]) == NO_SERVICE)
				return node_error(p, sequence_item(p, p->after[i], k),
						  "unknown service '%s' in 'after' of service '%s'",
						  cfg->services[i].after[k], cfg->services[i].name);

	unsigned char *state = xcalloc(cfg->nservices, 1);
	size_t *stack = xcalloc(cfg->nservices, sizeof(*stack));
	int rc = 0;
	for (size_t i = 0; i < cfg->nservices && !rc; i++)
		if (!state[i])
			rc = visit_after(p, i, state, stack, 0);
	free(state);
	free(stack);
	return rc;
}

/* 1 when inner is outer or lies below it (both absolute, normalized). */
static int path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);
	if (!strcmp(outer, "/"))
		return 1;
	return !strncmp(inner, outer, n) && (inner[n] == '/' || !inner[n]);
}

/* 1 when one of a and b is the other or lies below it. */
static int paths_overlap(const char *a, const char *b)
{
	return path_within(a, b) || path_within(b, a);
}

/* Every `files` entry in config order, flattened: the unit the path rules
 * below compare (caller frees *entries). */
struct entry_ref {
	const struct service *svc;
	const struct service_file *file;
};

static size_t config_entries(const struct config *cfg, struct entry_ref **entries)
{
	size_t n = 0, alloc = 0;
	*entries = NULL;
	for (size_t s = 0; s < cfg->nservices; s++)
		for (size_t f = 0; f < cfg->services[s].nfiles; f++) {
			ALLOC_GROW(*entries, n + 1, alloc);
			(*entries)[n].svc = &cfg->services[s];
			(*entries)[n].file = &cfg->services[s].files[f];
			n++;
		}
	return n;
}

/*
 * A release replaces each entry whole, so no two entries may overlap: one
 * path would be switched twice, and a release would claim two contents for
 * one file. paths[i] is entry i's path as the caller judges it (as written
 * for config_load, resolved for config_check_live_paths): one rule for both.
 * The error is reported at the later entry.
 */
static int check_entries_apart(const char *config_path, const struct entry_ref *entries,
			       char *const *paths, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++) {
			const char *how;
			if (!strcmp(paths[i], paths[j]))
				how = "is also";
			else if (path_within(paths[i], paths[j]))
				how = "is inside";
			else if (path_within(paths[j], paths[i]))
				how = "holds";
			else
				continue;
			return mark_error(err, config_path, entries[i].file->mark,
					  "file '%s' of service '%s' %s '%s' of service '%s' (line %d)",
					  entries[i].file->written, entries[i].svc->name, how,
					  entries[j].file->written, entries[j].svc->name,
					  entries[j].file->mark.line);
		}
	return 0;
}

/* An entry that is or holds the config file: lastgood records the config
 * with every release itself, and a switch must never replace the file it
 * was started with. */
static int check_not_config_file(const struct config *cfg, const struct entry_ref *e,
				 const char *entry_path, const char *config_file,
				 struct error *err)
{
	if (!path_within(config_file, entry_path))
		return 0;
	return mark_error(err, cfg->path, e->file->mark,
			  "file '%s' of service '%s' %s the config file '%s' (lastgood records "
			  "the config with each release itself)", e->file->written, e->svc->name,
			  strcmp(config_file, entry_path) ? "holds" : "is", cfg->path);
}

/*
 * Checks on the paths as written: none may hold the config's folder or
 * touch the state folder (a rollback would replace its own store), none
 * may be the config file, and no two may overlap.
 */
static int check_paths(struct config_parser *p)
{
	const struct config *cfg = p->cfg;
	struct entry_ref *entries;
	size_t n = config_entries(cfg, &entries);
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		const struct service_file *file = entries[i].file;
		paths[i] = file->path;
		if (path_within(cfg->dir, file->path))
			rc = mark_error(p->err, p->path, file->mark,
					"file '%s' of service '%s' %s the config folder",
					file->written, entries[i].svc->name,
					strcmp(cfg->dir, file->path) ? "holds" : "is");
		else if (paths_overlap(file->path, cfg->state_dir))
			rc = mark_error(p->err, p->path, file->mark,
					"file '%s' of service '%s' overlaps the state folder '%s'",
					file->written, entries[i].svc->name, cfg->state_dir);
		else
			rc = check_not_config_file(cfg, &entries[i], file->path, cfg->file, p->err);
	}
	if (!rc)
		rc = check_entries_apart(p->path, entries, paths, n, p->err);
	free(paths);
	free(entries);
	return rc;
}

enum { T_KEEP, T_STATE_DIR, T_POLICY, T_SERVICES, T_SOURCE, T_NFIELDS };

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

/* Top-level keys in an order that lets services inherit the global policy
 * and check their files against the state folder, wherever they are written. */
static int parse_document(struct config_parser *p)
{
	struct config *cfg = p->cfg;
	struct field fields[T_NFIELDS] = {
		FIELD(T_KEEP, "keep_releases"), FIELD(T_STATE_DIR, "state_dir"),
		FIELD(T_POLICY, "policy"), FIELD(T_SERVICES, "services"),
		FIELD(T_SOURCE, "source"),
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
		return error_set(p->err, EXIT_FAILED, "%s: out of memory parsing YAML", p->path);
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
		return error_set(p->err, EXIT_FAILED, "%s: cannot initialize the YAML parser", p->path);
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
			return error_errno(err, EXIT_FAILED, errno, "cannot find the current folder");
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
			error_set(err, EXIT_USAGE, "%s: no such file (create one with 'lastgood init')",
				  path);
		err->code = EXIT_USAGE;
		strbuf_release(&text);
		return -1;
	}
	int rc = config_parse(path, text.buf, text.len, cfg, err);
	strbuf_release(&text);
	return rc;
}

static void argv_list_free(struct argv_list *list)
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
	memset(cfg, 0, sizeof(*cfg));
}

int config_check_files(const struct config *cfg, struct error *err)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		for (size_t f = 0; f < svc->nfiles; f++) {
			const struct service_file *file = &svc->files[f];
			struct stat st;
			/* Not there yet is fine: a release that introduces it
			 * brings it, and until then it is recorded as absent. */
			if (!lstat(file->path, &st) || errno == ENOENT || errno == ENOTDIR)
				continue;
			return mark_error(err, cfg->path, file->mark,
					  "cannot inspect file '%s' of service '%s': %s",
					  file->written, svc->name, strerror(errno));
		}
	}
	return 0;
}

const struct service *config_find_service(const struct config *cfg, const char *name)
{
	size_t i = service_index(cfg, name);
	return i == NO_SERVICE ? NULL : &cfg->services[i];
}

static int after_placed(const struct config *cfg, size_t i, const unsigned char *placed)
{
	const struct service *svc = &cfg->services[i];
	for (size_t k = 0; k < svc->nafter; k++) {
		size_t j = service_index(cfg, svc->after[k]);
		if (j != NO_SERVICE && !placed[j])
			return 0;
	}
	return 1;
}

/* Repeatedly take the first service, in file order, whose `after` is all
 * placed: a topological order that keeps independent services as written. */
size_t *config_start_order(const struct config *cfg)
{
	size_t n = cfg->nservices;
	size_t *order = xcalloc(n, sizeof(*order));
	unsigned char *placed = xcalloc(n, 1);
	size_t count = 0;

	while (count < n) {
		size_t i = 0;
		while (i < n && (placed[i] || !after_placed(cfg, i, placed)))
			i++;
		if (i == n)
			break;
		placed[i] = 1;
		order[count++] = i;
	}
	/* Only an unchecked config can hold a cycle; keep the result a full
	 * permutation anyway. */
	for (size_t i = 0; i < n && count < n; i++)
		if (!placed[i])
			order[count++] = i;
	free(placed);
	return order;
}

/*
 * path (absolute, normalized) resolved as far as it exists: symbolic links
 * followed, ".." applied. A last name that is a link is kept as written,
 * since lastgood replaces that name itself (a link listed under `files` is
 * switched as a link, not where it leads).
 */
static char *path_physical(const char *path)
{
	struct strbuf head = STRBUF_INIT;
	struct stat sb;
	char *real = NULL;

	if (lstat(path, &sb) == 0 && !S_ISLNK(sb.st_mode) && (real = realpath(path, NULL)))
		return real;
	strbuf_addstr(&head, path);
	while (!real) {
		char *slash = strrchr(head.buf, '/');
		strbuf_setlen(&head, slash ? (size_t)(slash - head.buf) : 0);
		real = realpath(head.len ? head.buf : "/", NULL);
	}
	char *joined = xstrfmt("%s/%s", real, path + head.len);
	char *physical = path_absolute("/", joined);
	free(joined);
	free(real);
	strbuf_release(&head);
	return physical;
}

int config_check_live_paths(const struct config *cfg, const char *state_dir,
			    const char *origin, struct error *err)
{
	char *cwd = get_current_dir_name();
	if (!cwd)
		return error_errno(err, EXIT_FAILED, errno, "cannot find the current folder");
	char *lexical = path_absolute(cwd, state_dir);
	char *physical = path_physical(lexical);
	char *config_file = path_physical(cfg->file);
	char *config_real = realpath(cfg->file, NULL);   /* NULL when it is gone */
	struct entry_ref *entries;
	size_t n = config_entries(cfg, &entries);
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	int rc = 0;

	free(cwd);
	for (size_t i = 0; i < n; i++)
		paths[i] = path_physical(entries[i].file->path);
	for (size_t i = 0; i < n && !rc; i++) {
		const struct service_file *file = entries[i].file;
		if (paths_overlap(file->path, lexical) || paths_overlap(paths[i], physical))
			rc = mark_error(err, cfg->path, file->mark,
					"file '%s' of service '%s' overlaps the state folder "
					"'%s'%s", file->written, entries[i].svc->name, state_dir,
					origin);
		else if (check_not_config_file(cfg, &entries[i], paths[i], config_file, err) < 0 ||
			 (config_real &&
			  check_not_config_file(cfg, &entries[i], paths[i], config_real, err) < 0))
			rc = -1;
	}
	if (!rc)
		rc = check_entries_apart(cfg->path, entries, paths, n, err);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(entries);
	free(config_file);
	free(config_real);
	free(lexical);
	free(physical);
	return rc;
}

int config_check_parents(const struct config *cfg, struct error *err)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		for (size_t f = 0; f < svc->nfiles; f++) {
			const struct service_file *file = &svc->files[f];
			int fd, missing;
			if (fs_open_parent(file->path, 0, &fd, &missing, err) < 0) {
				error_prefix(err, "%s:%d:%d: file '%s' of service '%s'", cfg->path,
					     file->mark.line, file->mark.column, file->written,
					     svc->name);
				return -1;
			}
			if (fd >= 0)
				close(fd);
		}
	}
	return 0;
}

/*
 * Which config a state folder belongs to, as two facts in its meta table:
 * the config file's absolute path, and its path relative to the state
 * folder, both with the folders on the way resolved (the file's own name
 * kept, so a config that is a link to the version in use may be flipped).
 * Either one matching is enough: a whole stack folder moved elsewhere keeps
 * the relative path, a state folder moved alone (named by --state-dir)
 * keeps the absolute one.
 */
#define BINDING_ABSOLUTE "config_path"
#define BINDING_RELATIVE "config_path_from_state"

/* to (absolute, normalized) as seen from the folder from (likewise). */
static char *path_relative(const char *from, const char *to)
{
	struct strbuf rel = STRBUF_INIT;
	const char *f = from, *t = to;
	for (;;) {   /* past the folders both lie in */
		f += strspn(f, "/");
		t += strspn(t, "/");
		size_t len = strcspn(f, "/");
		if (!len || len != strcspn(t, "/") || strncmp(f, t, len))
			break;
		f += len;
		t += len;
	}
	for (f += strspn(f, "/"); *f; f += strspn(f, "/")) {
		strbuf_addstr(&rel, "../");
		f += strcspn(f, "/");
	}
	strbuf_addstr(&rel, t);
	return strbuf_detach(&rel);
}

struct binding {
	char *absolute;
	char *relative;
};

static void binding_of(const struct config *cfg, const struct state *st, struct binding *b)
{
	char *cwd = get_current_dir_name();
	char *dir = path_absolute(cwd ? cwd : "/", st->dir);
	char *state_physical = path_physical(dir);
	b->absolute = path_physical(cfg->file);
	b->relative = path_relative(state_physical, b->absolute);
	free(cwd);
	free(dir);
	free(state_physical);
}

static void binding_clear(struct binding *b)
{
	free(b->absolute);
	free(b->relative);
}

static int binding_record(struct state *st, const struct binding *b, struct error *err)
{
	if (state_set_meta(st, BINDING_ABSOLUTE, b->absolute, err) < 0 ||
	    state_set_meta(st, BINDING_RELATIVE, b->relative, err) < 0)
		return -1;
	return 0;
}

int config_bind_state(const struct config *cfg, struct state *st, int record,
		      struct error *err)
{
	struct binding now;
	char *absolute = state_get_meta(st, BINDING_ABSOLUTE);
	char *relative = state_get_meta(st, BINDING_RELATIVE);
	int rc = 0;

	binding_of(cfg, st, &now);
	int same_absolute = absolute && !strcmp(absolute, now.absolute);
	int same_relative = relative && !strcmp(relative, now.relative);
	if (!absolute && !relative) {
		/* a new state folder, or one from before bindings: ours now */
		if (record)
			rc = binding_record(st, &now, err);
	} else if (same_absolute || same_relative) {
		/* moved with its stack, or alone: remember where it is now */
		if (record && !(same_absolute && same_relative))
			rc = binding_record(st, &now, err);
	} else {
		rc = error_set(err, EXIT_USAGE, "state folder '%s' belongs to config '%s', not to "
			       "'%s': give this config a state folder of its own (state_dir or "
			       "--state-dir), or run 'lastgood rebind' if it replaces that one",
			       st->dir, absolute ? absolute : relative, now.absolute);
	}
	binding_clear(&now);
	free(absolute);
	free(relative);
	return rc;
}

int config_rebind_state(const struct config *cfg, struct state *st, char **previous,
			struct error *err)
{
	struct binding now;
	binding_of(cfg, st, &now);
	*previous = state_get_meta(st, BINDING_ABSOLUTE);
	int rc = binding_record(st, &now, err);
	binding_clear(&now);
	return rc;
}

/* Replace every occurrence of needle in text by with; how many there were. */
static size_t replace_all(struct strbuf *text, const char *needle, const char *with)
{
	size_t len = strlen(needle), count = 0;
	struct strbuf out = STRBUF_INIT;
	const char *from = text->buf, *end = text->buf + text->len, *hit;

	if (!len)
		return 0;
	while ((hit = memmem(from, (size_t)(end - from), needle, len))) {
		strbuf_add(&out, from, (size_t)(hit - from));
		strbuf_addstr(&out, with);
		from = hit + len;
		count++;
	}
	if (!count) {
		strbuf_release(&out);
		return 0;
	}
	strbuf_add(&out, from, (size_t)(end - from));
	explicit_bzero(text->buf, text->len);
	strbuf_release(text);
	*text = out;
	return count;
}

/* Mask one secret value wherever it appears in text. -1 when it appears
 * nowhere although text is its own config's (own): then it is written
 * there in another form (YAML escapes), which may still show it. */
static int mask_value(struct strbuf *text, const char *value, const char *with, int own)
{
	if (!value || !*value)
		return 0;
	return replace_all(text, value, with) || !own ? 0 : -1;
}

int config_mask_secrets(const struct config *cfg, struct strbuf *text, int own)
{
	int rc = 0;
	/* URLs whole first: a password may also be part of one. */
	for (size_t s = 0; s < cfg->nservices; s++)
		for (size_t i = 0; i < cfg->services[s].nhealth; i++) {
			const char *url = cfg->services[s].health[i].url;
			char *shown = url ? secret_redact_url(url) : NULL;
			if (shown && strcmp(shown, url) && mask_value(text, url, shown, own) < 0)
				rc = -1;
			secret_scrub_url(text, url);   /* its parts, wherever else they are */
			free(shown);
		}
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct service *svc = &cfg->services[s];
		for (size_t i = 0; i < svc->nenv; i++)
			if (svc->env[i].secret &&
			    mask_value(text, svc->env[i].value, SECRET_MASK, own) < 0)
				rc = -1;
		for (size_t i = 0; i < svc->nhealth; i++)
			if (mask_value(text, svc->health[i].password, SECRET_MASK, own) < 0)
				rc = -1;
	}
	return rc;
}

int config_restore(const struct config *cfg, long op, char **kept, struct error *err)
{
	const char *name = path_basename(cfg->file);
	char *tmp = xstrfmt(".%s.lastgood-%ld", name, op);
	struct stat sb;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	mode_t mode = 0644;
	int dir_fd, fd = -1, rc = -1, renamed = 0;

	*kept = NULL;
	if (fs_open_parent(cfg->file, 0, &dir_fd, NULL, err) < 0) {
		free(tmp);
		return -1;
	}
	if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			error_set(err, EXIT_USAGE, "cannot write config '%s': not a plain file "
				  "(a link is left for you to point)", cfg->file);
			goto out;
		}
		mode = sb.st_mode & 07777;
		uid = sb.st_uid;
		gid = sb.st_gid;
		/* The file replaced keeps a name: it may be an edit no release
		 * holds. A second name costs no copy and cannot be torn. */
		*kept = xstrfmt("%s.before-%ld", name, op);
		if (linkat(dir_fd, name, dir_fd, *kept, 0) < 0) {
			error_errno(err, EXIT_FAILED, errno, "cannot keep config '%s' as '%s'",
				    cfg->file, *kept);
			free(*kept);
			*kept = NULL;
			goto out;
		}
	} else if (errno != ENOENT) {
		error_errno(err, EXIT_FAILED, errno, "cannot inspect config '%s'", cfg->file);
		goto out;
	}
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fs_write_all(fd, cfg->text, cfg->text_len) < 0 ||
	    fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot write config '%s'", cfg->file);
		goto out;
	}
	if (fs_fsync_fd(fd, cfg->file, err) < 0)
		goto out;
	if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
		error_errno(err, EXIT_FAILED, errno, "cannot put config '%s' in place", cfg->file);
		goto out;
	}
	renamed = 1;
	rc = fs_fsync_fd(dir_fd, cfg->dir, err);
out:
	if (fd >= 0)
		close(fd);
	if (!renamed && fd >= 0)
		unlinkat(dir_fd, tmp, 0);
	if (!renamed && *kept) {
		unlinkat(dir_fd, *kept, 0);   /* a second name of the file still there */
		free(*kept);
		*kept = NULL;
	}
	close(dir_fd);
	free(tmp);
	return rc;
}

int config_select_services(const struct config *cfg, const char *names,
			   unsigned char **selected, struct error *err)
{
	unsigned char *mask = xcalloc(cfg->nservices, 1);
	*selected = NULL;
	if (!names) {
		memset(mask, 1, cfg->nservices);
		*selected = mask;
		return 0;
	}
	for (const char *s = names; ; ) {
		const char *end = strchrnul(s, ',');
		const char *a = s, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		size_t len = (size_t)(b - a), i;

		if (!len) {
			free(mask);
			return error_set(err, EXIT_USAGE, "empty service name in '%s'", names);
		}
		for (i = 0; i < cfg->nservices; i++)
			if (!strncmp(cfg->services[i].name, a, len) && !cfg->services[i].name[len])
				break;
		if (i == cfg->nservices) {
			struct strbuf known = STRBUF_INIT;
			for (size_t k = 0; k < cfg->nservices; k++)
				strbuf_addf(&known, "%s%s", k ? ", " : "", cfg->services[k].name);
			error_set(err, EXIT_USAGE, "unknown service '%.*s' (known: %s)", (int)len, a,
				  known.buf);
			strbuf_release(&known);
			free(mask);
			return -1;
		}
		mask[i] = 1;
		if (!*end)
			break;
		s = end + 1;
	}
	*selected = mask;
	return 0;
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

const char config_starter_text[] =
	"# lastgood.yml: the services on this host, the live files that make up\n"
	"# their release, and how to tell that they are healthy. Run 'lastgood check'\n"
	"# after editing. Relative paths are relative to this file's folder;\n"
	"# durations take ms, s or m (a bare number means seconds); unknown keys are\n"
	"# errors.\n"
	"\n"
	"# How many releases 'lastgood gc' keeps (at least 1).\n"
	"keep_releases: 10\n"
	"\n"
	"# Where the release store, the state database and the lock live\n"
	"# (default: .lastgood beside this file, mode 0700).\n"
	"# state_dir: .lastgood\n"
	"\n"
	"services:\n"
	"  # Each service: a name, a manager (how it is started and stopped), its\n"
	"  # files, its health checks and the services it starts after.\n"
	"  api:\n"
	"    # process: started and watched by lastgood (needs 'run')\n"
	"    # systemd: a unit (needs 'unit: NAME.service')\n"
	"    # compose: a Docker Compose service (optional 'service: NAME')\n"
	"    # command: your own 'start' and 'stop' (and optional 'status') argv\n"
	"    manager: process\n"
	"    # The program and its arguments as a list; no shell is involved.\n"
	"    run: [bin/api, --port, \"8000\"]\n"
	"    # workdir: .                 # where 'run' starts (default: this folder)\n"
	"    # Environment for its commands; a secret value is never shown or recorded.\n"
	"    # env: {API_ENV: production, API_KEY: {value: \"...\", secret: true}}\n"
	"    # The files and folders that make up a release of this service; a\n"
	"    # deploy or rollback replaces each entry whole. List yours, e.g.\n"
	"    # files: [bin/api, etc/api.env]\n"
	"    files: []\n"
	"    # Checks that must pass after a start; each is one of http, tcp, exec.\n"
	"    health:\n"
	"      - http: http://127.0.0.1:8000/health\n"
	"        json: {status: healthy}  # fields the JSON reply must hold\n"
	"        # status: 200            # exact status (default: any 2xx)\n"
	"        # contains: healthy      # text the body must contain\n"
	"        # headers: {Host: api.internal}\n"
	"        # username: ops          # basic auth; the password is never shown\n"
	"        # password: \"...\"\n"
	"        # timeout: 2s            # this check's own timeout\n"
	"      # - tcp: 127.0.0.1:8000     # connect (optional 'send' and 'expect')\n"
	"      # - exec: [bin/api, --self-test]   # exit status 0 passes\n"
	"    # Services started (and healthy) before this one.\n"
	"    after: []\n"
	"    # Any policy key below may be overridden for this service alone:\n"
	"    # policy: {start_timeout: 60s}\n"
	"\n"
	"  # A systemd service, as on a fleet node:\n"
	"  # operator:\n"
	"  #   manager: systemd\n"
	"  #   unit: zeitwork-operator.service\n"
	"  #   files: [/usr/local/bin/zeitwork-operator, /etc/zeitwork/operator.env]\n"
	"  #   health:\n"
	"  #     - http: http://127.0.0.1:8080/health\n"
	"  #       contains: healthy\n"
	"  #   after: [api]\n"
	"\n"
	"# Timing for every service: how long to wait, how often to check.\n"
	"policy:\n"
	"  start_timeout: 30s    # time to become healthy after a start\n"
	"  interval: 200ms       # pause between checks once a service answers\n"
	"  timeout: 5s           # how long one check may take\n"
	"  retries: 2            # failed checks before a service counts as failed\n"
	"  stabilize: 0s         # how long it must then stay healthy\n"
	"  stop_timeout: 10s     # SIGTERM, then SIGKILL after this long\n"
	"\n"
	"# Deploying from git ('lastgood deploy git:REV'): the repository, and a\n"
	"# build command run in the checkout.\n"
	"# source:\n"
	"#   git: .\n"
	"#   build: [make]\n";
