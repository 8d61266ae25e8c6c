"""The brokers Kafkaban runs itself, for dev, tests and benchmarks: Apache Kafka's Java and jars (``kafka_dist``),
KRaft nodes and clusters (``kafka_server``), which broker to start (``local``), and the tansu fallback with the
port helpers (``embedded``). Production runs on an Apache Kafka cluster of its own (compose/)."""
