/*
 * The services of a config by name and in order: the `after` graph checked
 * for unknown names and cycles, the start order it gives, and --services
 * selections.
 */
#include "core/config/internal.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

size_t service_index(const struct config *cfg, const char *name)
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

int check_after(struct config_parser *p)
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


size_t config_service_of_path(const struct config *cfg, const char *path)
{
	for (size_t s = 0; s < cfg->nservices; s++)
		for (size_t f = 0; f < cfg->services[s].nfiles; f++)
			if (!strcmp(cfg->services[s].files[f].path, path))
				return s;
	return cfg->nservices;
}

const struct service *config_find_service(const struct config *cfg, const char *name)
{
	size_t i = service_index(cfg, name);
	return i == NO_SERVICE ? NULL : &cfg->services[i];
}

const struct database *config_find_database(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ndatabases; i++)
		if (!strcmp(cfg->databases[i].name, name))
			return &cfg->databases[i];
	return NULL;
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
			return error_set(err, ERROR_USAGE, "empty service name in '%s'", names);
		}
		for (i = 0; i < cfg->nservices; i++)
			if (!strncmp(cfg->services[i].name, a, len) && !cfg->services[i].name[len])
				break;
		if (i == cfg->nservices) {
			struct strbuf known = STRBUF_INIT;
			for (size_t k = 0; k < cfg->nservices; k++)
				strbuf_addf(&known, "%s%s", k ? ", " : "", cfg->services[k].name);
			error_set(err, ERROR_USAGE, "unknown service '%.*s' (known: %s)", (int)len, a,
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
