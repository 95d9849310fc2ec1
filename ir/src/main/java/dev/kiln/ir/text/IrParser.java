package dev.kiln.ir.text;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads the text {@link IrPrinter} writes back into an equal graph. Errors name the line. */
public final class IrParser {
    /** Where {@code blob(offset, length, sha256)} references find their bytes. */
    @FunctionalInterface
    public interface WeightSource {
        ByteBuffer slice(long offset, long length);
    }

    private final String text;
    private final WeightSource weights;
    private int pos;
    private int line = 1;

    private IrParser(String text, WeightSource weights) {
        this.text = text;
        this.weights = weights;
    }

    /** Parses text whose constants are all inline. */
    public static Graph parse(String text) { return parse(text, null); }

    public static Graph parse(String text, WeightSource weights) {
        return new IrParser(text, weights).graph();
    }

    private Graph graph() {
        expectWord("kiln.ir");
        expectWord("1");
        expectWord("graph");
        Graph g = new Graph(name());
        expect('{');
        while (true) {
            skipSpace();
            if (peek() == '}') { pos++; break; }
            String kw = word();
            try {
                switch (kw) {
                    case "input" -> { String n = valueName(); expect(':'); g.addInput(n, type()); }
                    case "const" -> constant(g);
                    case "node" -> node(g);
                    case "output" -> {
                        String n = valueName();
                        Value v = g.value(n);
                        if (v == null) throw error("output %" + n + " is not defined");
                        g.addOutput(v);
                    }
                    default -> throw error("expected input, const, node, output or '}', got '" + kw + "'");
                }
            } catch (IrException | IllegalArgumentException e) {
                if (e.getMessage() != null && e.getMessage().startsWith("line ")) throw e;
                throw error(e.getMessage());
            }
        }
        skipSpace();
        if (pos != text.length()) throw error("unexpected text after the graph");
        return g;
    }

    private void constant(Graph g) {
        String n = valueName();
        expect(':');
        TensorType t = type();
        expect('=');
        skipSpace();
        ByteBuffer data;
        if (peek() == '[') {
            data = literal(t);
        } else {
            expectWord("blob");
            expect('(');
            long offset = longValue(word());
            expect(',');
            long length = longValue(word());
            expect(',');
            String digest = word();
            expect(')');
            if (weights == null) throw error("constant %" + n + " refers to a weights blob, but none was given");
            data = weights.slice(offset, length).order(ByteOrder.LITTLE_ENDIAN);
            if (!IrPrinter.sha256(data).equals(digest)) throw error("constant %" + n + " does not match its sha256 digest in the weights blob");
        }
        g.addConstant(n, t, data);
    }

    private void node(Graph g) {
        expect('@');
        String nodeName = name();
        List<String> outs = new ArrayList<>();
        do {
            outs.add(valueName());
        } while (tryChar(','));
        expect('=');
        String op = word();
        expect('(');
        List<Value> ins = new ArrayList<>();
        if (!tryChar(')')) {
            do {
                skipSpace();
                if (peek() == '_') {
                    expectWord("_");
                    ins.add(null);
                } else {
                    String in = valueName();
                    Value v = g.value(in);
                    if (v == null) throw error("node @" + nodeName + " uses %" + in + " before it is defined");
                    ins.add(v);
                }
            } while (tryChar(','));
            expect(')');
        }
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        if (tryChar('{')) {
            do {
                String key = name();
                expect('=');
                attrs.put(key, attribute());
            } while (tryChar(','));
            expect('}');
        }
        expect(':');
        List<TensorType> types = new ArrayList<>();
        do {
            types.add(type());
        } while (tryChar(','));
        g.addNode(nodeName, op, ins, attrs, outs, types);
    }

    private Attribute attribute() {
        skipSpace();
        char c = peek();
        if (c == '"') return new Attribute.Str(string());
        if (c == '[') {
            pos++;
            skipSpace();
            if (peek() == '"') {
                List<String> s = new ArrayList<>();
                do { s.add(string()); } while (tryChar(','));
                expect(']');
                return new Attribute.Strs(s);
            }
            List<String> items = new ArrayList<>();
            do { items.add(word()); } while (tryChar(','));
            expect(']');
            if (items.stream().anyMatch(IrParser::isFloatText)) {
                float[] f = new float[items.size()];
                for (int i = 0; i < f.length; i++) f[i] = (float) doubleValue(items.get(i));
                return new Attribute.Floats(f);
            }
            return new Attribute.Ints(items.stream().mapToLong(this::longValue).toArray());
        }
        String w = word();
        switch (w) {
            case "ints" -> { expect('['); expect(']'); return new Attribute.Ints(new long[0]); }
            case "floats" -> { expect('['); expect(']'); return new Attribute.Floats(new float[0]); }
            case "strings" -> { expect('['); expect(']'); return new Attribute.Strs(List.of()); }
            case "tensor" -> {
                expect('(');
                TensorType t = type();
                expect(',');
                ByteBuffer d = literal(t);
                expect(')');
                return new Attribute.Tensor(t, d);
            }
            default -> {
                return isFloatText(w) ? new Attribute.Float((float) doubleValue(w)) : new Attribute.Int(longValue(w));
            }
        }
    }

