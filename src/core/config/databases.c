/*
 * The `databases:` section of lastgood.yml (DESIGN.md, "Databases"): each
 * entry's keys checked against its engine, its values read into struct
 * database, and its paths judged against the services' `files`, so that
 * every release holds a database's migrations and never its data.
 */
#include "core/config/internal.h"
#include "core/secret.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

static const char *const engine_names[] = {
	[DB_ENGINE_POSTGRES] = "postgres",
	[DB_ENGINE_SQLITE] = "sqlite",
	[DB_ENGINE_COMMAND] = "command",
};
#define NENGINES (sizeof(engine_names) / sizeof(engine_names[0]))

static const char *const backup_policy_names[] = {
	[DB_BACKUP_ALWAYS] = "always",
	[DB_BACKUP_DESTRUCTIVE] = "destructive",
	[DB_BACKUP_NEVER] = "never",
};
#define NBACKUP_POLICIES (sizeof(backup_policy_names) / sizeof(backup_policy_names[0]))

#define ENGINE(kind) (1u << (kind))
#define ALL_ENGINES (ENGINE(DB_ENGINE_POSTGRES) | ENGINE(DB_ENGINE_SQLITE) | ENGINE(DB_ENGINE_COMMAND))
#define BUILT_IN (ENGINE(DB_ENGINE_POSTGRES) | ENGINE(DB_ENGINE_SQLITE))

enum {
	D_ENGINE, D_URL, D_PASSWORD, D_PATH, D_MIGRATIONS, D_BACKUP, D_SERVICES, D_CURRENT,
	D_UPGRADE, D_DOWNGRADE, D_RESTORE, D_WORKDIR, D_NFIELDS
};

/* Each key with the engines it belongs to and the engines that require
 * it: one table for the unknown, misplaced and missing key errors. */
static const struct {
	const char *name;
	unsigned engines;
	unsigned required;
} database_keys[D_NFIELDS] = {
	[D_ENGINE] = { "engine", ALL_ENGINES, ALL_ENGINES },
	[D_URL] = { "url", ENGINE(DB_ENGINE_POSTGRES), ENGINE(DB_ENGINE_POSTGRES) },
	[D_PASSWORD] = { "password", ENGINE(DB_ENGINE_POSTGRES), 0 },
	[D_PATH] = { "path", ENGINE(DB_ENGINE_SQLITE), ENGINE(DB_ENGINE_SQLITE) },
	[D_MIGRATIONS] = { "migrations", ALL_ENGINES, BUILT_IN },
	[D_BACKUP] = { "backup", ALL_ENGINES, 0 },
	[D_SERVICES] = { "services", ALL_ENGINES, 0 },
	[D_CURRENT] = { "current", ENGINE(DB_ENGINE_COMMAND), 0 },
	[D_UPGRADE] = { "upgrade", ENGINE(DB_ENGINE_COMMAND), 0 },
	[D_DOWNGRADE] = { "downgrade", ENGINE(DB_ENGINE_COMMAND), 0 },
	[D_RESTORE] = { "restore", ENGINE(DB_ENGINE_COMMAND), 0 },
	[D_WORKDIR] = { "workdir", ENGINE(DB_ENGINE_COMMAND), 0 },
};

/* The index of text in names (n of them), or n. */
static size_t name_index(const char *const *names, size_t n, const char *text)
{
	size_t i = 0;
	while (i < n && strcmp(names[i], text))
		i++;
	return i;
}

static int parse_engine(struct config_parser *p, struct database *db, const struct field *f,
			const char *where)
{
	const char *text;
	if (scalar_text(p, f->value, "engine", where, "a string", &text) < 0)
		return -1;
	size_t i = name_index(engine_names, NENGINES, text);
	if (i == NENGINES)
		return node_error(p, f->value,
				  "unknown engine '%s'%s (use postgres, sqlite or command)", text,
				  where);
	db->engine = (enum db_engine_kind)i;
	return 0;
}

/* Keys of another engine are refused where they are written, before a
 * missing one is reported at the database's name. */
static int check_engine_keys(struct config_parser *p, const struct database *db,
			     const struct field *fields)
{
	for (size_t i = 0; i < D_NFIELDS; i++)
		if (fields[i].key && !(database_keys[i].engines & ENGINE(db->engine)))
			return node_error(p, fields[i].key, "key '%s' is not for engine %s",
					  fields[i].name, engine_names[db->engine]);
	for (size_t i = 0; i < D_NFIELDS; i++)
		if (!fields[i].key && (database_keys[i].required & ENGINE(db->engine)))
			return mark_error(p->err, p->path, db->mark,
					  "database '%s' needs '%s' (engine %s)", db->name,
					  fields[i].name, engine_names[db->engine]);
	return 0;
}

