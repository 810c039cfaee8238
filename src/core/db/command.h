/*
 * The `command` engine (command.c): a database whose migrations an
 * existing tool runs, through the argv lists of its config (`current`,
 * `upgrade`, `downgrade` with {version}, `backup` and `restore` with
 * {file}), in its workdir.
 */
#ifndef LG_DB_COMMAND_H
#define LG_DB_COMMAND_H

struct argv_list;
struct database;
struct error;

/* Run tmpl (one of db's lists; what names it in messages: "upgrade")
 * with {version} and {file} replaced (NULL: left alone). A failure names
 * the database, the list, its exit status and the last line it printed
 * (stdout and stderr). */
int db_command_run(const struct database *db, const char *what, const struct argv_list *tmpl,
		   const char *version, const char *file, struct error *err);
/* The version `current` prints: the first word of the last non-empty
 * line of its standard output ("" when it prints nothing: a database no
 * migration has touched). Caller frees *version. */
int db_command_current(const struct database *db, char **version, struct error *err);
/* Whether db drives a migration tool (`current`, `upgrade`, `downgrade`);
 * 0: it is backed up and restored only (Redis, MongoDB). */
int db_command_migrates(const struct database *db);

#endif
