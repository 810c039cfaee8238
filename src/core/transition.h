/*
 * Moving the live system from one release to another: what deploy and
 * rollback share.
 *
 *   struct manifest live = MANIFEST_INIT, target = MANIFEST_INIT;
 *   transition_record_live(&st, &cfg, op, "deploy", &live, &live_id, &err);
 *   transition_target_from_source(&st, &cfg, selected, root, &live, &target, &stats, &err);
 *      or transition_target_from_release(selected, &live, &release_manifest, &target);
 *   transition_run(&st, op, live_id, &live, &target, &to_id, &err);
 *
 * transition_record_live makes sure the state before every change is a
 * release: live files that no release records yet are recorded first.
 * transition_run records the target as a release when no existing one has
 * exactly its content, switches to it atomically (switch.h) and journals
 * both release numbers on the operation.
 */
#ifndef LG_TRANSITION_H
#define LG_TRANSITION_H

#include "core/manifest.h"
#include "core/release.h"

struct config;
struct error;
struct state;

/* Capture every live `files` entry that exists (a deploy may bring ones
 * that do not exist yet) and record it as a release unless the live
 * release already has that content. *live_id is 0 when nothing is live. */
int transition_record_live(struct state *st, const struct config *cfg, long op,
			   const char *command, struct manifest *live, long *live_id,
			   struct error *err);

/* The target of a deploy: each selected service's entries found below the
 * source root replace the live ones whole (mode from the source, owner from
 * the live entry); everything else keeps its live content. An entry neither
 * live nor in the source is an EXIT_USAGE error. selected may be NULL (all). */
int transition_target_from_source(struct state *st, const struct config *cfg,
				  const unsigned char *selected, const char *root,
				  const struct manifest *live, struct manifest *target,
				  struct capture_stats *stats, struct error *err);

/* The target of a rollback: the selected services' entries as `release`
 * recorded them; all other entries keep their live content. */
void transition_target_from_release(const struct config *cfg, const unsigned char *selected,
				    const struct manifest *live, const struct manifest *release,
				    struct manifest *target);

/* Switch from live (release live_id) to target. When `preferred` (a
 * release id, or 0) has exactly target's content it becomes live, else a
 * release is recorded for target with meta. *to_id gets the live release
 * afterwards; *changed the number of entries switched. */
int transition_run(struct state *st, long op, long live_id, const struct manifest *live,
		   const struct manifest *target, long preferred,
		   const struct release_meta *meta, long *to_id, size_t *changed,
		   struct error *err);

/* sha256 of a manifest's serialized form (a release's digest). */
void transition_digest(const struct manifest *m, char digest[HASH_HEX_SIZE]);

#endif
