/*
 * The images a release ran (images.c): per service of manager `compose`,
 * the image ID (`sha256:<64 hex>`) of its running container and the image
 * name the container was created from, read from docker when `snapshot`
 * or `deploy` records a release, and kept in release_images beside the
 * release. What rolling back by image, prune protection and fsck stand on.
 *
 *   struct release_image image;
 *   if (image_running(svc, &image, &err) == 0) {
 *           images_record(st, release, &image, &err);
 *           release_image_clear(&image);
 *   } else ... err says why nothing is recorded (no running container,
 *              docker not answering)
 *
 *   struct release_image *rows; size_t n;
 *   release_images(st, from, to, &rows, &n, &err);   by release, service
 *   release_images_free(rows, n);
 *
 * The container is read by the compose manager (compose_running_image in
 * manager.h), which knows the front-end, project and files. Nothing here
 * prints.
 */
#ifndef LG_IMAGES_H
#define LG_IMAGES_H

#include <stddef.h>

struct error;
struct service;
struct state;

struct release_image {
	long release;
	char *service;               /* the lastgood service */
	char *compose_service;       /* its Compose service */
	char *id;                    /* "sha256:<64 hex>" */
	char *name;                  /* what the container was created from:
	                                "ziggie-api:latest" */
};

/* The image svc's running container runs. Fills image (release 0; the
 * caller frees with release_image_clear) and returns 0; -1 with an
 * ERROR_FAILED err saying why when there is none to record: no running
 * container, docker or compose not answering, or an answer that is not an
 * image ID. */
int image_running(const struct service *svc, struct release_image *image, struct error *err);
void release_image_clear(struct release_image *image);

/* Record image with release. What a release recorded stays: recording
 * another image for a service it has one for is refused (ERROR_FAILED,
 * naming both), the same one again is a no-op. */
int images_record(struct state *st, long release, const struct release_image *image,
		  struct error *err);
/* Every image recorded with releases from..to (inclusive), by release then
 * service; caller frees with release_images_free. */
int release_images(struct state *st, long from, long to, struct release_image **list,
		   size_t *n, struct error *err);
void release_images_free(struct release_image *list, size_t n);

/* A service whose image differs between two releases: old or new is NULL
 * where that release recorded none for it. Both point into the lists
 * images_changed was given. */
struct image_change {
	const char *service;
	const struct release_image *old, *new;
};
/* The services whose recorded image differs between old and new (each one
 * release's rows, by service, as release_images gives them), by service;
 * caller frees *changes. */
void images_changed(const struct release_image *old, size_t nold,
		    const struct release_image *new, size_t nnew,
		    struct image_change **changes, size_t *n);

/* The twelve hex digits that name an image in short, as docker shows
 * them, written into shown and returned. */
#define IMAGE_SHORT_ID_SIZE 13
const char *image_short_id(const char *id, char shown[IMAGE_SHORT_ID_SIZE]);

#endif
