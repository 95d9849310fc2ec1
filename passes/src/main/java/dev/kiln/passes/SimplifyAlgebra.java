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
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Removes what computes nothing and merges what can be done in one step: Identity, inference-mode
 * Dropout, Cast to the same dtype, Reshape to the same static shape, identity Transpose, Pad of zeros, and
 * x*1, 1*x, x+0, 0+x, x-0, x/1, x^1 (when the constant is all ones or zeros and broadcasting changes
 * neither shape nor dtype); consecutive Transposes become one (or none), and a Reshape absorbs a
 * Reshape, Flatten, Squeeze or Unsqueeze before it, when nothing else reads the intermediate.
 */
public final class SimplifyAlgebra extends Pass {
    private static final Set<String> RESHAPES = Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze");

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        return new Simplification(graph, ctx).run();
    }

    /** One run over a graph; its state lives only as long as the run. */
    private final class Simplification {
        private final Graph source;
        private final PassContext ctx;
        private final Uses uses;
        private final GraphRewrite rw;
        /** Transposes and reshapes merged into the node that reads them, so not emitted. */
        private final Set<Node> absorbed = new HashSet<>();
        /** For an absorbed node's output: the new-graph value its chain starts from. */
        private final Map<Value, Value> chainSource = new HashMap<>();
        /** For an absorbed Transpose's output: the permutation its chain applies to the chain source. */
        private final Map<Value, long[]> chainPerm = new HashMap<>();

        Simplification(Graph source, PassContext ctx) {
            this.source = source;
            this.ctx = ctx;
            this.uses = Uses.of(source);
            this.rw = new GraphRewrite(source);
        }

        Graph run() {
            for (Node n : source.nodes()) {
                Node producer = n.input(0) == null ? null : n.input(0).producer();
                if (producer != null && absorbs(n, producer)) absorbed.add(producer);
            }
            for (Node n : source.nodes()) {
                if (!OpRegistry.contains(n.op())) {
                    ctx.debug(name() + ": leaves node @" + n.name() + " alone: unknown op " + n.op());
                    rw.copy(n);
                } else if (!simplify(n)) {
                    rw.copy(n);
                }
            }
            return rw.finish();
        }

        /** Whether {@code consumer} takes over {@code producer} (computing both in one step); decided before the walk. */
        private boolean absorbs(Node consumer, Node producer) {
            Value mid = producer.output(0);
            if (producer.outputs().size() != 1 || !uses.onlyFeeds(mid, consumer) || consumer.input(0) != mid) return false;
            if (consumer.op().equals("Transpose")) return producer.op().equals("Transpose");
            return consumer.op().equals("Reshape") && RESHAPES.contains(producer.op()) && mergedShapeIsKnown(consumer);
        }

        /**
         * Whether a Reshape gives the same result whatever shape its input has (for the same
         * elements): its shape is a constant without 0 entries (which copy input dims), or its
         * output is static without zero sizes.
         */
        private boolean mergedShapeIsKnown(Node reshape) {
            if (reshape.input(1) instanceof Constant c && copiesNoDims(c)) return true;
            Shape out = reshape.output(0).type().shape();
            if (!out.isStatic()) return false;
            for (long s : out.sizes()) if (s == 0) return false;
            return true;
        }

        /** Rewrites a node that simplifies; false leaves it to be copied as it is. */
        private boolean simplify(Node n) {
            return switch (n.op()) {
                case "Identity" -> forward(n, n.input(0));
                case "Dropout" -> dropout(n);
                case "Cast" -> forward(n, n.input(0));
                case "Transpose" -> transpose(n);
                case "Reshape", "Flatten", "Squeeze", "Unsqueeze" -> reshape(n);
                case "Mul" -> (isAll(n.input(1), 1) && forward(n, n.input(0))) || (isAll(n.input(0), 1) && forward(n, n.input(1)));
                case "Add" -> (isAll(n.input(1), 0) && forward(n, n.input(0))) || (isAll(n.input(0), 0) && forward(n, n.input(1)));
                case "Sub" -> isAll(n.input(1), 0) && forward(n, n.input(0));
                case "Div", "Pow" -> isAll(n.input(1), 1) && forward(n, n.input(0));
                case "Pad" -> padsNothing(n) && forward(n, n.input(0));
                default -> false;
            };
        }

        /** Whether a Pad's pads are a constant of zeros (in any mode it then copies its input). */
        private static boolean padsNothing(Node pad) {
            long[] pads = Recognition.longs(pad.input(1));
            return pads != null && Arrays.stream(pads).allMatch(p -> p == 0);
        }

        /** Makes readers of the node's only output read {@code x} (a value of the old graph) instead, when that has exactly its type. */
        private boolean forward(Node n, Value x) {
            return fits(n, x) && replaceOutput(n, rw.map(x));
        }

        /** As {@link #forward}, for a value of the new graph. */
        private boolean forwardTo(Node n, Value replacement) {
            return fits(n, replacement) && replaceOutput(n, replacement);
        }

        private boolean fits(Node n, Value x) {
            TensorType out = n.output(0).type();
            return x.type().dtype() == out.dtype() && x.type().shape().equals(out.shape());
        }

        private boolean replaceOutput(Node n, Value replacement) {
            rw.replace(n.output(0), replacement);
            return true;
        }

        private boolean dropout(Node n) {
            if (!Purity.isInferenceDropout(n)) return false;
            if (n.outputs().size() > 1 && !uses.isUnused(n.output(1))) {
                TensorType maskType = n.output(1).type();
                if (!maskType.shape().isStatic()) return false;
                ByteBuffer allTrue = ByteBuffer.allocate(Math.toIntExact(maskType.shape().elementCount())).order(ByteOrder.LITTLE_ENDIAN);
                while (allTrue.hasRemaining()) allTrue.put((byte) 1);
                allTrue.flip();
                rw.replace(n.output(1), rw.constant(n.output(1).name(), maskType, allTrue));
            }
            rw.replace(n.output(0), rw.map(n.input(0)));
            return true;
        }

        private boolean transpose(Node n) {
            Value in = n.input(0);
            int rank = in.type().rank();
            Value from = chainSource.containsKey(in) ? chainSource.get(in) : rw.map(in);
            long[] before = chainPerm.containsKey(in) ? chainPerm.get(in) : identity(rank);
            long[] own = n.attribute("perm") instanceof Attribute.Ints p ? p.values() : reversed(rank);
            long[] perm = new long[rank];
            for (int i = 0; i < rank; i++) perm[i] = before[(int) own[i]];
            if (absorbed.contains(n)) {
                chainSource.put(n.output(0), from);
                chainPerm.put(n.output(0), perm);
                return true;
            }
            if (isIdentity(perm)) return forwardTo(n, from);
            if (!chainSource.containsKey(in)) return false;
            replaceKeepingType(n, rw.replaceNode(n, "Transpose", List.of(from), Map.of("perm", Attribute.of(perm))));
            return true;
        }

        private boolean reshape(Node n) {
            Value in = n.input(0);
            Value from = chainSource.containsKey(in) ? chainSource.get(in) : rw.map(in);
            if (absorbed.contains(n)) {
                chainSource.put(n.output(0), from);
                return true;
            }
            TensorType out = n.output(0).type();
            if (out.shape().isStatic() && forwardTo(n, from)) return true;
            if (!chainSource.containsKey(in)) return false;
            Value shape = n.input(1) instanceof Constant c && copiesNoDims(c) ? rw.map(c) : staticShape(n);
            replaceKeepingType(n, rw.replaceNode(n, "Reshape", List.of(from, shape), n.attributes()));
            return true;
        }

        private Value staticShape(Node reshape) {
            long[] sizes = reshape.output(0).type().shape().sizes();
            ByteBuffer b = ByteBuffer.allocate(sizes.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (long s : sizes) b.putLong(s);
            b.flip();
            return rw.constant(reshape.name() + "_shape", TensorType.of(DType.I64, sizes.length), b);
        }

        /** Keeps what the old node's output type knew that inference over the new inputs does not. */
        private void replaceKeepingType(Node old, Node replacement) {
            Value out = replacement.output(0);
            out.setType(TypeRefinement.refine(replacement, 0, old.output(0).type(), out.type()));
        }
    }

    /** A Reshape shape of i64 entries none of which is 0 (meaning: copy the input's dim). */
    private static boolean copiesNoDims(Constant shape) {
        if (shape.type().dtype() != DType.I64) return false;
        ByteBuffer b = shape.data();
        for (int i = 0; i < b.remaining() / 8; i++) if (b.getLong(i * 8) == 0) return false;
        return true;
    }

    private static long[] identity(int rank) {
        long[] p = new long[rank];
        for (int i = 0; i < rank; i++) p[i] = i;
        return p;
    }

    private static long[] reversed(int rank) {
        long[] p = new long[rank];
        for (int i = 0; i < rank; i++) p[i] = rank - 1 - i;
        return p;
    }

    private static boolean isIdentity(long[] perm) {
        for (int i = 0; i < perm.length; i++) if (perm[i] != i) return false;
        return true;
    }

    /** Whether v is a constant whose every element is exactly {@code one} (1) or zero (0), of a numeric dtype. */
    static boolean isAll(Value v, int oneOrZero) {
        if (!(v instanceof Constant c)) return false;
        boolean one = oneOrZero == 1;
        ByteBuffer b = c.data();
        DType t = c.type().dtype();
        int n = b.remaining() / t.byteSize();
        for (int i = 0; i < n; i++) {
            boolean ok = switch (t) {
                case F32 -> b.getFloat(i * 4) == (one ? 1f : 0f);
                case F64 -> b.getDouble(i * 8) == (one ? 1d : 0d);
                case F16 -> one ? b.getShort(i * 2) == 0x3C00 : (b.getShort(i * 2) & 0x7FFF) == 0;
                case BF16 -> one ? b.getShort(i * 2) == 0x3F80 : (b.getShort(i * 2) & 0x7FFF) == 0;
                case I8, U8 -> b.get(i) == oneOrZero;
                case I16, U16 -> b.getShort(i * 2) == oneOrZero;
                case I32, U32 -> b.getInt(i * 4) == oneOrZero;
                case I64, U64 -> b.getLong(i * 8) == oneOrZero;
                case BOOL -> false;
            };
            if (!ok) return false;
        }
        return true;
    }
}
