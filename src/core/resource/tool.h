/*
 * The moves of a `command` database's migration tool (tool.c), shared by
 * the switch (the "tool early" and "tool late" resource kinds) and the
 * `db` commands, so that both journal and go back the same way.
 */
#ifndef LG_RESOURCE_TOOL_H
#define LG_RESOURCE_TOOL_H

#include "core/plan.h"

struct database;
struct error;
struct schema_switch;
struct state;

/* Run db's tool towards version `want` (NULL: its newest, `upgrade`) as
 * one step of kind (STEP_MIGRATE, STEP_MIGRATE_DOWN) of op, from version
 * `from` (for the step's detail), and read where it got: *reached
 * (caller frees; NULL on failure). A downgrade that does not land on
 * want is followed by an upgrade (the version may be ahead: a release
 * rolled forward again); still not on want is an error. */
int tool_move(struct state *st, long op, const struct database *db, enum step_kind kind,
	      const char *from, const char *want, char **reached, struct error *err);

/* Bring db back to where sw (a switch of op, journaled) started: the tool
 * towards sw->from_version, else the restore command with sw->backup.
 * ERROR_ATTENTION naming the database when neither works. */
int tool_go_back(struct state *st, long op, const struct database *db,
		 const struct schema_switch *sw, struct error *err);

#endif
