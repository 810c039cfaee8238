/*
 * Secrets: config values that carry credentials, and keeping them out of
 * everything lastgood shows or records (its output and messages, the state
 * database, the logs it writes itself).
 *
 * What is secret:
 *   - in a URL: the password of its user info (a user name without one may
 *     itself be a token, so it is secret whole), every query value (a
 *     parameter without "=" whole) and the fragment;
 *   - a health check's `password:`;
 *   - an `env:` entry written {value: ..., secret: true}.
 *
 * The config keeps these values as written, since the programs and
 * libraries lastgood hands them to need them. Whatever shows a URL shows
 * secret_redact_url's copy; text from elsewhere that may echo a secret back
 * (a response body, a library's error message) goes through secret_scrub
 * first:
 *
 *   char *shown = secret_redact_url("http://ops:pw@host/h?token=t#top");
 *           shown is "http://ops:***@host/h?token=***#***"
 *   secret_scrub(&response, check->password);
 *   secret_scrub_url(&response, check->url);
 *   secret_free(value);                  zeroes it, then frees it
 */
#ifndef LG_SECRET_H
#define LG_SECRET_H

struct strbuf;

/* What a secret is replaced by wherever it would be shown. */
#define SECRET_MASK "***"

/* A copy of url with every secret part replaced by SECRET_MASK (caller
 * frees); the scheme, host, port and path stay readable. */
char *secret_redact_url(const char *url);
/* Replace every occurrence of secret in text by SECRET_MASK, whatever its
 * length: one of SECRET_SCRUB_MIN (6) bytes or more anywhere, a shorter one
 * wherever it stands as a whole token, not inside a longer word or number
 * (secret.c). NULL and "" leave text alone. */
void secret_scrub(struct strbuf *text, const char *secret);
/* secret_scrub for each secret part of url (NULL: nothing). */
void secret_scrub_url(struct strbuf *text, const char *url);
/* free, after overwriting the text with zeros so that it does not linger
 * in freed memory (or a core dump); NULL is fine. */
void secret_free(char *value);

#endif
