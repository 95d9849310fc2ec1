package dev.kiln.server;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A request as it arrived, for signature checking. Header names are case-insensitive (the headers are kept in a
 * case-insensitive map, values of names that differ only in case merged in order); rawPath and rawQuery are
 * exactly as on the wire, still percent-encoded. A null query or body counts as empty.
 */
public record SignedRequest(String method, String rawPath, String rawQuery, Map<String, List<String>> headers, byte[] body) {
    public SignedRequest {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(rawPath, "rawPath");
        rawQuery = rawQuery == null ? "" : rawQuery;
        TreeMap<String, List<String>> byName = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        headers.forEach((name, values) -> byName.computeIfAbsent(name, n -> new ArrayList<>()).addAll(values));
        byName.replaceAll((name, values) -> List.copyOf(values));
        headers = Collections.unmodifiableMap(byName);
        body = body == null ? new byte[0] : body;
    }

    /** The values of one header, in order; empty when absent. */
    List<String> header(String name) {
        return headers.getOrDefault(name, List.of());
    }
}
