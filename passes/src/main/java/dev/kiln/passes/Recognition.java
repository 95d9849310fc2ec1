package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * What the recognition passes share: finding decomposed subgraphs from a seed op, replacing each
 * by the op it computes, and reading the small constants the patterns test.
 * <p>
 * A recogniser looks at every node of its seed op and answers a {@link Match} or a {@link Miss}.
 * Every node of a match but its root must feed nodes of the match and nothing else (nothing else
 * may see the intermediates that disappear); so they all come before the root, and the
 * replacement, built where the root stood, finds every value it reads already defined.
 */
final class Recognition {
    private Recognition() {}

    /** What a recogniser says about one seed node. */
    sealed interface Result permits Match, Miss {}

    /**
     * A recognised subgraph: its nodes, the root whose output the replacement computes, and how
     * to build the replacement in the new graph (returning the value standing for the root's output).
     */
    record Match(Node root, Set<Node> nodes, Function<GraphRewrite, Value> build) implements Result {}

    /** Why the seed is not the pattern, for the debug log. */
    record Miss(String reason) implements Result {}

    /** Looks for a pattern around one node of its seed op. */
    interface Recognizer {
        Result recognize(Node seed, Uses uses);
    }

    static Miss miss(String reason) { return new Miss(reason); }

    /**
     * Replaces every match that the recognisers (by seed op) find and logs, at debug level, each
     * seed left alone with the reason and each unknown op met.
     */
    static Graph rewrite(Pass pass, Graph g, PassContext ctx, Map<String, Recognizer> recognizers) {
        Uses uses = Uses.of(g);
        Map<Node, Match> byRoot = new HashMap<>();
        Set<Node> claimed = new LinkedHashSet<>();
        Map<Node, String> misses = new LinkedHashMap<>();
        for (Node n : g.nodes()) {
            if (!OpRegistry.contains(n.op())) ctx.debug(pass.name() + ": left unknown op " + n.op() + " @" + n.name() + " alone");
            Recognizer recognizer = recognizers.get(n.op());
            if (recognizer == null || claimed.contains(n)) continue;
            Result r = recognize(recognizer, n, uses, claimed);
            if (r instanceof Match m) {
                claimed.addAll(m.nodes());
                byRoot.put(m.root(), m);
            } else {
                misses.put(n, ((Miss) r).reason());
            }
        }
        for (Map.Entry<Node, String> e : misses.entrySet()) {
            if (!claimed.contains(e.getKey())) {
                ctx.debug(pass.name() + ": left " + e.getKey().op() + " @" + e.getKey().name() + " alone: " + e.getValue());
            }
        }
        if (byRoot.isEmpty()) return g;
        GraphRewrite rw = new GraphRewrite(g);
        for (Node n : g.nodes()) {
            Match m = byRoot.get(n);
            if (m != null) {
                rw.replace(n.output(0), m.build().apply(rw));
            } else if (!claimed.contains(n)) {
                rw.copy(n);
            }
        }
        return rw.finish();
    }

    private static Result recognize(Recognizer recognizer, Node seed, Uses uses, Set<Node> claimed) {
        Result r = recognizer.recognize(seed, uses);
        if (!(r instanceof Match m)) return r;
        for (Node n : m.nodes()) {
            if (claimed.contains(n)) return miss("@" + n.name() + " already belongs to another recognised pattern");
            if (n == m.root()) continue;
            // Each other node feeding some node of the match makes every one of them come before the root.
            if (n.outputs().stream().allMatch(uses::isUnused)) return miss("@" + n.name() + " feeds nothing");
            for (Value out : n.outputs()) {
                if (uses.isGraphOutput(out)) return miss("the intermediate %" + out.name() + " is a graph output");
                for (Node c : uses.consumers(out)) {
                    if (!m.nodes().contains(c)) return miss("the intermediate %" + out.name() + " is also used by @" + c.name());
                }
            }
        }
        return m;
    }

    /**
     * The one node of {@code op} reading v, else null. Other readers are left for the match check
     * to report, so that a pattern whose intermediate is also used elsewhere says so.
     */
    static Node consumer(Uses uses, Value v, String op) {
        Node found = null;
        for (Node c : uses.consumers(v)) {
            if (!c.op().equals(op)) continue;
            if (found != null) return null;
            found = c;
        }
        return found;
    }

