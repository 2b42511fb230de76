-- Webhook bodies are compressed with LZ4 instead of the default pglz where this server has it (built
-- --with-lz4, as Debian's and the official images are): the front door's insert compresses every body,
-- and LZ4 costs Postgres a quarter to a third less CPU per stored webhook for ~8 % more WAL
-- (bench/RESULTS.md, "LZ4 bodies, a lighter load generator…"). Bodies already stored keep pglz; both
-- read the same.
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)
  ) THEN
    ALTER TABLE deliveries ALTER COLUMN body SET COMPRESSION lz4;
  END IF;
END
$$;