    private static boolean isFloatText(String w) {
        return w.contains(".") || w.contains("E") || w.contains("e") || w.endsWith("nan") || w.endsWith("inf");
    }

    private ByteBuffer literal(TensorType t) {
        DType d = t.dtype();
        long n = t.shape().elementCount();
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(n * d.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
        expect('[');
        List<String> items = new ArrayList<>();
        if (!tryChar(']')) {
            do { items.add(word()); } while (tryChar(','));
            expect(']');
        }
        if (items.size() != n) throw error("a " + t + " literal needs " + n + " values, got " + items.size());
        for (String s : items) {
            switch (d) {
                case F32 -> b.putFloat((float) doubleValue(s));
                case F64 -> b.putDouble(doubleValue(s));
                case F16, BF16 -> {
                    if (!s.startsWith("0x")) throw error(d + " values are written as 0x bit patterns, got '" + s + "'");
                    b.putShort((short) Integer.parseInt(s.substring(2), 16));
                }
                case I8, U8 -> b.put((byte) longValue(s));
                case I16, U16 -> b.putShort((short) longValue(s));
                case I32 -> b.putInt((int) longValue(s));
                case U32 -> b.putInt((int) Long.parseLong(s));
                case I64 -> b.putLong(longValue(s));
                case U64 -> b.putLong(Long.parseUnsignedLong(s));
                case BOOL -> {
                    if (!s.equals("true") && !s.equals("false")) throw error("bool values are true or false, got '" + s + "'");
                    b.put((byte) (s.equals("true") ? 1 : 0));
                }
            }
        }
        b.flip();
        return b;
    }

    private TensorType type() {
        String dt = word();
        DType dtype;
        try {
            dtype = DType.fromIrName(dt);
        } catch (IllegalArgumentException e) {
            throw error(e.getMessage());
        }
        expect('[');
        List<Dim> dims = new ArrayList<>();
        if (!tryChar(']')) {
            do {
                String w = word();
                dims.add(Character.isDigit(w.charAt(0)) ? Dim.of(longValue(w)) : Dim.symbol(w));
            } while (tryChar(','));
            expect(']');
        }
        Layout layout = Layout.ANY;
        if (pos < text.length() && text.charAt(pos) == '@') {
            pos++;
            layout = Layout.of(word());
        }
        return new TensorType(dtype, new Shape(dims), layout);
    }

    private String valueName() {
        expect('%');
        return name();
    }

    private String name() {
        skipSpace();
        return peek() == '"' ? string() : word();
    }

    private String string() {
        skipSpace();
        if (peek() != '"') throw error("expected a quoted string");
        pos++;
        StringBuilder b = new StringBuilder();
        while (true) {
            if (pos >= text.length() || text.charAt(pos) == '\n') throw error("unterminated string");
            char c = text.charAt(pos++);
            if (c == '"') return b.toString();
            if (c != '\\') { b.append(c); continue; }
            char e = pos < text.length() ? text.charAt(pos++) : '\0';
            switch (e) {
                case '"', '\\' -> b.append(e);
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (pos + 4 > text.length()) throw error("short \\u escape");
                    b.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
                    pos += 4;
                }
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private String word() {
        skipSpace();
        int start = pos;
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (Character.isLetterOrDigit(c) || c == '_' || c == '.' || c == '-' || c == '+') pos++;
            else break;
        }
        if (start == pos) throw error(pos < text.length() ? "unexpected '" + text.charAt(pos) + "'" : "unexpected end of text");
        return text.substring(start, pos);
    }

    private long longValue(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw error("expected an integer, got '" + s + "'");
        }
    }

    private double doubleValue(String s) {
        return switch (s) {
            case "nan" -> Double.NaN;
            case "inf" -> Double.POSITIVE_INFINITY;
            case "-inf" -> Double.NEGATIVE_INFINITY;
            default -> {
                try {
                    yield Double.parseDouble(s);
                } catch (NumberFormatException e) {
                    throw error("expected a number, got '" + s + "'");
                }
            }
        };
    }

    private void expectWord(String w) {
        String got = word();
        if (!got.equals(w)) throw error("expected '" + w + "', got '" + got + "'");
    }

    private void expect(char c) {
        skipSpace();
        if (peek() != c) throw error("expected '" + c + "'" + (pos < text.length() ? ", got '" + text.charAt(pos) + "'" : ""));
        pos++;
    }

    private boolean tryChar(char c) {
        skipSpace();
        if (peek() == c) { pos++; return true; }
        return false;
    }

    private char peek() { return pos < text.length() ? text.charAt(pos) : '\0'; }

    private void skipSpace() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c == '\n') { line++; pos++; }
            else if (Character.isWhitespace(c)) pos++;
            else if (c == '#') { while (pos < text.length() && text.charAt(pos) != '\n') pos++; }
            else break;
        }
    }

    private IrException error(String message) {
        return new IrException("line " + line + ": " + message);
    }
}
