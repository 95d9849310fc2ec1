package dev.kiln.ir.text;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Prints a graph as IR text. Small constants are written inline; larger ones as a reference into
 * a weights blob ({@code blob(offset, length, sha256)}) that {@link #writeWeights} writes, so that
 * the text stays readable and weights are never duplicated into it.
 * <pre>
 * kiln.ir 1
 * graph main {
 *   input %x : f32[N,3,224,224]
 *   const %w : f32[64,3,7,7] = blob(0, 37632, 9f2c...)
 *   node @conv1 %y = Conv(%x, %w, _) {group = 1, strides = [2, 2]} : f32[N,64,112,112]
 *   output %y
 * }
 * </pre>
 */
public final class IrPrinter {
    /** Constants with at most this many elements are printed inline. */
    public static final int INLINE_LIMIT = 16;
    static final int BLOB_ALIGNMENT = 64;

    private IrPrinter() {}

    public static String print(Graph g) {
        StringBuilder b = new StringBuilder("kiln.ir 1\n");
        b.append("graph ").append(name(g.name())).append(" {\n");
        for (Value v : g.inputs()) b.append("  input %").append(name(v.name())).append(" : ").append(v.type()).append('\n');
        long offset = 0;
        for (Constant c : g.constants().values()) {
            b.append("  const %").append(name(c.name())).append(" : ").append(c.type()).append(" = ");
            if (isInline(c)) {
                literal(b, c.type().dtype(), c.data());
            } else {
                long length = c.data().remaining();
                b.append("blob(").append(offset).append(", ").append(length).append(", ").append(sha256(c.data())).append(')');
                offset = align(offset + length);
            }
            b.append('\n');
        }
        for (Node n : g.nodes()) {
            b.append("  node @").append(name(n.name())).append(' ');
            List<Value> outs = n.outputs();
            for (int i = 0; i < outs.size(); i++) b.append(i > 0 ? ", " : "").append('%').append(name(outs.get(i).name()));
            b.append(" = ").append(n.op()).append('(');
            for (int i = 0; i < n.inputs().size(); i++) {
                Value in = n.inputs().get(i);
                b.append(i > 0 ? ", " : "").append(in == null ? "_" : "%" + name(in.name()));
            }
            b.append(')');
            if (!n.attributes().isEmpty()) {
                b.append(" {");
                boolean first = true;
                for (Map.Entry<String, Attribute> e : n.attributes().entrySet()) {
                    b.append(first ? "" : ", ").append(name(e.getKey())).append(" = ");
                    attribute(b, e.getValue());
                    first = false;
                }
                b.append('}');
            }
            b.append(" : ");
            for (int i = 0; i < outs.size(); i++) b.append(i > 0 ? ", " : "").append(outs.get(i).type());
            b.append('\n');
        }
        for (Value v : g.outputs()) b.append("  output %").append(name(v.name())).append('\n');
        return b.append("}\n").toString();
    }

    /** Writes the blob that the printed text's {@code blob(...)} references point into. */
    public static void writeWeights(Graph g, OutputStream out) throws IOException {
        WritableByteChannel ch = Channels.newChannel(out);
        long offset = 0;
        for (Constant c : g.constants().values()) {
            if (isInline(c)) continue;
            ByteBuffer d = c.data();
            long length = d.remaining();
            while (d.hasRemaining()) ch.write(d);
            long next = align(offset + length);
            out.write(new byte[(int) (next - offset - length)]);
            offset = next;
        }
        out.flush();
    }

    static boolean isInline(Constant c) {
        return c.type().shape().elementCount() <= INLINE_LIMIT;
    }

    static long align(long offset) {
        return (offset + BLOB_ALIGNMENT - 1) / BLOB_ALIGNMENT * BLOB_ALIGNMENT;
    }

    private static void attribute(StringBuilder b, Attribute a) {
        if (a instanceof Attribute.Int i) {
            b.append(i.value());
        } else if (a instanceof Attribute.Float f) {
            b.append(floatText(f.value()));
        } else if (a instanceof Attribute.Str s) {
            b.append(quote(s.value()));
        } else if (a instanceof Attribute.Ints is) {
            long[] v = is.values();
            if (v.length == 0) b.append("ints[]");
            else list(b, v.length, k -> Long.toString(v[k]));
        } else if (a instanceof Attribute.Floats fs) {
            float[] v = fs.values();
            if (v.length == 0) b.append("floats[]");
            else list(b, v.length, k -> floatText(v[k]));
        } else if (a instanceof Attribute.Strs ss) {
            List<String> v = ss.values();
            if (v.isEmpty()) b.append("strings[]");
            else list(b, v.size(), k -> quote(v.get(k)));
        } else if (a instanceof Attribute.Tensor t) {
            b.append("tensor(").append(t.type()).append(", ");
            literal(b, t.type().dtype(), t.data());
            b.append(')');
        }
    }

    private static void list(StringBuilder b, int n, java.util.function.IntFunction<String> item) {
        b.append('[');
        for (int k = 0; k < n; k++) b.append(k > 0 ? ", " : "").append(item.apply(k));
        b.append(']');
    }

    /** Typed element values; floats in a form that reads back to the same bits (NaN payloads aside). */
    static void literal(StringBuilder b, DType t, ByteBuffer d) {
        int n = d.remaining() / t.byteSize();
        b.append('[');
        for (int i = 0; i < n; i++) {
            if (i > 0) b.append(", ");
            b.append(switch (t) {
                case F32 -> floatText(d.getFloat(i * 4));
                case F64 -> doubleText(d.getDouble(i * 8));
                case F16, BF16 -> "0x" + String.format("%04x", d.getShort(i * 2) & 0xffff);
                case I8 -> Byte.toString(d.get(i));
                case U8 -> Integer.toString(d.get(i) & 0xff);
                case I16 -> Short.toString(d.getShort(i * 2));
                case U16 -> Integer.toString(d.getShort(i * 2) & 0xffff);
                case I32 -> Integer.toString(d.getInt(i * 4));
                case U32 -> Integer.toUnsignedString(d.getInt(i * 4));
                case I64 -> Long.toString(d.getLong(i * 8));
                case U64 -> Long.toUnsignedString(d.getLong(i * 8));
                case BOOL -> d.get(i) != 0 ? "true" : "false";
            });
        }
        b.append(']');
    }

    static String floatText(float f) {
        if (Float.isNaN(f)) return "nan";
        if (Float.isInfinite(f)) return f > 0 ? "inf" : "-inf";
        return Float.toString(f);
    }

    static String doubleText(double f) {
        if (Double.isNaN(f)) return "nan";
        if (Double.isInfinite(f)) return f > 0 ? "inf" : "-inf";
        return Double.toString(f);
    }

    /** Names that are plain identifiers print bare; anything else is quoted with escapes. */
    static String name(String s) {
        return s.matches("[A-Za-z_][A-Za-z0-9_.]*") ? s : quote(s);
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    static String sha256(ByteBuffer data) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(data.duplicate());
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from the JDK", e);
        }
    }

}
