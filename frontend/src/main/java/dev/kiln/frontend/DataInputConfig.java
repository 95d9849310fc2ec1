package dev.kiln.frontend;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The input shapes a user fixes for a model: the ordered dictionary form {@code {"input0":[1,3,224,224]}}
 * (names given) or the list form {@code [[1,3,224,224]]} (shapes in input order). The CLI's escaped
 * form {@code {\"input0\":[1,3,224,224]}} is accepted too.
 */
public final class DataInputConfig {
    /** One input: its name (null in the list form) and shape. */
    public record Entry(String name, long[] shape) {
        @Override
        public String toString() { return (name == null ? "" : name + "=") + Arrays.toString(shape); }
    }

    private final List<Entry> entries;

    private DataInputConfig(List<Entry> entries) { this.entries = List.copyOf(entries); }

    public static DataInputConfig empty() { return new DataInputConfig(List.of()); }

    /**
     * Shapes another parser has already read and checked (the job API parses DataInputConfig per
     * framework); the entries must be all named (dictionary form) or all unnamed (list form).
     */
    public static DataInputConfig of(List<Entry> entries) {
        if (entries.stream().map(e -> e.name() == null).distinct().count() > 1) {
            throw new IllegalArgumentException("DataInputConfig entries must be all named or all unnamed: " + entries);
        }
        return new DataInputConfig(entries);
    }

    public List<Entry> entries() { return entries; }

    public boolean isEmpty() { return entries.isEmpty(); }

    /** Whether the shapes are named (dictionary form) rather than positional (list form). */
    public boolean isNamed() { return !entries.isEmpty() && entries.get(0).name() != null; }

    public static DataInputConfig parse(String text) {
        if (text == null || text.isBlank()) return empty();
        String json = text.strip();
        if (json.contains("\\\"")) json = json.replace("\\\"", "\"");
        Object doc;
        try {
            doc = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw ImportException.client("DataInputConfig is not valid JSON (" + e.getMessage() + "): " + text);
        }
        List<Entry> entries = new ArrayList<>();
        if (doc instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                String name = (String) e.getKey();
                entries.add(new Entry(name, shape(e.getValue(), "input '" + name + "'")));
            }
        } else if (doc instanceof List<?> l) {
            for (int i = 0; i < l.size(); i++) entries.add(new Entry(null, shape(l.get(i), "input " + i)));
        } else {
            throw ImportException.client("DataInputConfig must be a dictionary of input names to shapes, e.g. {\"input0\":[1,3,224,224]}, or a list of shapes, e.g. [[1,3,224,224]]");
        }
        if (entries.isEmpty()) throw ImportException.client("DataInputConfig names no inputs");
        return new DataInputConfig(entries);
    }

    private static long[] shape(Object v, String what) {
        if (!(v instanceof List<?> dims)) {
            throw ImportException.client("DataInputConfig " + what + ": the shape must be a list of dimensions such as [1,3,224,224], got " + v);
        }
        long[] s = new long[dims.size()];
        for (int i = 0; i < s.length; i++) {
            Object d = dims.get(i);
            long size;
            try {
                size = d instanceof BigDecimal b ? b.longValueExact() : -1;
            } catch (ArithmeticException e) {
                size = -1;
            }
            if (size < 1) {
                throw ImportException.client("DataInputConfig " + what + ": dimension " + i + " must be a positive integer, got " + d);
            }
            s[i] = size;
        }
        return s;
    }
}
