/*
 * lastgood.yml: the stack's description, parsed with libyaml into typed
 * structures. The code is in src/core/config/: load.c (YAML into the
 * model), databases.c (the `databases:` section), order.c (`after`, start
 * order, selections), paths.c (the rules for `files` entries) and record.c
 * (the state folder's binding, masking, writing a recorded config back).
 *
 *   struct config cfg;
 *   struct error err = ERROR_INIT;
 *   if (config_load("lastgood.yml", &cfg, &err) < 0)
 *           ... err.msg is "FILE:LINE:COL: message", err.kind ERROR_USAGE
 *   ... use cfg ...
 *   config_free(&cfg);
 *
 * config_load checks everything that can be checked without touching the
 * live system: YAML syntax, unknown keys, types, durations, duplicate
 * service names, unknown or cyclic `after`, two entries claiming one path
 * as written, an entry that is the config file; and for each database, the
 * keys of its engine, its services, its migrations folder lying in some
 * service's `files` and its SQLite file in none. config_check_live_paths
 * judges the paths again as the file system resolves them, and
 * config_check_parents refuses links and untrusted folders on the way to
 * the entries; config_check_files additionally inspects every listed file
 * that exists (one that does not yet is fine: it is recorded as absent). Every error is one line naming file,
 * line and column (1-based) and the thing that is wrong.
 *
 * The text parsed is kept (cfg->text): each release records the config it
 * was made with, and a recorded one can be parsed again (config_parse)
 * when the file itself does not load.
 *
 * Relative paths in the file are resolved against the config file's folder;
 * `files` entries keep both the text as written and the absolute path.
 *
 * Some values carry credentials (secret.h): an `env` entry written
 * {value: TEXT, secret: true} (key_value.secret), an http check's
 * `password`, the secret parts of an http check's URL, a database's
 * `password` (only ever written that long way) and the password its `url`
 * may hold. They are kept as
 * written, for the programs and libraries that need them, and no error
 * message quotes them: an error names the key, and a URL is quoted
 * redacted. config_free zeroes them before freeing.
 */
#ifndef LG_CONFIG_H
#define LG_CONFIG_H

#include <stddef.h>

struct error;

/* Where a value was written, for error messages (1-based). */
struct config_mark {
	int line;
	int column;
};

/* A NULL-terminated argument vector (v[n] == NULL). */
struct argv_list {
	char **v;
	size_t n;
};

enum manager_kind {
	MANAGER_PROCESS,
	MANAGER_SYSTEMD,
	MANAGER_COMPOSE,
	MANAGER_COMMAND,
};

/* Timing and retry policy; durations in milliseconds. */
struct policy {
	long start_timeout_ms;   /* time to become healthy after start (30s) */
	long interval_ms;        /* first pause between checks (200ms) */
	long timeout_ms;         /* per-check timeout (5s) */
	long stabilize_ms;       /* must stay healthy this long (0) */
	long stop_timeout_ms;    /* SIGTERM to SIGKILL (10s) */
	int retries;             /* consecutive failures before failed (2) */
};

struct key_value {
	char *key;
	char *value;
	int secret;                  /* env only: never to be shown or recorded */
};

enum health_kind {
	HEALTH_HTTP,
	HEALTH_TCP,
	HEALTH_EXEC,
};

struct health_check {
	enum health_kind kind;
	struct config_mark mark;
	long timeout_ms;             /* 0: the policy's timeout */
	/* http */
	char *url;                   /* may hold secrets: show it redacted */
	char *username;              /* basic auth, or NULL */
	char *password;              /* secret; NULL unless username is set */
	long expect_status;          /* 0: any 2xx */
	struct key_value *json;      /* fields that must equal (scalar text) */
	size_t njson;
	char *contains;
	struct key_value *headers;
	size_t nheaders;
	/* tcp: address is "host:port" */
	char *address;
	char *send;
	char *expect;
	/* exec */
	struct argv_list argv;
};

struct service_file {
	char *written;               /* as in the config */
	char *path;                  /* absolute */
	struct config_mark mark;
};