/* libpq's parse of a connection string (a URL or key=value settings), or
 * NULL. Its message may quote any part of the text, a password included,
 * so it is dropped unread. The caller frees with conninfo_free. */
static PQconninfoOption *conninfo_parse(const char *url)
{
	char *message = NULL;
	PQconninfoOption *options = PQconninfoParse(url, &message);
	if (message) {
		explicit_bzero(message, strlen(message));
		PQfreemem(message);
	}
	return options;
}

/* Free libpq's copy of the settings, its password among them, zeroed. */
static void conninfo_free(PQconninfoOption *options)
{
	for (PQconninfoOption *o = options; o->keyword; o++)
		if (o->val)
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(options);
}

/* A URL starts with its scheme; "://" further on (in a quoted value of
 * key=value settings) does not make one. */
static int is_url(const char *url)
{
	size_t scheme = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	return scheme && !strncmp(url + scheme, "://", 3);
}

char *conninfo_password(const char *url)
{
	if (is_url(url))
		return NULL;
	PQconninfoOption *options = conninfo_parse(url);
	char *password = NULL;
	if (!options)
		return NULL;
	for (PQconninfoOption *o = options; o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val)
			password = xstrdup(o->val);
	conninfo_free(options);
	return password;
}

/*
 * A connection string libpq accepts, checked now rather than at the first
 * connect. It may carry a password: a URL is quoted redacted, key=value
 * settings are not quoted at all, since a mistyped key would leave its
 * value unrecognised as a secret.
 */
static int parse_url(struct config_parser *p, struct database *db, const struct field *f,
		     const char *where)
{
	if (get_string(p, f, where, &db->url) < 0)
		return -1;
	int scheme_ok = !strncmp(db->url, "postgresql://", 13) || !strncmp(db->url, "postgres://", 11);
	PQconninfoOption *options = NULL;
	if (!is_url(db->url) || scheme_ok)
		options = conninfo_parse(db->url);
	if (options) {
		conninfo_free(options);
		return 0;
	}
	if (!is_url(db->url))
		return node_error(p, f->value, "'url'%s is not a connection string libpq accepts: "
				  "use a postgresql:// URL or key=value settings (host=... dbname=...)",
				  where);
	char *shown = secret_redact_url(db->url);
	node_error(p, f->value, "'url'%s must be a postgresql:// URL libpq accepts, not '%s'",
		   where, shown);
	free(shown);
	return -1;
}

/* A password only in the long form, marked secret: a plain one would sit
 * in the config where anything that shows it could. */
static int parse_password(struct config_parser *p, struct database *db, const struct field *f,
			  const char *where)
{
	const char *value = NULL;
	int secret = 0;

	if (f->value->type == YAML_MAPPING_NODE &&
	    get_value_entry(p, f->value, "password", where, &value, &secret) < 0)
		return -1;
	if (!secret)
		return node_error(p, f->value, "'password'%s must be a secret: write it "
				  "{value: \"...\", secret: true}, or leave it out and use "
				  "PGPASSFILE or the environment", where);
	if (!*value)
		return node_error(p, f->value, "'password'%s must not be empty", where);
	db->password = xstrdup(value);
	return 0;
}

/* A command that must hold placeholder in one of its arguments. */
static int get_command(struct config_parser *p, const struct field *f, const char *where,
		       const char *placeholder, const char *why, struct argv_list *out)
{
	if (get_string_list(p, f, where, 0, out) < 0)
		return -1;
	if (!placeholder)
		return 0;
	for (size_t i = 0; i < out->n; i++)
		if (strstr(out->v[i], placeholder))
			return 0;
	return node_error(p, f->value, "'%s'%s must have %s in an argument (%s)", f->name, where,
			  placeholder, why);
}

/*
 * `backup` is a policy for the built-in engines, which take the backup
 * themselves. A command engine has none of its own: its `backup` is the
 * command (the policy is then always), and `restore` must come with it;
 * without one it must say `never`, so that no database goes without
 * backups unnoticed.
 */
