/*
 * A growable, always NUL-terminated byte string.
 *
 *   struct strbuf sb = STRBUF_INIT;
 *   strbuf_addf(&sb, "%s/%s", dir, name);
 *   use(sb.buf);
 *   strbuf_release(&sb);
 *
 * buf is never NULL, even for an empty strbuf; strbuf_detach hands the
 * buffer to the caller (who frees it) and leaves the strbuf empty.
 */
#ifndef LG_STRBUF_H
#define LG_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};

extern char strbuf_empty[];
#define STRBUF_INIT { strbuf_empty, 0, 0 }

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
char *strbuf_detach(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void strbuf_setlen(struct strbuf *sb, size_t len);
/* v in base 8 or 10, at least min_digits digits (zero-padded): what
 * "%0*llo" and "%0*llu" write, without printf's cost, for lines written
 * once per file of a tree. */
void strbuf_add_uint(struct strbuf *sb, unsigned long long v, unsigned base, int min_digits);
/* Append s with \t, \n, \\ and other control bytes escaped as C escapes. */
void strbuf_add_escaped(struct strbuf *sb, const char *s);
/* Undo strbuf_add_escaped on src[0..len); -1 on a malformed escape. */
int strbuf_add_unescaped(struct strbuf *sb, const char *src, size_t len);

#endif
