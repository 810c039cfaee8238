ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false;
CREATE INDEX notes_pinned ON notes (id) WHERE pinned;
