package dev.kiln.runtime.artifact;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonTest {
    @Test
    void writesCanonically() {
        Map<String, Object> inner = new LinkedHashMap<>();
        inner.put("z", true);
        inner.put("a", List.of());
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("list", List.of(Map.of("k", "v"), List.of(1L, 2L)));
        root.put("b", inner);
        root.put("a", List.of(1L, -2L, "x"));
        root.put("empty", Map.of());
        assertEquals("""
                {
                  "a": [1, -2, "x"],
                  "b": {
                    "a": [],
                    "z": true
                  },
                  "empty": {},
                  "list": [
                    {
                      "k": "v"
                    },
                    [1, 2]
                  ]
                }
                """, Json.write(root));
    }

    @Test
    void escapesAndRoundTripsStrings() {
        String s = "q\"b\\s/n\nt\tc\u0001d\u007fé😀";
        String written = Json.write(List.of(s));
        assertEquals("[\"q\\\"b\\\\s/n\\nt\\tc\\u0001d\\u007fé😀\"]\n", written);
        assertEquals(List.of(s), Json.parse(written));
        assertEquals(List.of("\uD83D\uDE00/"), Json.parse("[\"\\ud83d\\ude00\\/\"]"));
    }

    @Test
    void parsesValues() {
        Object v = Json.parse(" {\"a\": [1, -9223372036854775808, true, false, \"s\", {}], \"b\": {\"c\": 0}} ");
        assertEquals(Map.of("a", List.of(1L, Long.MIN_VALUE, true, false, "s", Map.of()), "b", Map.of("c", 0L)), v);
    }

    @Test
    void isStrict() {
        String[][] cases = {
                {"{\"a\": 1,}", "expected a string key"},
                {"[1, 2,]", "unexpected character ']'"},
                {"{\"a\": 1, \"a\": 2}", "duplicate key \"a\""},
                {"{\"a\": null}", "null is not allowed"},
                {"[1.5]", "only integers"},
                {"[1e3]", "only integers"},
                {"[01]", "leading zero"},
                {"[99999999999999999999]", "out of range"},
                {"{} {}", "unexpected text after"},
                {"{a: 1}", "expected a string key"},
                {"[\"a\u0001\"]", "raw control character"},
                {"[\"\\ud800\"]", "lone surrogate"},
                {"[\"\\x\"]", "bad escape"},
                {"[tru]", "unexpected character 't'"},
                {"[1", "unexpected end"},
                {"", "unexpected end"},
                {"[".repeat(40) + "]".repeat(40), "nested deeper than 32"},
        };
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
        }
    }

    @Test
    void refusesWhatItCannotWrite() {
        assertThrows(IllegalArgumentException.class, () -> Json.write(List.of(1.5)));
        assertThrows(IllegalArgumentException.class, () -> Json.write(List.of("\uD800")));
    }
}
