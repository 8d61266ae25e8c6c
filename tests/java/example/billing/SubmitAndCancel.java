package example.billing;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Another team's service starting a Kafkaban execution and cancelling it, by the README's rules for other
 * languages only: nothing of Kafkaban's code, the executions schema file, Apache Avro and kafka-clients with its
 * defaults (its default partitioner is Kafka's murmur2, the one Kafkaban partitions by).
 *
 * <pre>
 * SubmitAndCancel BOOTSTRAP TOPIC SCHEMA_FILE [REGISTRY_URL]
 * </pre>
 *
 * Writes an ExecutionSubmitted keyed by its execution id (Avro single-object encoding, or Confluent framing with
 * the schema registered at REGISTRY_URL), prints {"execution_id", "partition", "offset"} as a JSON line, then
 * waits for a line "cancel" on stdin and writes a CancelRequested for it, printing the same for that record.
 */
public final class SubmitAndCancel {
    private static final String NAMESPACE = "kafkaban.executions.";

    private final Schema schema;
    private final String topic;
    private final KafkaProducer<String, byte[]> producer;
    private final Integer registryId;  // null: single-object encoding

    private SubmitAndCancel(String bootstrap, String topic, Schema schema, String registryUrl)
            throws IOException, InterruptedException {
        this.schema = schema;
        this.topic = topic;
        this.registryId = registryUrl == null ? null : register(registryUrl, topic + "-value", schema);
        Properties config = new Properties();
        config.put("bootstrap.servers", bootstrap);
        config.put("key.serializer", StringSerializer.class.getName());
        config.put("value.serializer", ByteArraySerializer.class.getName());
        this.producer = new KafkaProducer<>(config);
    }

    public static void main(String[] args) throws Exception {
        Schema schema = new Schema.Parser().parse(new File(args[2]));
        SubmitAndCancel service = new SubmitAndCancel(args[0], args[1], schema, args.length > 3 ? args[3] : null);
        try {
            String executionId = UUID.randomUUID().toString();
            service.send(executionId, service.submission());
            BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            if ("cancel".equals(stdin.readLine())) {
                GenericRecord cancel = service.payload("CancelRequested");
                cancel.put("requested_by", "billing-service");
                cancel.put("reason", "not needed after all");
                service.send(executionId, cancel);
            }
        } finally {
            service.producer.close();
        }
    }

    /** The payload record of one type, from the envelope's payload union. */
    private GenericRecord payload(String type) {
        for (Schema branch : schema.getField("payload").schema().getTypes()) {
            if (branch.getFullName().equals(NAMESPACE + type)) {
                return new GenericData.Record(branch);
            }
        }
        throw new IllegalArgumentException("no payload " + type + " in " + schema.getFullName());
    }

    private GenericRecord submission() {
        GenericRecord submitted = payload("ExecutionSubmitted");
        Schema flowSchema = submitted.getSchema().getField("definition").schema();
        Schema jobSchema = flowSchema.getField("jobs").schema().getElementType();

        GenericRecord job = new GenericData.Record(jobSchema);
        job.put("name", "sleep");
        job.put("type", "command");
        // a note with what JSON escapes and what it keeps as it is, so the hash rule is held to all of it
        job.put("config", Map.of("command", "sleep 30", "note", "caf\u00e9 \"quoted\" back\\slash\ttab \ud83d\ude80"));
        job.put("depends_on", List.of());
        job.put("condition", null);
        job.put("max_attempts", 1);
        job.put("backoff_base_ms", 0L);
        job.put("backoff_max_ms", 0L);
        job.put("jitter", 0.5);
        job.put("max_lost", 3);
        job.put("timeout_ms", null);
        job.put("lease_ms", 30000L);
        job.put("pool", "default");
        job.put("cpu", 0.25);
        job.put("memory_mb", 0L);

        GenericRecord definition = new GenericData.Record(flowSchema);
        definition.put("name", "billing-sleep");
        definition.put("failure_policy",
                new GenericData.EnumSymbol(flowSchema.getField("failure_policy").schema(), "finish_current"));
        java.util.Map<String, String> params = new java.util.HashMap<>();
        params.put("day", null);  // required: the submission names it
        params.put("region", "eu");
        definition.put("params", params);
        definition.put("jobs", List.of(job));

        submitted.put("flow_name", "billing-sleep");
        submitted.put("definition_hash", CanonicalJson.definitionHash(definition));
        submitted.put("definition", definition);
        submitted.put("params", Map.of("day", "2026-12-01"));
        submitted.put("submitter", "billing-service");
        submitted.put("idempotency_key", null);
        submitted.put("schedule_id", null);
        submitted.put("logical_time", null);
        return submitted;  // fields of later versions (project, archive) keep their defaults
    }

    private GenericRecord envelope(String executionId, GenericRecord payload) {
        GenericData.Record envelope = new GenericData.Record(schema);
        envelope.put("event_id", UUID.randomUUID().toString());
        envelope.put("execution_id", executionId);
        envelope.put("occurred_at", System.currentTimeMillis());
        envelope.put("producer", new GenericData.EnumSymbol(schema.getField("producer").schema(), "external"));
        envelope.put("causation_id", null);
        envelope.put("correlation_id", null);
        envelope.put("payload", payload);
        return envelope;
    }

    private void send(String executionId, GenericRecord payload) throws Exception {
        GenericRecord record = envelope(executionId, fillDefaults(payload));
        RecordMetadata written = producer.send(new ProducerRecord<>(topic, executionId, encode(record))).get();
        System.out.printf("{\"execution_id\": \"%s\", \"partition\": %d, \"offset\": %d}%n", executionId,
                written.partition(), written.offset());
        System.out.flush();
    }

    private static GenericRecord fillDefaults(GenericRecord record) {
        for (Schema.Field field : record.getSchema().getFields()) {
            if (record.get(field.name()) == null && field.hasDefaultValue()) {
                record.put(field.name(), GenericData.get().getDefaultValue(field));
            }
        }
        return record;
    }

    private byte[] encode(GenericRecord record) throws IOException {
        if (registryId == null) {  // C3 01, the schema's CRC-64-AVRO fingerprint (little-endian), the body
            ByteBuffer framed = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(record);
            byte[] out = new byte[framed.remaining()];
            framed.get(out);
            return out;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();  // 00, the registry's 4-byte schema id, the body
        out.write(0);
        out.write(ByteBuffer.allocate(4).putInt(registryId).array());
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema).write(record, encoder);
        encoder.flush();
        return out.toByteArray();
    }

    /** Registers the schema under the subject as a Confluent serializer would, and returns its id. */
    private static int register(String url, String subject, Schema schema) throws IOException, InterruptedException {
        String body = "{\"schema\":" + CanonicalJson.write(schema.toString()) + "}";
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/subjects/" + subject + "/versions"))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<String> answer = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        Matcher id = Pattern.compile("\"id\"\\s*:\\s*(\\d+)").matcher(answer.body());
        if (answer.statusCode() != 200 || !id.find()) {
            throw new IOException("registering " + subject + ": " + answer.statusCode() + " " + answer.body());
        }
        return Integer.parseInt(id.group(1));
    }
}
