package dev.kiln.backends;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the CompilerOptions string: JSON, or the Python-dict spelling the Neo documentation also shows
 * ({@code {'mattr': ['+neon'], 'ANDROID_PLATFORM': 25}}, single quotes, True/False/None).
 * Objects keep key order; numbers are BigDecimal.
 */
final class OptionsReader {
    private final String text;
    private int pos;

    private OptionsReader(String text) { this.text = text; }

    /** Parses a whole document; malformed input throws IllegalArgumentException saying where. */
    static Object read(String text) {
        OptionsReader r = new OptionsReader(text);
        Object v = r.value(0);
        r.skipSpace();
        if (r.pos != text.length()) throw r.error("unexpected text after the value");
        return v;
    }

    private Object value(int depth) {
        if (depth > 8) throw error("nesting is too deep");
        skipSpace();
        if (pos >= text.length()) throw error("unexpected end of input");
        char c = text.charAt(pos);
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        if (c == '"' || c == '\'') return string();
        for (String word : new String[] {"true", "True", "false", "False", "null", "None"}) {
            if (text.startsWith(word, pos)) {
                pos += word.length();
                return word.equalsIgnoreCase("true") ? Boolean.TRUE
                        : word.equalsIgnoreCase("false") ? Boolean.FALSE : null;
            }
        }
        return number();
    }

    private Map<String, Object> object(int depth) {
        Map<String, Object> m = new LinkedHashMap<>();
        pos++;
        while (true) {
            skipSpace();
            if (peek() == '}') { pos++; return m; }
            if (peek() != '"' && peek() != '\'') throw error("expected a quoted key");
            String key = string();
            skipSpace();
            expect(':');
            if (m.containsKey(key)) throw error("duplicate key '" + key + "'");
            m.put(key, value(depth + 1));
            skipSpace();
            if (peek() == ',') { pos++; continue; }
            expect('}');
            return m;
        }
    }

    private List<Object> array(int depth) {
        List<Object> l = new ArrayList<>();
        pos++;
        while (true) {
            skipSpace();
            if (peek() == ']') { pos++; return l; }
            l.add(value(depth + 1));
            skipSpace();
            if (peek() == ',') { pos++; continue; }
            expect(']');
            return l;
        }
    }

    private String string() {
        char quote = text.charAt(pos++);
        StringBuilder b = new StringBuilder();
        while (true) {
            if (pos >= text.length()) throw error("unterminated string");
            char c = text.charAt(pos++);
            if (c == quote) return b.toString();
            if (c < 0x20) throw error("control character in string");
            if (c != '\\') { b.append(c); continue; }
            if (pos >= text.length()) throw error("unterminated escape");
            char e = text.charAt(pos++);
            switch (e) {
                case '"', '\'', '\\', '/' -> b.append(e);
                case 'n' -> b.append('\n');
                case 't' -> b.append('\t');
                case 'r' -> b.append('\r');
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private BigDecimal number() {
        int start = pos;
        while (pos < text.length() && "+-0123456789.eE".indexOf(text.charAt(pos)) >= 0) pos++;
        if (start == pos) throw error("unexpected character '" + text.charAt(pos) + "'");
        try {
            return new BigDecimal(text.substring(start, pos));
        } catch (NumberFormatException e) {
            pos = start;
            throw error("malformed number");
        }
    }

    private void expect(char c) {
        if (peek() != c) throw error("expected '" + c + "'");
        pos++;
    }

    private char peek() { return pos < text.length() ? text.charAt(pos) : '\0'; }

    private void skipSpace() {
        while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) pos++;
    }

    private IllegalArgumentException error(String what) {
        return new IllegalArgumentException(what + " at character " + (pos + 1));
    }
}
