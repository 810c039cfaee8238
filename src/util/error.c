/*
 * Filling struct error; see error.h for the convention.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(struct error *err, enum error_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->kind = kind;
	return -1;
}

int error_errno(struct error *err, enum error_kind kind, int errno_value, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	size_t len = strlen(err->msg);
	snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errno_value));
	err->kind = kind;
	return -1;
}

const char *error_kind_name(enum error_kind kind)
{
	switch (kind) {
	case ERROR_USAGE: return "usage";
	case ERROR_ROLLED_BACK: return "rolled-back";
	case ERROR_ATTENTION: return "needs-attention";
	case ERROR_BUSY: return "busy";
	default: return "failed";
	}
}

void error_prefix(struct error *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	size_t plen = strlen(prefix);
	if (plen + 2 >= sizeof(err->msg))
		plen = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, plen);
	memcpy(err->msg + plen, ": ", 2);
	size_t rest = sizeof(err->msg) - plen - 3;
	size_t olen = strnlen(old, rest);
	memcpy(err->msg + plen + 2, old, olen);
	err->msg[plen + 2 + olen] = '\0';
}

void error_clear(struct error *err)
{
	err->kind = ERROR_NONE;
	err->msg[0] = '\0';
}

void error_undo_failed(struct error *err, const struct error *undo_err)
{
	/* err->msg is both the first failure and the destination. */
	char first[sizeof(err->msg)];
	memcpy(first, err->msg, sizeof(first));
	error_set(err, ERROR_ATTENTION, "%s; and undoing it failed: %s; run 'lastgood recover'",
		  first, undo_err->msg);
}