struct service {
	char *name;
	struct config_mark mark;
	enum manager_kind manager;
	struct argv_list run;        /* process */
	char *unit;                  /* systemd */
	char *compose_service;       /* compose (defaults to name) */
	char *compose_project;       /* compose: `compose.project`, or NULL */
	struct argv_list compose_files;   /* compose: `compose.files`, absolute */
	struct argv_list start;      /* command */
	struct argv_list stop;       /* command */
	struct argv_list status;     /* command, optional */
	char *workdir;               /* absolute; defaults to the config's folder */
	struct key_value *env;
	size_t nenv;
	struct service_file *files;
	size_t nfiles;
	struct health_check *health;
	size_t nhealth;
	char **after;                /* service names */
	size_t nafter;
	struct policy policy;        /* global policy with this service's overrides */
};

enum db_engine_kind {
	DB_ENGINE_POSTGRES,          /* libpq */
	DB_ENGINE_SQLITE,            /* the SQLite library */
	DB_ENGINE_COMMAND,           /* an existing tool, driven by argv */
};

/* When a switch that changes a database's schema backs it up first. */
enum db_backup_policy {
	DB_BACKUP_ALWAYS,            /* the default */
	DB_BACKUP_DESTRUCTIVE,       /* only when a migration to run is destructive */
	DB_BACKUP_NEVER,
};

/* One entry of `databases:` (DESIGN.md, "Databases"). */
struct database {
	char *name;
	struct config_mark mark;
	enum db_engine_kind engine;
	/* postgres */
	char *url;                   /* may hold a password: show it redacted */
	char *password;              /* secret, or NULL (PGPASSFILE, the environment) */
	/* sqlite */
	char *path;                  /* absolute */
	/* built-in engines: the folder of NNNN_name.{up,down,verify}.sql, lying
	 * in some service's `files` (so every release holds its migrations) */
	char *migrations;            /* absolute; NULL: a command database without */
	char *migrations_written;    /* as in the config */
	struct config_mark migrations_mark;
	enum db_backup_policy backup;
	char **services;             /* stopped while this database is restored */
	size_t nservices;
	/* command: argv with "{version}" (downgrade) and "{file}" (backup,
	 * restore) replaced when run, in workdir (default: the config's
	 * folder); backup and restore are optional; `migrations`, optional
	 * here, names the tool's own folder of migrations: a switch runs the
	 * tool when its files differ between the releases (without it, when
	 * the files of the database's services do) */
	char *workdir;
	struct argv_list current;
	struct argv_list upgrade;
	struct argv_list downgrade;
	struct argv_list backup_cmd;
	struct argv_list restore_cmd;
};

struct config {
	char *path;                  /* the config file as given */
	char *dir;                   /* absolute folder holding it */
	char *file;                  /* absolute path of the config file */
	char *text;                  /* the file's bytes as parsed (may hold secrets) */
	size_t text_len;
	int keep_releases;           /* 10 */
	char *state_dir;             /* absolute; default DIR/.lastgood */
	struct policy policy;
	struct service *services;    /* in file order */
	size_t nservices;
	char *source_git;            /* absolute path of a git repository, or NULL */
	struct argv_list source_build;
	struct database *databases;  /* in file order */
	size_t ndatabases;
};

int config_load(const char *path, struct config *cfg, struct error *err);
/* Parse YAML text already in memory; path is used only in messages and to
 * resolve relative paths. */
int config_parse(const char *path, const char *text, size_t len,
		 struct config *cfg, struct error *err);
void config_free(struct config *cfg);
/* Every `files` entry must exist (lstat); the error names the entry's line. */
int config_check_files(const struct config *cfg, struct error *err);
/*
 * The checks that look at the file system as it is now, for every command
 * that loads the config; they resolve the symbolic links and ".." of the
 * folders that exist, which config_load (the text alone) cannot:
 *   - no two `files` entries may overlap once resolved (`real/b` and
 *     `realsym/b` with realsym -> real are one file);
 *   - no entry may be the state folder dir, lie inside it or hold it
 *     (relative to the current folder; origin, such as " (--state-dir)",
 *     ends the message);
 *   - no entry may be or hold the config file, reached through links or not.
 * Errors are ERROR_USAGE, FILE:LINE:COL at the entry.
 */
