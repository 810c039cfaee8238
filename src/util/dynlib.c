/*
 * dlopen and dlsym with lastgood's errors.
 */
#include "util/dynlib.h"
#include "util/error.h"

#include <dlfcn.h>
#include <string.h>

void *dynlib_open(const char *soname, const char *package, struct error *err)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		error_set(err, ERROR_FAILED, "cannot load %s (Debian package %s): %s", soname,
			  package, dlerror());
	return lib;
}

dynlib_fn dynlib_symbol(void *lib, const char *soname, const char *name, struct error *err)
{
	void *sym = dlsym(lib, name);
	dynlib_fn fn = NULL;
	if (!sym) {
		error_set(err, ERROR_FAILED, "%s has no '%s'", soname, name);
		return NULL;
	}
	/* POSIX guarantees a symbol's address converts to a function pointer. */
	memcpy(&fn, &sym, sizeof(fn));
	return fn;
}
