package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns DequantizeLinear(QuantizeLinear(x)) of f32 x, with one scale s and one zero point z for both, into the
 * float ops it computes: Mul(Clip(Round(Div(x, s)), lo - z, hi - z), s), lo and hi the quantized type's limits.
 * Quantization-aware exports put such a pair on every activation; as float ops the pair fuses with its neighbours
 * and keeps the activation layout (each op maps 0 to 0), where the integer tensor between them could not. The
 * results are the same for every x but NaN, whose quantization ONNX leaves undefined: Q rounds x / s half to
 * even and saturates round(x / s) + z to [lo, hi], DQ gives (q - z) * s, and both differences are small
 * integers, exact in f32. A QuantizeLinear that nothing else reads
 * goes with its last DequantizeLinear. Per-axis and blocked scales, and other dtypes, are left alone.
 */
public final class FoldQuantizeDequantize extends Pass {
    private static final Set<DType> QUANTIZED = Set.of(DType.U8, DType.I8, DType.U16, DType.I16);

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        Uses uses = Uses.of(graph);
        Set<Node> folded = new HashSet<>();
        for (Node n : graph.nodes()) {
            if (!n.op().equals("DequantizeLinear")) continue;
            String why = whyNot(n);
            if (why == null) folded.add(n);
            else ctx.debug(name() + ": leaves DequantizeLinear @" + n.name() + ": " + why);
        }
        if (folded.isEmpty()) return graph;
        GraphRewrite rw = new GraphRewrite(graph);
        for (Node n : graph.nodes()) {
            if (folded.contains(n)) {
                rw.replace(n.output(0), dequantized(rw, n, n.input(0).producer()));
            } else if (!n.op().equals("QuantizeLinear") || !onlyFolded(n, uses, folded)) {
                rw.copy(n);
            }
        }
        return rw.finish();
    }

    /** Why DequantizeLinear n does not fold with its input's QuantizeLinear, or null when it does. */
    private static String whyNot(Node n) {
        Node q = n.input(0).producer();
        if (q == null || !q.op().equals("QuantizeLinear")) return "its input is not a QuantizeLinear's";
        if (q.input(0).type().dtype() != DType.F32 || n.output(0).type().dtype() != DType.F32) return "it is not f32 to f32";
        if (intAttr(q, "block_size") != 0 || intAttr(n, "block_size") != 0) return "its scales are blocked";
        if (intAttr(q, "precision") != 0) return "the QuantizeLinear divides at another precision";
        if (!QUANTIZED.contains(q.output(0).type().dtype())) return "it quantizes to " + q.output(0).type().dtype();
        Float scale = scalarF32(q.input(1));
        if (scale == null || !scale.equals(scalarF32(n.input(1)))) return "the two do not share one f32 scale";
        int rank = q.input(0).type().rank();
        if (q.input(1).type().rank() > rank || n.input(1).type().rank() > rank) return "a scale has a higher rank than x";
        if (!(scale > 0) || Float.isInfinite(scale)) return "the scale " + scale + " is not positive and finite";
        Long zero = zeroPoint(q);
        if (zero == null || !zero.equals(zeroPoint(n))) return "the two do not share one zero point";
        return null;
    }

    private static long intAttr(Node n, String name) {
        return ((Attribute.Int) OpRegistry.spec(n.op()).attributeOrDefault(n.attributes(), name)).value();
    }

    /** Whether every reader of QuantizeLinear q's output is a folded DequantizeLinear (and no graph output is it). */
    private static boolean onlyFolded(Node q, Uses uses, Set<Node> folded) {
        Value out = q.output(0);
        return !uses.isGraphOutput(out) && uses.consumers(out).stream().allMatch(folded::contains);
    }

    /** Mul(Clip(Round(Div(x, s)), lo - z, hi - z), s) for DequantizeLinear dq of QuantizeLinear q. */
    private static Value dequantized(GraphRewrite rw, Node dq, Node q) {
        DType quantized = q.output(0).type().dtype();
        long zero = zeroPoint(q);
        Value x = rw.map(q.input(0));
        Value scale = rw.map(q.input(1));
        String base = dq.name();
        Value divided = rw.add(base + "_divide", "Div", List.of(x, scale), Map.of(), List.of(base + "_divided")).output(0);
        Value rounded = rw.add(base + "_round", "Round", List.of(divided), Map.of(), List.of(base + "_rounded")).output(0);
        Value lo = f32(rw, base + "_lo", limit(quantized, false) - zero);
        Value hi = f32(rw, base + "_hi", limit(quantized, true) - zero);
        Value clipped = rw.add(base + "_saturate", "Clip", List.of(rounded, lo, hi), Map.of(), List.of(base + "_saturated"))
                .output(0);
        Node mul = rw.add(base, "Mul", List.of(clipped, rw.map(dq.input(1))), Map.of(), List.of(dq.output(0).name()));
        return mul.output(0);
    }

    private static Value f32(GraphRewrite rw, String hint, long value) {
        ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(value).flip();
        return rw.constant(hint, TensorType.of(DType.F32, Shape.scalar()), b);
    }

    /** The smallest or largest value of a quantized type. */
    private static long limit(DType t, boolean largest) {
        return switch (t) {
            case U8 -> largest ? 255 : 0;
            case I8 -> largest ? 127 : -128;
            case U16 -> largest ? 65535 : 0;
            case I16 -> largest ? 32767 : -32768;
            default -> throw new IllegalArgumentException("no quantized type: " + t);
        };
    }

    /** The value of a one-element f32 constant, else null. */
    private static Float scalarF32(Value v) {
        if (!(v instanceof Constant c) || c.type().dtype() != DType.F32 || c.type().shape().elementCount() != 1) return null;
        return c.data().getFloat(0);
    }

    /** The zero point of a QuantizeLinear or DequantizeLinear: its one-element constant, 0 when omitted, else null. */
    private static Long zeroPoint(Node n) {
        Value z = n.inputs().size() > 2 ? n.input(2) : null;
        if (z == null) return 0L;
        if (!(z instanceof Constant c) || c.type().shape().elementCount() != 1) return null;
        ByteBuffer b = c.data();
        return switch (c.type().dtype()) {
            case U8 -> (long) (b.get(0) & 0xff);
            case I8 -> (long) b.get(0);
            case U16 -> (long) (b.getShort(0) & 0xffff);
            case I16 -> (long) b.getShort(0);
            default -> null;
        };
    }
}
