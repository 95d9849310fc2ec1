package dev.kiln.frontend;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict JSON reader for the small documents users pass on the command line. Objects keep their
 * key order (DataInputConfig dictionaries are ordered); numbers are BigDecimal.
 */
final class Json {
    private final String text;
    private int pos;

    private Json(String text) { this.text = text; }

    /** Parses a whole document; malformed input throws IllegalArgumentException saying where. */
    static Object parse(String text) {
        Json p = new Json(text);
        Object v = p.value(0);
        p.skipSpace();
        if (p.pos != text.length()) throw p.error("unexpected text after the JSON value");
        return v;
    }

    private Object value(int depth) {
        if (depth > 64) throw error("nesting is too deep");
        skipSpace();
        if (pos >= text.length()) throw error("unexpected end of input");
        char c = text.charAt(pos);
        return switch (c) {
            case '{' -> object(depth);
            case '[' -> array(depth);
            case '"' -> string();
            case 't' -> literal("true", Boolean.TRUE);
            case 'f' -> literal("false", Boolean.FALSE);
            case 'n' -> literal("null", null);
            default -> number();
        };
    }

    private Map<String, Object> object(int depth) {
        Map<String, Object> m = new LinkedHashMap<>();
        pos++;
        skipSpace();
        if (peek() == '}') { pos++; return m; }
        while (true) {
            skipSpace();
            if (peek() != '"') throw error("expected a quoted key");
            String key = string();
            skipSpace();
            expect(':');
            if (m.put(key, value(depth + 1)) != null) throw error("duplicate key \"" + key + "\"");
            skipSpace();
            if (peek() == ',') { pos++; continue; }
            expect('}');
            return m;
        }
    }

    private List<Object> array(int depth) {
        List<Object> l = new ArrayList<>();
        pos++;
        skipSpace();
        if (peek() == ']') { pos++; return l; }
        while (true) {
            l.add(value(depth + 1));
            skipSpace();
            if (peek() == ',') { pos++; continue; }
            expect(']');
            return l;
        }
    }

    private String string() {
        pos++;
        StringBuilder b = new StringBuilder();
        while (true) {
            if (pos >= text.length()) throw error("unterminated string");
            char c = text.charAt(pos++);
            if (c == '"') return b.toString();
            if (c < 0x20) throw error("control character in string");
            if (c != '\\') { b.append(c); continue; }
            if (pos >= text.length()) throw error("unterminated escape");
            char e = text.charAt(pos++);
            switch (e) {
                case '"', '\\', '/' -> b.append(e);
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (pos + 4 > text.length()) throw error("short \\u escape");
                    try {
                        b.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
                    } catch (NumberFormatException ex) {
                        throw error("bad \\u escape");
                    }
                    pos += 4;
                }
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

    private Object literal(String word, Object v) {
        if (!text.startsWith(word, pos)) throw error("unexpected character '" + text.charAt(pos) + "'");
        pos += word.length();
        return v;
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