static int parse_backup(struct config_parser *p, struct database *db, const struct field *fields,
			const char *where)
{
	const struct field *backup = &fields[D_BACKUP], *restore = &fields[D_RESTORE];
	int command = db->engine == DB_ENGINE_COMMAND;

	db->backup = DB_BACKUP_ALWAYS;
	if (backup->key && command && backup->value->type == YAML_SEQUENCE_NODE) {
		if (get_command(p, backup, where, "{file}", "the backup file to write",
				&db->backup_cmd) < 0)
			return -1;
	} else if (backup->key) {
		const char *text = NULL;
		size_t i = NBACKUP_POLICIES;
		if (backup->value->type == YAML_SCALAR_NODE) {
			text = (const char *)backup->value->data.scalar.value;
			i = name_index(backup_policy_names, NBACKUP_POLICIES, text);
		}
		if (command && i != DB_BACKUP_NEVER)
			return node_error(p, backup->value, "'backup'%s must be the backup command "
					  "(a list with {file}) or never for engine command", where);
		if (i == NBACKUP_POLICIES && (!text || !*text))
			return node_error(p, backup->value, "'backup'%s must be always, "
					  "destructive or never, not %s", where,
					  node_kind(backup->value));
		if (i == NBACKUP_POLICIES)
			return node_error(p, backup->value, "'backup'%s must be always, "
					  "destructive or never, not '%s'", where, text);
		db->backup = (enum db_backup_policy)i;
	}
	if (restore->key && !db->backup_cmd.n)
		return node_error(p, restore->key, "'restore'%s needs 'backup', the command that "
				  "writes {file}", where);
	if (restore->key)
		return get_command(p, restore, where, "{file}", "the backup file to read",
				   &db->restore_cmd);
	if (db->backup_cmd.n)
		return node_error(p, backup->key, "'backup'%s needs 'restore', the command that "
				  "reads {file} back", where);
	if (command && db->backup != DB_BACKUP_NEVER)
		return mark_error(p->err, p->path, db->mark, "database '%s' needs 'backup' and "
				  "'restore' commands, or 'backup: never' (engine command)",
				  db->name);
	return 0;
}

/*
 * A command database drives a migration tool (`current`, `upgrade` and
 * `downgrade`, all three), or is backed up and restored only (Redis,
 * MongoDB: `backup` and `restore` alone), or both; with neither, lastgood
 * would have nothing to run, which is surely a mistake in the config.
 */
static int check_command_shape(struct config_parser *p, const struct database *db,
			       const struct field *fields, const char *where)
{
	static const int tool_keys[] = { D_CURRENT, D_UPGRADE, D_DOWNGRADE };
	const struct field *backup = &fields[D_BACKUP];
	int backs_up = backup->key && backup->value->type == YAML_SEQUENCE_NODE;
	size_t given = 0;

	for (size_t i = 0; i < 3; i++)
		given += fields[tool_keys[i]].key != NULL;
	for (size_t i = 0; given && given < 3; i++)
		if (!fields[tool_keys[i]].key)
			return mark_error(p->err, p->path, db->mark, "database '%s' needs '%s' "
					  "(engine command)", db->name, fields[tool_keys[i]].name);
	if (!given && !backs_up)
		return mark_error(p->err, p->path, db->mark, "database '%s' needs 'current', "
				  "'upgrade' and 'downgrade' (a migration tool), or 'backup' and "
				  "'restore' commands, or both (engine command)", db->name);
	if (!given && fields[D_MIGRATIONS].key)
		return node_error(p, fields[D_MIGRATIONS].key, "'migrations'%s is the folder of "
				  "its tool's migrations: it needs 'current', 'upgrade' and "
				  "'downgrade'", where);
	return 0;
}

static int parse_services_of(struct config_parser *p, struct database *db,
			     const struct field *f, const char *where)
{
	struct argv_list names = { NULL, 0 };
	int rc = get_string_list(p, f, where, 1, &names);
	db->services = names.v;
	db->nservices = names.n;
	for (size_t i = 0; !rc && i < names.n; i++)
		if (service_index(p->cfg, names.v[i]) == NO_SERVICE)
			rc = node_error(p, sequence_item(p, f->value, i),
					"unknown service '%s' in 'services' of database '%s'",
					names.v[i], db->name);
	return rc;
}

/*
 * The paths of database index against the services' files and the
 * databases before it: its migrations must travel with every release, its
 * SQLite file must not (a switch would put an old copy of the data back),
 * and no two databases may share either.
 */
static int check_database_paths(struct config_parser *p, size_t index, const struct field *fields)
{
	const struct config *cfg = p->cfg;
	const struct database *db = &cfg->databases[index];
	const struct service *svc;
	const struct service_file *entry;

	if (db->migrations && !config_files_entry_holding(cfg, db->migrations, &svc))
		return mark_error(p->err, p->path, db->migrations_mark,
				  "migrations folder '%s' is in no service's files: list it (or a "
				  "folder holding it) under a service's files, so that every release "
				  "holds its migrations", db->migrations_written);
	if (db->path && (entry = config_files_entry_holding(cfg, db->path, &svc)))
		return node_error(p, fields[D_PATH].value,
				  "sqlite file '%s' of database '%s' lies in file '%s' of service "
				  "'%s' (line %d): a switch would swap the data with the release's "
				  "files; keep it out of every service's files",
				  (const char *)fields[D_PATH].value->data.scalar.value, db->name,
				  entry->written, svc->name, entry->mark.line);
	for (size_t i = 0; i < index; i++) {
		const struct database *other = &cfg->databases[i];
		if (db->path && other->path && !strcmp(db->path, other->path))
			return node_error(p, fields[D_PATH].value,
					  "database '%s' has the sqlite file of database '%s' "
					  "(line %d)", db->name, other->name, other->mark.line);
		if (db->migrations && other->migrations && !strcmp(db->migrations, other->migrations))
			return mark_error(p->err, p->path, db->migrations_mark,
					  "database '%s' has the migrations folder of database '%s' "
					  "(line %d)", db->name, other->name, other->mark.line);
	}
	return 0;
}

