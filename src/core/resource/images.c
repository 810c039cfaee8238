/*
 * The images a release ran: read from the running containers by the
 * compose manager, and kept in release_images (images.h).
 */
#include "core/resource/images.h"
#include "core/config.h"
#include "core/manager/manager.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The id as docker gives it, "sha256:" and 64 lowercase hex digits. */
#define IMAGE_ID_PREFIX "sha256:"
#define IMAGE_ID_HEX 64

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

static int image_id_valid(const char *id)
{
	size_t prefix = strlen(IMAGE_ID_PREFIX);
	return !strncmp(id, IMAGE_ID_PREFIX, prefix) && strlen(id) == prefix + IMAGE_ID_HEX &&
	       all_hex(id + prefix, IMAGE_ID_HEX);
}

const char *image_short_id(const char *id, char shown[IMAGE_SHORT_ID_SIZE])
{
	size_t prefix = strlen(IMAGE_ID_PREFIX);
	snprintf(shown, IMAGE_SHORT_ID_SIZE, "%s",
		 strncmp(id, IMAGE_ID_PREFIX, prefix) ? id : id + prefix);
	return shown;
}

int image_running(const struct service *svc, struct release_image *image, struct error *err)
{
	memset(image, 0, sizeof(*image));
	if (compose_running_image(svc, &image->id, &image->name, err) < 0)
		return -1;
	if (!image_id_valid(image->id)) {
		error_set(err, ERROR_FAILED, "docker inspect gave '%s' for compose service '%s', not "
			  "an image id", image->id, svc->compose_service);
		release_image_clear(image);
		return -1;
	}
	image->service = xstrdup(svc->name);
	image->compose_service = xstrdup(svc->compose_service);
	return 0;
}

void release_image_clear(struct release_image *image)
{
	free(image->service);
	free(image->compose_service);
	free(image->id);
	free(image->name);
	memset(image, 0, sizeof(*image));
}

/* The image id release recorded for service; NULL when none (or the
 * record cannot be read: the insert that follows then says why). */
static char *recorded_image_id(struct state *st, long release, const char *service)
{
	sqlite3_stmt *stmt;
	struct error ignored = ERROR_INIT;
	char *id = NULL;
	if (state_prepare(st, "SELECT image_id FROM release_images WHERE release = ? AND "
			  "service = ?", &stmt, &ignored) < 0)
		return NULL;
	sqlite3_bind_int64(stmt, 1, release);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		id = state_column_text(stmt, 0);
	sqlite3_finalize(stmt);
	return id;
}

/* A release is known by its files: a snapshot of the same files reuses
 * it, whatever the containers run. What it recorded as run stays. */
int images_record(struct state *st, long release, const struct release_image *image,
		  struct error *err)
{
	char *recorded = recorded_image_id(st, release, image->service);
	if (recorded) {
		int same = !strcmp(recorded, image->id);
		if (!same)
			error_set(err, ERROR_FAILED, "release %ld recorded image %s; it runs "
				  "%s now (a release is known by its files: a snapshot with "
				  "--label records a new one)", release, recorded, image->id);
		free(recorded);
		return same ? 0 : -1;
	}
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT INTO release_images(release, service, compose_service, "
			  "image_id, image_name) VALUES(?, ?, ?, ?, ?)", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, release);
	sqlite3_bind_text(stmt, 2, image->service, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, image->compose_service, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, image->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, image->name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : state_db_error(st, "record image", err);
}

int release_images(struct state *st, long from, long to, struct release_image **list,
		   size_t *n, struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	int rc;

	*list = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT release, service, compose_service, image_id, image_name "
			  "FROM release_images WHERE release BETWEEN ? AND ? "
			  "ORDER BY release, service", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, from);
	sqlite3_bind_int64(stmt, 2, to);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*list, *n + 1, alloc);
		struct release_image *r = &(*list)[(*n)++];
		r->release = (long)sqlite3_column_int64(stmt, 0);
		r->service = state_column_text(stmt, 1);
		r->compose_service = state_column_text(stmt, 2);
		r->id = state_column_text(stmt, 3);
		r->name = state_column_text(stmt, 4);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		release_images_free(*list, *n);
		*list = NULL;
		*n = 0;
		return state_db_error(st, "read images", err);
	}
	return 0;
}

void release_images_free(struct release_image *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		release_image_clear(&list[i]);
	free(list);
}

/* A merge of the two sorted lists: a service on one side only changed
 * (recorded or no longer recorded), one on both when its id or name did. */
void images_changed(const struct release_image *old, size_t nold,
		    const struct release_image *new, size_t nnew,
		    struct image_change **changes, size_t *n)
{
	size_t i = 0, j = 0, alloc = 0;
	*changes = NULL;
	*n = 0;
	while (i < nold || j < nnew) {
		int order = i == nold ? 1 : j == nnew ? -1 : strcmp(old[i].service, new[j].service);
		const struct release_image *a = order <= 0 ? &old[i++] : NULL;
		const struct release_image *b = order >= 0 ? &new[j++] : NULL;
		if (a && b && !strcmp(a->id, b->id) && !strcmp(a->name, b->name))
			continue;
		ALLOC_GROW(*changes, *n + 1, alloc);
		(*changes)[(*n)++] = (struct image_change){ a ? a->service : b->service, a, b };
	}
}
