-- Records another producer put on another partition than their key's. No reader folds them where they lie; the
-- engine forwards each to its key's partition. Counted here, per topic and producer, for /metrics.
CREATE TABLE misplaced_records (
    topic text NOT NULL,
    producer text NOT NULL,
    records bigint NOT NULL,
    last_partition integer NOT NULL,
    last_offset bigint NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, producer)
);
