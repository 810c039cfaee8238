/*
 * What the engines share (db.h): the rows of lastgood_migrations they
 * hand back, and who is recorded as having run a migration.
 */
#include "core/db/db.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "util/alloc.h"

void db_applied_free(struct db_applied *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].operator);
	}
	free(rows);
}

char *db_operator(void)
{
	/* under sudo the real uid is root's: the person is SUDO_USER */
	const char *sudo_user = getenv("SUDO_USER");
	if (sudo_user && *sudo_user)
		return xstrdup(sudo_user);
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_name && *pw->pw_name)
		return xstrdup(pw->pw_name);
	return xstrfmt("uid %ld", (long)getuid());
}

const struct db_engine *db_engine_of(const struct database *db)
{
	switch (db->engine) {
	case DB_ENGINE_POSTGRES: return &db_engine_postgres;
	case DB_ENGINE_SQLITE: return &db_engine_sqlite;
	case DB_ENGINE_COMMAND: break;
	}
	return NULL;
}
