/*
 * What the commands print: names made safe for a terminal, any bytes made
 * valid JSON, and stdout checked, so that no output is silently wrong or
 * lost.
 */
#include "cmd/command.h"
#include "util/alloc.h"
#include "util/strbuf.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The length of the UTF-8 sequence s starts (at most len bytes), 0 when it
 * is not a valid one: a stray continuation byte, a truncated sequence, an
 * overlong form, a surrogate, or beyond U+10FFFF. *code gets its code point.
 */
static size_t utf8_sequence(const unsigned char *s, size_t len, unsigned *code)
{
	size_t n;
	unsigned c, min;

	if (s[0] < 0x80) {
		*code = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*code = c;
	return n;
}

/* Whether a name must be quoted: it holds a control character (C0, DEL or
 * C1, which terminals act on), bytes that are not UTF-8, a quote or a
 * backslash (so quoting is never ambiguous), or the " -> " that shows a
 * symbolic link's target. */
static int name_needs_quotes(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name);
	unsigned code;

	if (strstr(name, " -> "))
		return 1;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence(p + i, len - i, &code);
		if (!n || code < 0x20 || (code >= 0x7f && code < 0xa0) || code == '"' || code == '\\')
			return 1;
		i += n;
	}
	return 0;
}

void command_quote_name(struct strbuf *sb, const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name);
	unsigned code;

	if (!name_needs_quotes(name)) {
		strbuf_addstr(sb, name);
		return;
	}
	strbuf_addch(sb, '"');
	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence(p + i, len - i, &code);
		if (n && code >= 0xa0) {
			strbuf_add(sb, p + i, n);
			i += n;
			continue;
		}
		if (n && code >= 0x20 && code < 0x7f) {
			if (code == '"' || code == '\\')
				strbuf_addch(sb, '\\');
			strbuf_addch(sb, (char)code);
		} else if (n && code == '\n') {
			strbuf_addstr(sb, "\\n");
		} else if (n && code == '\t') {
			strbuf_addstr(sb, "\\t");
		} else {
			/* a control character, or bytes that are not UTF-8: each byte */
			size_t bytes = n ? n : 1;
			for (size_t j = 0; j < bytes; j++)
				strbuf_addf(sb, "\\x%02x", p[i + j]);
			i += bytes;
			continue;
		}
		i += n;
	}
	strbuf_addch(sb, '"');
}

char *command_quoted_name(const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	command_quote_name(&sb, name);
	return strbuf_detach(&sb);
}

/* s with each byte that is not part of valid UTF-8 replaced by U+FFFD;
 * *changed says whether any was. */
static char *utf8_repaired(const char *s, int *changed)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	struct strbuf sb = STRBUF_INIT;
	unsigned code;

	*changed = 0;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence(p + i, len - i, &code);
		if (n) {
			strbuf_add(&sb, p + i, n);
			i += n;
		} else {
			strbuf_addstr(&sb, "\xef\xbf\xbd");
			*changed = 1;
			i++;
		}
	}
	return strbuf_detach(&sb);
}

json_t *command_json_text(const char *s)
{
	int changed;
	if (!s)
		return NULL;
	char *valid = utf8_repaired(s, &changed);
	json_t *value = json_string(valid);
	free(valid);
	if (!value) {
		fprintf(stderr, "lastgood: out of memory building JSON output\n");
		abort();
	}
	return value;
}

void command_json_set_name(json_t *obj, const char *key, const char *name)
{
	int changed;
	free(utf8_repaired(name, &changed));
	json_object_set_new(obj, key, command_json_text(name));
	if (!changed)
		return;
	size_t len = strlen(name);
	unsigned char *encoded = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock(encoded, (const unsigned char *)name, (int)len);
	char *exact = xstrfmt("%s_base64", key);
	json_object_set_new(obj, exact, command_json_text((const char *)encoded));
	free(exact);
	free(encoded);
}

json_t *command_json_pack(const char *fmt, ...)
{
	json_error_t error;
	va_list ap;
	va_start(ap, fmt);
	json_t *value = json_vpack_ex(&error, 0, fmt, ap);
	va_end(ap);
	/* Every string is made valid before it is packed, so only a wrong
	 * format or exhausted memory gets here: what xmalloc does then. */
	if (!value) {
		fprintf(stderr, "lastgood: cannot build JSON output: %s\n", error.text);
		abort();
	}
	return value;
}

/* Set once a JSON value went out: a failure then needs no report of its own. */
static int json_printed;

int command_json_printed(void)
{
	return json_printed;
}

void command_print_json(json_t *value)
{
	json_printed = 1;
	json_dumpf(value, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(value);
}

/*
 * Everything a command printed must have reached stdout: its buffer is
 * flushed and the descriptor closed here, where a full disk or an I/O
 * error shows. A command that failed keeps its exit code, whose meaning is
 * more precise. One that succeeded then fails: with exit 1 when it changed
 * nothing, else with exit 4, since 1 promises the old release is live and
 * a deploy whose output was lost has put the new one live. The message
 * says that the output was lost and, for a command that changed anything,
 * that what it did is in the record (a snapshot's release number, a
 * deploy's result).
 */
int command_finish_output(int rc, int changes)
{
	errno = 0;
	int e = fflush(stdout) != 0 ? errno : 0;
	int failed = e || ferror(stdout);
	if (fclose(stdout) != 0) {
		failed = 1;
		e = e ? e : errno;
	}
	if (!failed)
		return rc;
	fprintf(stderr, "lastgood: cannot write the output: %s%s\n", e ? strerror(e) : "write error",
		changes ? "; what the command did is recorded: 'lastgood status' says which "
			  "release is live, 'lastgood history' what happened" : "");
	if (rc)
		return rc;
	return changes ? EXIT_NEEDS_ATTENTION : EXIT_FAILED;
}
