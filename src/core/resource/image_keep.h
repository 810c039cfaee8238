/*
 * Keeping recorded images from pruning (image_keep.c). `docker image prune
 * -a` removes every image no container uses, tag or not; so each image ID a
 * release records is held by one created, never-started container of
 * lastgood's own, whatever the number of releases that record it:
 *
 *   name   lastgood-keep-<12 hex of this state folder's identity>-<12 hex of the image>
 *   labels lastgood.keep=<the identity>, lastgood.image=<sha256:... the image>
 *   made   docker create --name NAME --network none --label ... ID lastgood-keep
 *
 * (an image FROM scratch has no command: create does not run the one given).
 * The identity is random, made once and kept in the state database, so two
 * stacks on one daemon never take each other's containers for their own. A
 * container counts as lastgood's only when it carries this state's label
 * and the name that label and its image give: one named alike by someone
 * else is never touched.
 *
 *   image_keep(st, svc, id, &err);                 after images_record
 *   image_keep_release_unused(st, cfg, &sweep);    after gc dropped releases
 *   image_keep_check(st, cfg, &check);             fsck
 *
 * Docker is run as the compose service's own commands run it (its workdir
 * and `env`, so its DOCKER_HOST). `docker container prune` and `docker
 * system prune` remove stopped containers, these among them: fsck finds the
 * images they leave unprotected and creates their containers again. Nothing
 * here prints.
 */
#ifndef LG_IMAGE_KEEP_H
#define LG_IMAGE_KEEP_H

#include <stddef.h>

struct config;
struct error;
struct service;
struct state;

/* Make sure a keep container of this state holds image_id (sha256:...),
 * asking docker as svc's commands do. Idempotent: 0 when one is there or
 * was created; -1 with an ERROR_FAILED err saying why the image is not
 * protected (docker not answering, a container of that name that is not
 * ours). Needs to write the state's identity the first time. */
int image_keep(struct state *st, const struct service *svc, const char *image_id,
	       struct error *err);

/* What gc did with the keep containers. */
struct image_keep_sweep {
	char **released;             /* image IDs whose keep container was removed */
	size_t nreleased;
	size_t alloc;
	char *note;                  /* why some were left (docker not answering), or NULL */
};

/* Remove the keep containers of images no remaining release records (call
 * once gc has dropped its releases: a crash in between leaves containers
 * for the next call, never a release unprotected). Never fails: what could
 * not be done is in sweep->note, and a later gc or fsck finds it. */
void image_keep_release_unused(struct state *st, const struct config *cfg,
			       struct image_keep_sweep *sweep);
void image_keep_sweep_clear(struct image_keep_sweep *sweep);

enum image_keep_problem_kind {
	IMAGE_KEEP_GONE,             /* the image is no longer on the daemon */
	IMAGE_KEEP_UNKEPT,           /* the image is there, its keep container is not */
	IMAGE_KEEP_STRAY,            /* our keep container of an image no release records */
};

struct image_keep_problem {
	enum image_keep_problem_kind kind;
	char *id;                    /* the image, sha256:... */
	char *service;               /* the first service that recorded it; NULL for a stray */
	long *releases;              /* the releases that record it, ascending */
	size_t nreleases;
	size_t alloc;
	char *container;             /* the keep container's name */
	int recreated;               /* UNKEPT: created again */
	char *repair_error;          /* UNKEPT: why it was not */
};

struct image_keep_check {
	long images;                 /* image IDs checked */
	struct image_keep_problem *problems;
	size_t nproblems;
	size_t alloc;
	char *note;                  /* why images were not checked, or NULL */
};

/* For every image a release records: is it still on the daemon, and does
 * its keep container hold it (one found missing is created again); and
 * which keep containers of ours hold an image nothing records. Never
 * fails: docker not answering is check->note. */
void image_keep_check(struct state *st, const struct config *cfg,
		      struct image_keep_check *check);
/* Whether the check found an image gone or unprotected (a stray is left
 * for gc, not damage). */
int image_keep_check_damaged(const struct image_keep_check *check);
void image_keep_check_clear(struct image_keep_check *check);

#endif
