/*
 * Libraries that only some commands need, loaded the first time one of
 * them is: linked in, libcurl alone brings some forty shared libraries
 * (LDAP, Kerberos, GnuTLS, ...) that the dynamic loader mapped, relocated
 * and initialised before every command, about 15 of the 20 ms that
 * `lastgood status` took (docs/BENCHMARKS.md).
 *
 *   void *lib = dynlib_open("libcurl.so.4", "libcurl4", err);
 *   fn = (__typeof__(fn))dynlib_symbol(lib, "libcurl.so.4", "curl_easy_init", err);
 *
 * Or a whole list of functions into a struct of typed pointers, inside
 * a function that returns -1 on failure:
 *
 *   #define LOAD(name) DYNLIB_LOAD(curl, lib, "libcurl.so.4", "curl_", name, err)
 *   CURL_FUNCTIONS(LOAD)
 *
 * A library stays loaded for the life of the process. Failures are
 * ERROR_FAILED errors naming the library and the Debian package that has it.
 */
#ifndef LG_DYNLIB_H
#define LG_DYNLIB_H

struct error;

typedef void (*dynlib_fn)(void);

void *dynlib_open(const char *soname, const char *package, struct error *err);
dynlib_fn dynlib_symbol(void *lib, const char *soname, const char *name, struct error *err);

/* Set table.name to the library's function prefix##name, typed as the
 * member; when the library lacks it, return -1 (err set) from the
 * function this is used in. */
#define DYNLIB_LOAD(table, lib, soname, prefix, name, err)                                  \
	if (!((table).name = (__typeof__((table).name))dynlib_symbol(lib, soname, prefix #name, \
								       err)))             \
		return -1;

#endif
