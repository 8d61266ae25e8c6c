-- The resources a worker offers and has reserved, from heartbeats v2. Null for a worker heard only through v1
-- heartbeats (an older worker), which carried slots alone.
ALTER TABLE workers
    ADD COLUMN cpu double precision,
    ADD COLUMN cpu_reserved double precision,
    ADD COLUMN memory_mb bigint,
    ADD COLUMN memory_reserved_mb bigint,
    ADD COLUMN load_1m double precision;