static int parse_database_fields(struct config_parser *p, size_t index, struct field *fields,
				 const char *where)
{
	struct database *db = &p->cfg->databases[index];

	if (!fields[D_ENGINE].key)
		return mark_error(p->err, p->path, db->mark,
				  "database '%s' needs 'engine' (postgres, sqlite or command)",
				  db->name);
	if (parse_engine(p, db, &fields[D_ENGINE], where) < 0 ||
	    check_engine_keys(p, db, fields) < 0)
		return -1;
	if (fields[D_URL].key && parse_url(p, db, &fields[D_URL], where) < 0)
		return -1;
	if (fields[D_PASSWORD].key && parse_password(p, db, &fields[D_PASSWORD], where) < 0)
		return -1;
	if (fields[D_PATH].key && get_path(p, &fields[D_PATH], where, &db->path) < 0)
		return -1;
	if (fields[D_MIGRATIONS].key) {
		if (get_string(p, &fields[D_MIGRATIONS], where, &db->migrations_written) < 0)
			return -1;
		db->migrations = path_absolute(p->cfg->dir, db->migrations_written);
		db->migrations_mark = node_mark(fields[D_MIGRATIONS].value);
	}
	if (fields[D_SERVICES].key &&
	    parse_services_of(p, db, &fields[D_SERVICES], where) < 0)
		return -1;
	if (fields[D_WORKDIR].key) {
		if (get_path(p, &fields[D_WORKDIR], where, &db->workdir) < 0)
			return -1;
	} else {
		db->workdir = xstrdup(p->cfg->dir);
	}
	if (fields[D_CURRENT].key &&
	    get_command(p, &fields[D_CURRENT], where, NULL, NULL, &db->current) < 0)
		return -1;
	if (fields[D_UPGRADE].key &&
	    get_command(p, &fields[D_UPGRADE], where, NULL, NULL, &db->upgrade) < 0)
		return -1;
	if (fields[D_DOWNGRADE].key &&
	    get_command(p, &fields[D_DOWNGRADE], where, "{version}", "the version to go down to",
			&db->downgrade) < 0)
		return -1;
	if ((db->engine == DB_ENGINE_COMMAND && check_command_shape(p, db, fields, where) < 0) ||
	    parse_backup(p, db, fields, where) < 0)
		return -1;
	return check_database_paths(p, index, fields);
}

static int parse_database(struct config_parser *p, size_t index, yaml_node_t *node)
{
	struct field fields[D_NFIELDS] = { { 0 } };
	const char *name = p->cfg->databases[index].name;
	char *what = xstrfmt("database '%s'", name);
	char *where = xstrfmt(" in %s", what);

	for (size_t i = 0; i < D_NFIELDS; i++)
		fields[i].name = database_keys[i].name;
	int rc = read_mapping(p, node, what, where, fields, D_NFIELDS);
	if (!rc)
		rc = parse_database_fields(p, index, fields, where);
	free(what);
	free(where);
	return rc;
}

int parse_databases(struct config_parser *p, yaml_node_t *node)
{
	struct config *cfg = p->cfg;
	if (node->type != YAML_MAPPING_NODE)
		return node_error(p, node,
				  "'databases' must be a mapping of database names to databases");
	size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);

	cfg->databases = xcalloc(n ? n : 1, sizeof(*cfg->databases));
	cfg->ndatabases = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
		const char *name;

		if (read_entry_name(p, node, i, "databases", "database", &name) < 0)
			return -1;
		cfg->databases[i].name = xstrdup(name);
		cfg->databases[i].mark = node_mark(yaml_document_get_node(&p->doc, pair->key));
		if (parse_database(p, i, yaml_document_get_node(&p->doc, pair->value)) < 0)
			return -1;
	}
	return 0;
}

void database_free(struct database *db)
{
	free(db->name);
	secret_free(db->url);
	secret_free(db->password);
	free(db->path);
	free(db->migrations);
	free(db->migrations_written);
	free(db->workdir);
	for (size_t i = 0; i < db->nservices; i++)
		free(db->services[i]);
	free(db->services);
	argv_list_free(&db->current);
	argv_list_free(&db->upgrade);
	argv_list_free(&db->downgrade);
	argv_list_free(&db->backup_cmd);
	argv_list_free(&db->restore_cmd);
}