int config_check_live_paths(const struct config *cfg, const char *dir, const char *origin,
			    struct error *err);
/* Every folder on the way to each entry must be a real folder (not a
 * symbolic link) and, when running as root, one no other user owns or may
 * write (fs_open_parent's rule): what commands that read or write live
 * files ask before they start. A folder not there yet is fine. The error
 * names the entry and the folder (ERROR_USAGE). */
int config_check_parents(const struct config *cfg, struct error *err);

struct state;
struct strbuf;
/*
 * A state folder belongs to the config that first used it: its database
 * records the config file's path, absolute and relative to the state folder
 * (the folders on the way resolved). Either matching is enough, so a stack
 * folder moved whole, or a state folder moved alone and named with
 * --state-dir, still works. An unbound state folder (new, or from before
 * bindings) is bound when record is set; with record set a moved one's
 * binding is brought up to date. Another config's state folder is an
 * ERROR_USAGE error naming both configs.
 */
int config_bind_state(const struct config *cfg, struct state *st, int record,
		      struct error *err);
/* Bind the state folder to cfg whatever it was bound to (`lastgood
 * rebind`); *previous gets the config it belonged to (NULL: none; caller
 * frees). */
int config_rebind_state(const struct config *cfg, struct state *st, char **previous,
			struct error *err);
/* Write cfg->text (a recorded config) over the config file cfg->file, for
 * operation op: through its folder's descriptor (fs_open_parent's rule),
 * with fs_replace_at, keeping the old one's mode and owner. The file
 * replaced is kept beside it under a second name, *kept
 * ("lastgood.yml.before-OP"; caller frees; NULL when there was none, or
 * when the write failed before the old file lost its name). A config file
 * that is a symbolic link is refused. */
int config_restore(const struct config *cfg, long op, char **kept, struct error *err);
/* Mask, in text (a config's YAML), every secret value of cfg (secret.h):
 * URLs as secret_redact_url shows them, other values as SECRET_MASK. own:
 * text is cfg's own, so each value must be found as parsed; -1 when one is
 * not (written with YAML escapes), and the text must then not be shown. */
int config_mask_secrets(const struct config *cfg, struct strbuf *text, int own);
const struct service *config_find_service(const struct config *cfg, const char *name);
const struct database *config_find_database(const struct config *cfg, const char *name);
/* The `files` entry of some service that path is, or lies inside (whole
 * path components); NULL when none. *owner gets its service. */
const struct service_file *config_files_entry_holding(const struct config *cfg, const char *path,
						      const struct service **owner);
/* The index of the service whose `files` list path, or cfg->nservices. */
size_t config_service_of_path(const struct config *cfg, const char *path);
/* 1 when inner is outer or lies below it (both absolute and normalized,
 * compared by whole components: /a/bc is not inside /a/b). */
int path_within(const char *inner, const char *outer);
/* Services in start order (each after everything in its `after`), as
 * indexes into cfg->services; caller frees *order. Never fails on a loaded
 * config (cycles are rejected by config_load). */
size_t *config_start_order(const struct config *cfg);
/* Parse "a,b,c" into a selection mask over cfg->services (caller frees);
 * an unknown name is an ERROR_USAGE error. NULL names selects all. */
int config_select_services(const struct config *cfg, const char *names,
			   unsigned char **selected, struct error *err);
/* "process", "systemd", "compose" or "command", as written in the config. */
const char *config_manager_name(enum manager_kind kind);
/* Parse a duration ("250ms", "5s", "2m", or a bare number of seconds);
 * -1 for anything else, negatives, or more than INT_MAX milliseconds. */
int config_parse_duration(const char *text, long *ms);

#endif
