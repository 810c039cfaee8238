/*
 * What snapshot and deploy share about compose: recording with a release
 * the image each compose service's container runs (core/resource/images.h),
 * kept from pruning by a container of lastgood's (core/resource/image_keep.h).
 */
#include "core/usecase/ending.h"
#include "core/config.h"
#include "core/resource/image_keep.h"
#include "core/resource/images.h"
#include "util/alloc.h"

/*
 * Docker is asked after the fact, so a failure here cannot undo what the
 * release is: a service with no running container, docker not answering,
 * or the record itself failing, leaves that service without an image in
 * the release and a line in rep->imageless saying why: a release holds
 * only images known to have run with it. An image recorded but not kept
 * (docker refused the keep container) stands too, with a line saying it is
 * not protected from pruning; fsck finds it later.
 */
void usecase_record_images(struct state *st, const struct config *cfg, long release,
			   struct usecase_report *rep)
{
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct service *svc = &cfg->services[i];
		struct release_image image;
		struct error why = ERROR_INIT;
		char *line = NULL;
		if (svc->manager != MANAGER_COMPOSE)
			continue;
		if (image_running(svc, &image, &why) < 0 ||
		    images_record(st, release, &image, &why) < 0)
			line = xstrfmt("no image recorded for service '%s' with release %ld: %s",
				       svc->name, release, why.msg);
		else if (image_keep(st, svc, image.id, &why) < 0)
			line = xstrfmt("service '%s', release %ld: %s", svc->name, release, why.msg);
		release_image_clear(&image);
		if (!line)
			continue;
		ALLOC_GROW(rep->imageless, rep->nimageless + 1, rep->imageless_alloc);
		rep->imageless[rep->nimageless++] = line;
	}
}
