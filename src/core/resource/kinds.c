/*
 * The resource kinds a release holds, in the order the engine prepares
 * and commits them (and undoes them in reverse): a new kind is a file in
 * this folder and a line here.
 */
#include "core/resource/resource.h"

const struct resource_kind *const resource_kinds[] = {
	/* a migration tool reads its migrations from the live files: the
	 * way down runs while the newer files are still live, the way up
	 * once they are (tool.c) */
	&resource_tool_early,
	&resource_files,
	&resource_schema,
	&resource_tool_late,
	/* last: the names are tagged once every other part is in place, and
	 * tagged back first */
	&resource_images,
};
const size_t resource_kind_count = sizeof(resource_kinds) / sizeof(resource_kinds[0]);
