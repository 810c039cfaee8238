/*
 * Allocation wrappers that never return NULL.
 *
 * lastgood cannot do anything useful once memory is exhausted, and checking
 * every allocation by hand invites mistakes on the error paths, so these
 * abort with a message instead. Use them everywhere instead of malloc and
 * friends.
 */
#ifndef LG_ALLOC_H
#define LG_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A freshly allocated formatted string (printf syntax). */
char *xstrfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *array (of *alloc elements of elem_size) so it holds at least need. */
void grow_array(void **array, size_t *alloc, size_t need, size_t elem_size);
#define ALLOC_GROW(array, need, alloc) \
	grow_array((void **)&(array), &(alloc), (need), sizeof(*(array)))

#endif
