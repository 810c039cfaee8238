/*
 * What the commands print: any bytes made valid JSON, and stdout checked,
 * so that no output is silently wrong or lost.
 */
#include "cmd/command.h"
#include "util/alloc.h"
#include "util/strbuf.h"

#include <errno.h>
#include <jansson.h>
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

void command_print_json(json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(value);
}

/*
 * Everything a command printed must have reached stdout: its buffer is
 * flushed and the descriptor closed here, where a full disk or an I/O
 * error shows. A command that succeeded then fails; one that failed keeps
 * its exit code, whose meaning is more precise. The message says that the
 * output was lost and, for a command that changes anything, that what it
 * did is in the record (a snapshot's release number, a deploy's result).
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
		changes ? "; what the command did is recorded: see 'lastgood history' and "
			  "'lastgood releases'" : "");
	return rc ? rc : EXIT_FAILED;
}
