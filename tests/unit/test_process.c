/*
 * Unit tests for running programs (util/process.h): the output cap that
 * keeps the end of a child's output and says how much went before it, and
 * the spawn options a child is set up with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/error.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The output of argv, run with at most max bytes kept. */
static void run_capped(char **argv, size_t max, struct strbuf *out)
{
	struct process_options opts = { .output_max = max };
	struct error err = ERROR_INIT;
	int status = -1;
	assert_int_equal(process_run_with(argv, &opts, out, &status, &err), 0);
	assert_int_equal(status, 0);
}

static void test_output_under_the_cap_is_whole(void **unused)
{
	(void)unused;
	char *argv[] = { "seq", "1", "20", NULL };
	struct strbuf out = STRBUF_INIT;
	run_capped(argv, 51, &out);
	assert_int_equal(out.len, 51);
	assert_memory_equal(out.buf, "1\n2\n3\n", 6);
	strbuf_release(&out);
}

/* "1\n2\n...20\n" is 51 bytes: its last 16 start inside "15\n", which
 * goes whole; its last 12 start at "17\n". */
static void test_output_keeps_whole_lines_at_the_end(void **unused)
{
	(void)unused;
	char *argv[] = { "seq", "1", "20", NULL };
	struct strbuf out = STRBUF_INIT;
	run_capped(argv, 16, &out);
	assert_string_equal(out.buf, "[36 bytes of earlier output dropped]\n16\n17\n18\n19\n20\n");
	strbuf_reset(&out);
	run_capped(argv, 12, &out);
	assert_string_equal(out.buf, "[39 bytes of earlier output dropped]\n17\n18\n19\n20\n");
	strbuf_release(&out);
}

/* Output with no line end left in what is kept is cut mid-line. */
static void test_output_without_lines_keeps_its_last_bytes(void **unused)
{
	(void)unused;
	char *argv[] = { "head", "-c", "1000", "/dev/zero", NULL };
	struct strbuf out = STRBUF_INIT;
	static const char note[] = "[900 bytes of earlier output dropped]\n";
	run_capped(argv, 100, &out);
	assert_int_equal(out.len, sizeof(note) - 1 + 100);
	assert_memory_equal(out.buf, note, sizeof(note) - 1);
	strbuf_release(&out);
}

/* The default cap: a build's whole log does not stay in memory, its end
 * does, line after line up to the last. */
static void test_default_cap_keeps_the_last_64_kib(void **unused)
{
	(void)unused;
	char *argv[] = { "seq", "1", "200000", NULL };
	struct strbuf out = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int status;
	assert_int_equal(process_run(argv, &out, &status, &err), 0);
	assert_int_equal(status, 0);
	assert_true(out.len <= PROCESS_OUTPUT_MAX + 64);
	assert_true(out.len > PROCESS_OUTPUT_MAX - 16);

	size_t dropped;
	int used;
	assert_int_equal(sscanf(out.buf, "[%zu bytes of earlier output dropped]\n%n", &dropped,
				&used), 1);
	char *next, *line = out.buf + used;
	long expect = strtol(line, &next, 10);
	assert_true(expect > 1);
	for (; *line; line = next + 1, expect++) {
		assert_int_equal(strtol(line, &next, 10), expect);
		assert_int_equal(*next, '\n');
	}
	assert_int_equal(expect, 200001);
	strbuf_release(&out);
}

static void test_output_all_keeps_everything(void **unused)
{
	(void)unused;
	char *argv[] = { "seq", "1", "200000", NULL };
	struct strbuf out = STRBUF_INIT;
	run_capped(argv, PROCESS_OUTPUT_ALL, &out);
	assert_int_equal(out.len, 1288895);
	strbuf_release(&out);
}

static void test_spawn_new_group_and_missing_program(void **unused)
{
	(void)unused;
	char *argv[] = { "true", NULL };
	char *missing[] = { "/nonexistent/lastgood-test", NULL };
	struct process_spawn_options opts = { .flags = PROCESS_SEARCH_PATH | PROCESS_NEW_GROUP };
	pid_t pid;
	int status;

	assert_int_equal(process_spawn(argv, &opts, &pid), 0);
	/* The group exists as long as its leader does, zombie or not. */
	assert_int_equal(getpgid(pid), pid);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(process_spawn(missing, NULL, &pid), ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_under_the_cap_is_whole),
		cmocka_unit_test(test_output_keeps_whole_lines_at_the_end),
		cmocka_unit_test(test_output_without_lines_keeps_its_last_bytes),
		cmocka_unit_test(test_default_cap_keeps_the_last_64_kib),
		cmocka_unit_test(test_output_all_keeps_everything),
		cmocka_unit_test(test_spawn_new_group_and_missing_program),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
