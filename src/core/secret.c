/*
 * Secrets: finding the credential parts of a URL once, for both masking a
 * URL that is shown and scrubbing text that may have echoed one back.
 */
#include "core/secret.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/*
 * A secret this long or longer is masked wherever it appears in other
 * text. A shorter one (a PIN, a `?v=1`) is masked only where it stands as
 * a whole token, between characters that cannot be part of a word (see
 * secret_word_byte) or at either end of the text: masking every "1" or
 * every "a" of a message would make it unreadable, and a short secret
 * inside a longer word ("4821" in "48210") is not that secret shown.
 */
#define SECRET_SCRUB_MIN 6

typedef void (*secret_span_fn)(const char *at, size_t len, void *ctx);

/*
 * Call fn, in order, for each secret part of url (see secret.h); a part
 * may be empty ("?token=", "#"). The scheme counts only when "://" ends
 * the first component, so a URL inside a query value is not mistaken for
 * the URL itself.
 */
static void url_secret_spans(const char *url, secret_span_fn fn, void *ctx)
{
	const char *rest = url;
	size_t scheme = strcspn(url, ":/?#");

	if (!strncmp(url + scheme, "://", 3))
		rest = url + scheme + 3;
	size_t authority = strcspn(rest, "/?#");
	const char *at = memrchr(rest, '@', authority);
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		if (colon)
			fn(colon + 1, (size_t)(at - colon - 1), ctx);
		else
			fn(rest, (size_t)(at - rest), ctx);
		rest = at + 1;
	}
	rest += strcspn(rest, "?#");
	if (*rest == '?') {
		rest++;
		while (*rest && *rest != '#') {
			size_t param = strcspn(rest, "&#");
			const char *eq = memchr(rest, '=', param);
			if (eq)
				fn(eq + 1, (size_t)(rest + param - eq - 1), ctx);
			else if (param)
				fn(rest, param, ctx);
			rest += param;
			if (*rest == '&')
				rest++;
		}
	}
	if (*rest == '#')
		fn(rest + 1, strlen(rest + 1), ctx);
}

struct redaction {
	struct strbuf out;
	const char *copied;      /* the URL up to here is in out */
};

static void redact_span(const char *at, size_t len, void *ctx)
{
	struct redaction *r = ctx;
	strbuf_add(&r->out, r->copied, (size_t)(at - r->copied));
	strbuf_addstr(&r->out, SECRET_MASK);
	r->copied = at + len;
}

char *secret_redact_url(const char *url)
{
	struct redaction r = { STRBUF_INIT, url };
	url_secret_spans(url, redact_span, &r);
	strbuf_addstr(&r.out, r.copied);
	return strbuf_detach(&r.out);
}

/* Letters, digits, '_' and every byte of a multibyte UTF-8 character: what
 * a word, a number or a token is made of. */
static int secret_word_byte(char c)
{
	return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Whether the occurrence of a short secret at hit (len bytes) in
 * [start, end) stands alone (SECRET_SCRUB_MIN). */
static int secret_whole_token(const char *start, const char *end, const char *hit, size_t len)
{
	return (hit == start || !secret_word_byte(hit[-1])) &&
	       (hit + len == end || !secret_word_byte(hit[len]));
}

static void scrub_span(const char *secret, size_t len, void *ctx)
{
	struct strbuf *text = ctx;
	const char *start = text->buf, *end = text->buf + text->len;
	const char *from = start, *copied = start, *hit;
	struct strbuf out = STRBUF_INIT;

	if (!len)
		return;
	while ((hit = memmem(from, (size_t)(end - from), secret, len))) {
		if (len < SECRET_SCRUB_MIN && !secret_whole_token(start, end, hit, len)) {
			from = hit + 1;
			continue;
		}
		strbuf_add(&out, copied, (size_t)(hit - copied));
		strbuf_addstr(&out, SECRET_MASK);
		from = copied = hit + len;
	}
	if (copied == start) {
		strbuf_release(&out);
		return;
	}
	strbuf_add(&out, copied, (size_t)(end - copied));
	/* The old text held the secret: it goes the way secrets go. */
	explicit_bzero(text->buf, text->len);
	strbuf_release(text);
	*text = out;
}

void secret_scrub(struct strbuf *text, const char *secret)
{
	if (secret)
		scrub_span(secret, strlen(secret), text);
}

void secret_scrub_url(struct strbuf *text, const char *url)
{
	if (url)
		url_secret_spans(url, scrub_span, text);
}

void secret_free(char *value)
{
	if (value)
		explicit_bzero(value, strlen(value));
	free(value);
}
