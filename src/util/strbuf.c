/*
 * Growable strings, plus the escaping used by every line-oriented format
 * lastgood writes (manifests, the journal) so paths may hold any byte.
 */
#include "util/strbuf.h"
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char strbuf_empty[1];

void strbuf_init(struct strbuf *sb)
{
	sb->buf = strbuf_empty;
	sb->len = 0;
	sb->alloc = 0;
}

void strbuf_release(struct strbuf *sb)
{
	if (sb->alloc)
		free(sb->buf);
	strbuf_init(sb);
}

char *strbuf_detach(struct strbuf *sb)
{
	char *p = sb->alloc ? sb->buf : xstrdup("");
	strbuf_init(sb);
	return p;
}

void strbuf_reset(struct strbuf *sb)
{
	strbuf_setlen(sb, 0);
}

void strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;
	if (need <= sb->alloc)
		return;
	if (!sb->alloc)
		sb->buf = NULL;
	size_t n = sb->alloc ? sb->alloc : 64;
	while (n < need)
		n *= 2;
	sb->buf = xrealloc(sb->buf, n);
	sb->alloc = n;
	if (sb->len == 0)
		sb->buf[0] = '\0';
}

void strbuf_setlen(struct strbuf *sb, size_t len)
{
	if (!sb->alloc)
		return;
	sb->len = len;
	sb->buf[len] = '\0';
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
	strbuf_grow(sb, len);
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, char c)
{
	strbuf_add(sb, &c, 1);
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int len = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (len <= 0)
		return;
	strbuf_grow(sb, (size_t)len);
	vsnprintf(sb->buf + sb->len, (size_t)len + 1, fmt, ap);
	sb->len += (size_t)len;
}

void strbuf_add_escaped(struct strbuf *sb, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '\\': strbuf_addstr(sb, "\\\\"); break;
		case '\t': strbuf_addstr(sb, "\\t"); break;
		case '\n': strbuf_addstr(sb, "\\n"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				strbuf_addf(sb, "\\x%02x", *p);
			else
				strbuf_addch(sb, (char)*p);
		}
	}
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int strbuf_add_unescaped(struct strbuf *sb, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (src[i] != '\\') {
			strbuf_addch(sb, src[i]);
			continue;
		}
		if (++i >= len)
			return -1;
		switch (src[i]) {
		case '\\': strbuf_addch(sb, '\\'); break;
		case 't': strbuf_addch(sb, '\t'); break;
		case 'n': strbuf_addch(sb, '\n'); break;
		case 'x': {
			if (i + 2 >= len)
				return -1;
			int hi = hex_value(src[i + 1]), lo = hex_value(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			strbuf_addch(sb, (char)(hi * 16 + lo));
			i += 2;
			break;
		}
		default:
			return -1;
		}
	}
	return 0;
}

void strbuf_add_uint(struct strbuf *sb, unsigned long long v, unsigned base, int min_digits)
{
	char digits[24];   /* 2^64 has 22 octal digits */
	int n = 0;
	do {
		digits[n++] = (char)('0' + v % base);
		v /= base;
	} while (v || n < min_digits);
	strbuf_grow(sb, (size_t)n);
	while (n)
		sb->buf[sb->len++] = digits[--n];
	sb->buf[sb->len] = '\0';
}
