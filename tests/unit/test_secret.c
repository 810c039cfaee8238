/*
 * Unit tests for masking secrets in text: long secrets wherever they
 * appear, short ones (a PIN, a one-character query value) where they stand
 * as a whole token, and a URL's secret parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/secret.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* text with secret masked, as a new string */
static char *scrubbed(const char *text, const char *secret)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, text);
	secret_scrub(&sb, secret);
	return strbuf_detach(&sb);
}

static void expect_scrub(const char *text, const char *secret, const char *want)
{
	char *got = scrubbed(text, secret);
	assert_string_equal(got, want);
	free(got);
}

static void test_long_secret_masked_everywhere(void **unused)
{
	(void)unused;
	expect_scrub("token=S3cr3tTok;xS3cr3tTokx", "S3cr3tTok", "token=***;x***x");
	expect_scrub("nothing here", "S3cr3tTok", "nothing here");
}

static void test_short_secret_masked_as_a_token(void **unused)
{
	(void)unused;
	/* a 5-character PIN, in the places a program echoes it */
	expect_scrub("pin is 48213", "48213", "pin is ***");
	expect_scrub("PIN=48213; retry", "48213", "PIN=***; retry");
	expect_scrub("\"48213\"", "48213", "\"***\"");
	expect_scrub("48213", "48213", "***");
	expect_scrub("a 48213\nb 48213.", "48213", "a ***\nb ***.");
	/* inside a longer number or word it is not the secret shown */
	expect_scrub("port 482130 and x48213", "48213", "port 482130 and x48213");
	expect_scrub("id_48213", "48213", "id_48213");
	/* a hit inside a word does not hide a later whole one */
	expect_scrub("x48213 48213", "48213", "x48213 ***");
}

static void test_one_character_secret(void **unused)
{
	(void)unused;
	expect_scrub("a broken release", "a", "*** broken release");
	expect_scrub("value=1, version 10", "1", "value=***, version 10");
	expect_scrub("caf\xc3\xa9 1", "\xa9", "caf\xc3\xa9 1");
}

static void test_empty_and_null_secrets_change_nothing(void **unused)
{
	(void)unused;
	expect_scrub("text", "", "text");
	expect_scrub("text", NULL, "text");
}

static void test_url_parts_scrubbed(void **unused)
{
	(void)unused;
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, "GET /h?v=1 failed: v is 1, token S3cr3tTok, user ops");
	secret_scrub_url(&sb, "http://ops:pw12@host/h?v=1&token=S3cr3tTok");
	assert_string_equal(sb.buf, "GET /h?v=*** failed: v is ***, token ***, user ops");
	strbuf_release(&sb);
	char *shown = secret_redact_url("http://ops:pw@host/h?v=1#x");
	assert_string_equal(shown, "http://ops:***@host/h?v=***#***");
	free(shown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_secret_masked_everywhere),
		cmocka_unit_test(test_short_secret_masked_as_a_token),
		cmocka_unit_test(test_one_character_secret),
		cmocka_unit_test(test_empty_and_null_secrets_change_nothing),
		cmocka_unit_test(test_url_parts_scrubbed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
