-- v1: the sessions ziggie-api keeps, one row per signed-in user
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    user_name  TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
