/*
 * Use cases: every command that changes anything, as one call that owns
 * its operation from operation_begin to operation_end and returns a report.
 *
 *   struct usecase_report rep;
 *   usecase_report_init(&rep, "deploy", want_services);
 *   usecase_deploy(&st, &cfg, &request, &rep);
 *   ... rep.ending says how it ended, rep.error why (with its kind),
 *       rep.services the services' state when asked for or when the host
 *       needs attention ...
 *   usecase_report_clear(&rep);
 *
 * Core never prints: the command layer composes every line, text or JSON,
 * from the report. The caller holds the state lock; recover is run first
 * (usecase_recover), as the dispatcher does for every mutating command.
 * The record is the truth: a report says what was recorded, and when the
 * record could not be written it says that too (USECASE_UNRECORDED).
 */
#ifndef LG_USECASE_H
#define LG_USECASE_H

#include "core/db/backups.h"
#include "core/gc.h"
#include "core/operation.h"
#include "core/release.h"
#include "core/resource/image_keep.h"
#include "core/transition.h"
#include "util/error.h"

#include <stddef.h>

struct config;
struct state;

/* How a use case ended, which picks the lines the operator gets. */
enum usecase_ending {
	USECASE_DONE,            /* did what was asked, recorded */
	USECASE_FAILED,          /* failed and nothing changed (error) */
	USECASE_LEFT_FAILING,    /* the target is live but failed verification,
	                            or a start failed: failure */
	USECASE_ROLLED_BACK,     /* the target failed; the release before is back */
	USECASE_ATTENTION,       /* the target failed, and so did the way back */
	USECASE_UNSETTLED,       /* lastgood could not go on: the operation is
	                            left for recover; host says where things are */
	USECASE_UNRECORDED,      /* the target is live and verified, but its end
	                            could not be recorded (left for recover) */
	USECASE_UNCOLLECTED,     /* done and recorded, but removing old
	                            releases afterwards failed */
};

/* One service as the operation left it. */
struct usecase_service {
	char *name;
	int running;             /* 1 running, 0 not, -1 unknown */
	int healthy;             /* as this operation last judged it: 1 healthy,
	                            0 failing, -1 not judged */
};

/* Why a service failed: the text names the service, at_ms is wall clock. */
struct usecase_failure {
	char *text;              /* NULL: none */
	long long at_ms;
	int interrupted;         /* the operator interrupted the wait */
};

/* One operation recover settled (usecase_recover). */
struct usecase_recovered {
	long op;
	char *command;           /* what it was: "deploy", "rollback"... */
	long pid;                /* the process that was interrupted */
	enum op_result result;   /* as recover recorded it */
	char *text;              /* what recover did, as recorded */
	char *down;              /* services that did not come back ("api, web",
	                            "" none known), NULL when every one did */
	long live;               /* the live release after it */
};

struct usecase_report {
	const char *command;     /* static: "deploy", "rollback", "gc"... */
	int want_services;       /* the caller's: fill services in any case */
	long op;                 /* 0: no operation was begun */
	enum op_result result;   /* as recorded; OP_RUNNING when left for recover */
	enum usecase_ending ending;
	struct error error;      /* kind ERROR_NONE: none; else the message and kind */
	long live_before;        /* the live release before (deploy and rollback:
	                            after recording unrecorded live files) */
	long live_after;
	long target;             /* the release the operation aimed at, 0 none */
	size_t changed;          /* entries switched */
	struct usecase_failure failure;   /* why the target failed */
	struct usecase_failure second;    /* why the way back failed */
	long long recovered_ms;  /* wall clock: the old release verified again */
	enum transition_host host;        /* USECASE_UNSETTLED: where the host is */
	long host_live;          /* USECASE_UNSETTLED: the release live, if known */
	struct usecase_service *services; /* every service of the config, when */
	size_t nservices;                 /* asked for or the host needs attention */
	/* snapshot */
	int created;             /* a new release was recorded */
	char **unversioned;      /* why each database it could not read has no
	                            version recorded with the release: one line */
	size_t nunversioned;
	size_t unversioned_alloc;
	/* snapshot, deploy */
	char **imageless;        /* why each compose service has no image
	                            recorded with the release: one line */
	size_t nimageless;
	size_t imageless_alloc;
	/* gc */
	int keep;
	struct gc_report gc;
	struct image_keep_sweep images;  /* keep containers of images gc released */
	/* db migrate, rollback, backup, restore */
	const char *database;    /* the config's database acted on */
	long db_from, db_to;     /* its schema version before and after */
	long db_release_version; /* the live release's newest migration */
	char *db_from_text;      /* a command database: its tool's version before */
	char *db_to_text;        /* and after ("": none); NULL for the others */
	char *db_release_text;   /* the version the live release recorded of it */
	struct db_backup backup; /* the backup taken or restored; id 0: none */
	int backup_restored;     /* backup was restored (else taken) */
	/* rollback */
	char *left_alone;        /* entries of the target the config no longer
	                            lists, quoted, comma-separated; NULL none */
	char *config_written;    /* what the config step did (NULL: not run) */
	struct error config_error; /* code set: writing the config failed */
	/* recover */
	struct usecase_recovered *recovered;
	size_t nrecovered;
	size_t recovered_alloc;
	size_t recovered_down;   /* how many left services down */
};