    /** The producer of v when it is a node of {@code op}, else null. */
    static Node producer(Value v, String op) {
        Node p = v == null ? null : v.producer();
        return p != null && p.op().equals(op) ? p : null;
    }

    /** The value of a one-element floating-point or i32/i64 constant (such as Pow's exponent), or null when v is not one. */
    static Double scalar(Value v) {
        if (!(v instanceof Constant c) || c.type().shape().elementCount() != 1) return null;
        ByteBuffer b = c.data();
        return switch (c.type().dtype()) {
            case F32 -> (double) b.getFloat(0);
            case F64 -> b.getDouble(0);
            case BF16 -> (double) Float.intBitsToFloat((b.getShort(0) & 0xffff) << 16);
            case F16 -> halfToDouble(b.getShort(0));
            case I32 -> (double) b.getInt(0);
            case I64 -> (double) b.getLong(0);
            default -> null;
        };
    }

    /** Whether v is a one-element constant equal to {@code expected} up to the rounding of its dtype (and a printed exporter constant). */
    static boolean isScalar(Value v, double expected) {
        Double x = scalar(v);
        return x != null && Math.abs(x - expected) <= tolerance(v.type().dtype()) * Math.abs(expected);
    }

    private static double tolerance(DType t) {
        return switch (t) {
            case F16 -> 1e-3;
            case BF16 -> 1e-2;
            default -> 1e-5;
        };
    }

    private static double halfToDouble(short h) {
        int bits = h & 0xffff;
        int exponent = (bits >>> 10) & 0x1f;
        int mantissa = bits & 0x3ff;
        double magnitude;
        if (exponent == 0) magnitude = mantissa * Math.pow(2, -24);
        else if (exponent == 31) magnitude = mantissa == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        else magnitude = (1 + mantissa / 1024.0) * Math.pow(2, exponent - 15);
        return (bits & 0x8000) != 0 ? -magnitude : magnitude;
    }

    /** A new constant of ones (a floating-point type with a static shape), for an omitted scale. */
    static Constant ones(GraphRewrite rw, String hint, TensorType type) {
        int count = (int) type.shape().elementCount();
        ByteBuffer b = ByteBuffer.allocate(count * type.dtype().byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            switch (type.dtype()) {
                case F32 -> b.putFloat(1f);
                case F64 -> b.putDouble(1);
                case F16 -> b.putShort((short) 0x3c00);
                case BF16 -> b.putShort((short) 0x3f80);
                default -> throw new IllegalArgumentException("ones of " + type + " are not floating-point");
            }
        }
        return rw.constant(hint, type, b.flip());
    }

    /** The elements of an integer constant, or null when v is not one. */
    static long[] longs(Value v) {
        if (!(v instanceof Constant c) || !c.type().shape().isStatic()) return null;
        DType t = c.type().dtype();
        if (t != DType.I64 && t != DType.I32) return null;
        ByteBuffer b = c.data();
        long[] r = new long[(int) c.type().shape().elementCount()];
        for (int i = 0; i < r.length; i++) r[i] = t == DType.I64 ? b.getLong(i * 8) : b.getInt(i * 4);
        return r;
    }

    /** The operand of a two-input node other than {@code one} (null when neither input is it). */
    static Value other(Node n, Value one) {
        if (n.input(0) == one) return n.input(1);
        if (n.input(1) == one) return n.input(0);
        return null;
    }

    /**
     * A name for the node replacing {@code nodes}: the scope path their names share
     * ("/layers.0/norm1/") followed by the op, so that dumps show where it came from.
     */
    static String nodeName(Set<Node> nodes, String op) {
        String prefix = null;
        for (Node n : nodes) {
            if (prefix == null) {
                prefix = n.name();
                continue;
            }
            int i = 0;
            while (i < prefix.length() && i < n.name().length() && prefix.charAt(i) == n.name().charAt(i)) i++;
            prefix = prefix.substring(0, i);
        }
        prefix = prefix == null ? "" : prefix.substring(0, prefix.lastIndexOf('/') + 1);
        return prefix + op;
    }

    /** Adds the node replacing {@code nodes}, named after them, its output named as the root's. */
    static Value addReplacement(GraphRewrite rw, Set<Node> nodes, Node root, String op, List<Value> inputs, Map<String, Attribute> attrs) {
        return rw.add(nodeName(nodes, op), op, inputs, attrs, List.of(root.output(0).name())).output(0);
    }
}
