SELECT id, pinned FROM notes WHERE pinned LIMIT 1;