void usecase_report_init(struct usecase_report *rep, const char *command, int want_services);
void usecase_report_clear(struct usecase_report *rep);

/*
 * Fill rep->services from what the services say now and from op's
 * "healthy" steps. Errors are not the caller's: a service that cannot be
 * inspected is unknown, an operation that cannot be read judged nothing.
 */
void usecase_inspect_services(struct state *st, const struct config *cfg,
			      struct usecase_report *rep);

/*
 * Finish or undo every interrupted operation, then empty the store's
 * scratch folder (only the lock holder uses it). Each operation settled is
 * appended to rep->recovered; one whose services did not all come back
 * counts in rep->recovered_down. Returns -1 with err when one could not be
 * settled (err->kind ERROR_ATTENTION); the ones before it are in rep.
 */
int usecase_recover(struct state *st, const struct config *cfg, struct usecase_report *rep,
		    struct error *err);

struct deploy_request {
	const char *source;      /* a folder, a tarball, or git:REV */
	const char *services;    /* --services, NULL: all */
	int no_auto_rollback;
	int strip;               /* --strip-components */
	struct release_meta meta;  /* label, commit, reason */
};
/* Check the source (a missing one, or a git: one with --commit or
 * --strip-components, is refused before anything is recorded), then
 * record the live files, build the target from the source, switch, verify,
 * roll back on failure unless asked not to, and record the end. */
void usecase_deploy(struct state *st, const struct config *cfg, const struct deploy_request *req,
		    struct usecase_report *rep);

struct rollback_request {
	const char *ref;         /* NULL: the default target */
	const char *services;    /* --services as given, NULL: all */
	const unsigned char *selected;  /* those services (config_select_services) */
	const char *reason;
	int force;               /* a release marked bad too */
	int restore_backup;      /* a database without down scripts may be
	                            restored from its backup (transition.h) */
	int config;              /* --config: write the target's config too */
	const char *config_path; /* the config file it is to become */
	const char *state_dir;   /* --state-dir, NULL when not given */
	int config_unloaded;     /* cfg is the config recorded with the live
	                            release: the file did not load */
};
/* The release ref names (or the default target) in *id: refused (exit 2)
 * when it is marked bad and force is not set. */
int usecase_rollback_target(struct state *st, const char *ref, int force, long *id,
			    struct error *err);
/* Every step of a rollback to release target_id, in the order a real
 * run takes them (what `rollback --dry-run` prints): recording the live
 * files, the paths left alone (their quoted list appended to left_alone),
 * the switch (transition_plan), and with_config, writing the release's
 * config file. *live_id gets the release live now. The live files are
 * taken as the live release records them: a real run records any
 * unrecorded change first. */
struct plan;
int usecase_rollback_plan(struct state *st, const struct config *cfg, long target_id,
			  const unsigned char *selected, int with_config, int restore_backup,
			  struct plan *plan,
			  struct strbuf *left_alone, long *live_id, struct error *err);


/* Put the target back live for the selected services, verify, and with
 * req->config write its config over the config file once it is live and
 * verified; then *cfg becomes that config (the one what follows runs by,
 * which the caller frees as before). */
void usecase_rollback(struct state *st, struct config *cfg, const struct rollback_request *req,
		      struct usecase_report *rep);

enum services_steps {
	SERVICES_STOP = 1,
	SERVICES_START = 2,
};
struct services_request {
	const char *services;    /* NULL: all */
	const char *reason;
	unsigned steps;          /* stop (reverse order), then start (verified) */
};
/* start, stop and restart as one operation; a start of every service
 * that verifies marks the live release good. */
void usecase_services(struct state *st, const struct config *cfg,
		      const struct services_request *req, struct usecase_report *rep);

/* Record the live files as a release (the same one when nothing changed)
 * and make it live. */
void usecase_snapshot(struct state *st, const struct config *cfg, const struct release_meta *meta,
		      struct usecase_report *rep);

/* Drop releases beyond keep and the content only they used (rep->gc). */
void usecase_gc(struct state *st, const struct config *cfg, int keep, struct usecase_report *rep);
/* Bind the state folder to cfg (config_rebind_state) as an operation;
 * *detail gets what was done, for the operator (caller frees). */
int usecase_rebind(struct state *st, const struct config *cfg, char **detail, struct error *err);

/* "releases 1, 2 and 14 objects (3.1 MiB), the keep container of image
 * 3f2a9c1b7d4e": what gc's step and its lines say it removed. */
struct strbuf;
void usecase_gc_describe(const struct usecase_report *rep, struct strbuf *out);

#endif
