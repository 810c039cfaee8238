/*
 * libFuzzer target for the config parser: config_parse on arbitrary bytes,
 * then everything a command does with a config it accepted. Besides the
 * sanitizers, it holds config_parse to its promises: an error is one line
 * naming the file, and a failed parse leaves nothing allocated.
 */
#include "core/config.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Never read: an absolute path keeps the parser away from the current
 * folder, and relative paths in the input resolve below it. */
#define FUZZ_CONFIG_PATH "/fuzz/lastgood.yml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_config_broken(const char *what, const struct error *err)
{
	fprintf(stderr, "fuzz_config: %s: '%s'\n", what, err->msg);
	abort();
}

static void fuzz_config_check_error(const struct config *cfg, const struct error *err)
{
	if (cfg->path || cfg->services || cfg->nservices)
		fuzz_config_broken("a failed parse left a config behind", err);
	if (!err->msg[0])
		fuzz_config_broken("a failed parse without a message", err);
	for (const unsigned char *c = (const unsigned char *)err->msg; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			fuzz_config_broken("an error message that is not one line", err);
	if (err->kind == ERROR_USAGE &&
	    strncmp(err->msg, FUZZ_CONFIG_PATH ":", strlen(FUZZ_CONFIG_PATH ":")))
		fuzz_config_broken("an error message that does not name the file", err);
}

/* What the dispatcher and the commands do with a loaded config. */
static void fuzz_config_use(const struct config *cfg)
{
	struct strbuf names = STRBUF_INIT;
	struct error err = ERROR_INIT;
	unsigned char *selected;

	free(config_start_order(cfg));
	for (size_t i = 0; i < cfg->nservices; i++) {
		if (config_find_service(cfg, cfg->services[i].name) != &cfg->services[i])
			fuzz_config_broken("a service not found by its own name", &err);
		strbuf_addf(&names, "%s%s", i ? "," : "", cfg->services[i].name);
		config_manager_name(cfg->services[i].manager);
	}
	if (config_select_services(cfg, names.buf, &selected, &err) < 0)
		fuzz_config_broken("the services' own names not selectable", &err);
	free(selected);
	strbuf_release(&names);
	/* Only lstat below /fuzz, which does not exist. */
	config_check_files(cfg, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct error err = ERROR_INIT;

	if (config_parse(FUZZ_CONFIG_PATH, (const char *)data, size, &cfg, &err) < 0) {
		fuzz_config_check_error(&cfg, &err);
		return 0;
	}
	fuzz_config_use(&cfg);
	config_free(&cfg);
	return 0;
}
