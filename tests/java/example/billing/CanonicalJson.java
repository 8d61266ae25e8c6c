package example.billing;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import org.apache.avro.generic.GenericRecord;
import org.apache.avro.Schema;

/**
 * Kafkaban's definition hash, from its README's rules for other languages: "sha256:" and the lowercase hex
 * SHA-256 of the UTF-8 bytes of the definition (the FlowSnapshot record, every field present) as JSON with the
 * keys of every object sorted by code point, no whitespace, non-ASCII characters as they are, and each double
 * written as the shortest decimal that reads back to the same double (Python's repr: 0.0, 0.5, 1e-05, 1e+16).
 */
public final class CanonicalJson {
    private CanonicalJson() {
    }

    public static String definitionHash(GenericRecord definition) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(write(definition).getBytes(StandardCharsets.UTF_8));
            return "sha256:" + HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof GenericRecord record) {
            Map<String, Object> fields = new java.util.HashMap<>();
            for (Schema.Field field : record.getSchema().getFields()) {
                fields.put(field.name(), record.get(field.name()));
            }
            write(fields, out);
        } else if (value instanceof Map<?, ?> map) {
            List<String> keys = new ArrayList<>();
            for (Object key : map.keySet()) {
                keys.add(key.toString());
            }
            keys.sort(CanonicalJson::byCodePoint);
            out.append('{');
            for (int i = 0; i < keys.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                string(keys.get(i), out);
                out.append(':');
                write(lookup(map, keys.get(i)), out);
            }
            out.append('}');
        } else if (value instanceof Collection<?> items) {
            out.append('[');
            int i = 0;
            for (Object item : items) {
                if (i++ > 0) {
                    out.append(',');
                }
                write(item, out);
            }
            out.append(']');
        } else if (value instanceof Double || value instanceof Float) {
            out.append(pythonRepr(((Number) value).doubleValue()));
        } else if (value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else {  // String, Avro's Utf8 and enum symbols
            string(value.toString(), out);
        }
    }

    private static Object lookup(Map<?, ?> map, String key) {
        for (Map.Entry<?, ?> entry : map.entrySet()) {  // Avro maps may key by Utf8, not String
            if (entry.getKey().toString().equals(key)) {
                return entry.getValue();
            }
        }
        throw new IllegalStateException(key);
    }

    private static int byCodePoint(String a, String b) {
        // Python sorts strings by code point; String.compareTo compares UTF-16 units, which differs past U+FFFF
        int[] x = a.codePoints().toArray();
        int[] y = b.codePoints().toArray();
        return java.util.Arrays.compare(x, y);
    }

    private static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** A double as Python's repr writes it (which is what json.dumps writes). */
    static String pythonRepr(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal exact = new BigDecimal(d);
        BigDecimal shortest = exact;
        for (int precision = 1; precision <= 17; precision++) {  // the fewest digits that read back as d
            BigDecimal rounded = exact.round(new MathContext(precision, RoundingMode.HALF_EVEN));
            if (rounded.doubleValue() == d) {
                shortest = rounded;
                break;
            }
        }
        String sign = shortest.signum() < 0 ? "-" : "";
        BigDecimal magnitude = shortest.abs().stripTrailingZeros();
        String digits = magnitude.unscaledValue().toString();
        int exponent = digits.length() - 1 - magnitude.scale();  // d.ddd x 10^exponent
        if (exponent < -4 || exponent >= 16) {
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
        }
        if (exponent < 0) {
            return sign + "0." + "0".repeat(-exponent - 1) + digits;
        }
        if (digits.length() <= exponent + 1) {
            return sign + digits + "0".repeat(exponent + 1 - digits.length()) + ".0";
        }
        return sign + digits.substring(0, exponent + 1) + "." + digits.substring(exponent + 1);
    }

    /**
     * For the test that holds this to Python's json.dumps: reads lines "d DOUBLE", "s HEX" (a UTF-8 string) or
     * "m HEX,HEX,..." (an object of those keys, values null) and prints the canonical JSON of each, one a line.
     */
    public static void main(String[] args) throws java.io.IOException {
        java.io.BufferedReader in = new java.io.BufferedReader(
                new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
        java.io.PrintStream out = new java.io.PrintStream(System.out, true, StandardCharsets.UTF_8);
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] parts = line.split(" ", 2);
            Object value = switch (parts[0]) {
                case "d" -> Double.parseDouble(parts[1]);
                case "s" -> utf8(parts[1]);
                case "m" -> {
                    Map<String, Object> keys = new java.util.LinkedHashMap<>();
                    for (String key : parts[1].split(",")) {
                        keys.put(utf8(key), null);
                    }
                    yield keys;
                }
                default -> throw new IllegalArgumentException(line);
            };
            out.println(write(value));
        }
    }

    private static String utf8(String hex) {
        return new String(HexFormat.of().parseHex(hex), StandardCharsets.UTF_8);
    }
}
