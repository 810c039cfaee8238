-- v2: sessions expire
ALTER TABLE sessions ADD COLUMN expires_at TEXT;
