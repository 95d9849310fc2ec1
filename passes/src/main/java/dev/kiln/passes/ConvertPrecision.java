package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.OpSpec;
import dev.kiln.ir.ops.PrecisionPolicy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs the graph's f32 arithmetic in f16 or bf16 when the options ask for FP16 or BF16, as each op's precision
 * policy says:
 * <ul>
 * <li>REDUCED_OK ops compute in the reduced type; their f32 constants are converted here, once each;</li>
 * <li>KEEP_FP32 ops read f32 (a reduced input is cast up) and their outputs stay f32;</li>
 * <li>FOLLOWS_INPUT ops run in the type their data comes in (reduced when any computed input is);</li>
 * <li>FIXED ops and ops the IR does not know are left as they were, reading their inputs in the original types.</li>
 * </ul>
 * Inputs an op types on its own ({@link OpSpec#keepsInputPrecision}) keep their type. Each value is cast at most
 * once per direction, where a reader first needs it, so a run of KEEP_FP32 ops reads f32 from one to the next and
 * a graph input is cast down only if a reduced op reads it. A cast back to where a value came from reuses the
 * value itself (f16 -> f32 -> f16 is exact). Graph inputs and outputs keep their f32: an input that reduced ops
 * read is cast down first thing, and outputs computed reduced are cast back last.
 */
public final class ConvertPrecision extends Pass {
    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        DType reduced = switch (ctx.options().dtype()) {
            case FP16 -> DType.F16;
            case BF16 -> DType.BF16;
            case FP32, INT8 -> null;
        };
        return reduced == null ? graph : new Conversion(graph, reduced, ctx, name()).run();
    }

    /** One conversion's state: the rewrite, the casts made so far, and the reduced copies of constants. */
    private static final class Conversion {
        private final Graph graph;
        private final DType reduced;
        private final PassContext ctx;
        private final String pass;
        private final GraphRewrite rw;
        /** Keyed by the value cast (of the new graph): its cast to the other type. */
        private final Map<Value, Value> casts = new HashMap<>();
        private final Map<Constant, Value> reducedConstants = new HashMap<>();

        Conversion(Graph graph, DType reduced, PassContext ctx, String pass) {
            this.graph = graph;
            this.reduced = reduced;
            this.ctx = ctx;
            this.pass = pass;
            this.rw = new GraphRewrite(graph);
        }

        Graph run() {
            // An input read in reduced precision is cast once, up front, so that data movement on it follows suit.
            Uses uses = Uses.of(graph);
            for (Value in : graph.inputs()) {
                if (in.type().dtype() == DType.F32 && readInReduced(in, uses, new HashSet<>())) {
                    cast(rw.map(in), reduced, in.name() + "_" + reduced.irName());
                }
            }
            for (Node n : graph.nodes()) convert(n);
            for (Value out : graph.outputs()) {
                Value v = rw.map(out);
                if (out.type().dtype() == DType.F32 && v.type().dtype() == reduced) rw.replace(out, castBack(out, v));
            }
            return rw.finish();
        }

        private void convert(Node n) {
            if (!OpRegistry.contains(n.op())) {
                ctx.debug(pass + ": leaves node @" + n.name() + " alone: unknown op " + n.op());
                rw.copy(n);
                return;
            }
            OpSpec spec = OpRegistry.spec(n.op());
            PrecisionPolicy policy = spec.precisionPolicy();
            List<Integer> computed = computedInputs(n, spec);
            boolean inReduced = !computed.isEmpty() && switch (policy) {
                case REDUCED_OK -> true;
                case FOLLOWS_INPUT -> followsReduced(n, computed);
                case KEEP_FP32, FIXED -> false;
            };
            if (inReduced && !acceptsReduced(n, spec, computed)) {
                ctx.debug(pass + ": leaves " + n.op() + " node @" + n.name() + " in f32: the op does not take " + reduced);
                inReduced = false;
            }
            if (policy == PrecisionPolicy.FIXED && touchesF32(n)) {
                ctx.debug(pass + ": leaves " + n.op() + " node @" + n.name() + " in its own types: it has no reduced-precision form");
            }
            List<Value> inputs = new ArrayList<>(n.inputs().size());
            for (int i = 0; i < n.inputs().size(); i++) {
                Value in = n.input(i);
                inputs.add(in == null ? null : as(in, inReduced && computed.contains(i) ? reduced : in.type().dtype()));
            }
            rw.copy(n, inputs);
        }

        /**
         * A data-movement op runs reduced when a computed input is at hand in reduced precision (computed so, or
         * cast already), or when all of them are constants.
         */
        private boolean followsReduced(Node n, List<Integer> computed) {
            boolean allConstant = true;
            for (int i : computed) {
                Value in = n.input(i);
                if (in.isConstant()) continue;
                allConstant = false;
                Value v = rw.map(in);
                if (v.type().dtype() == reduced || casts.containsKey(v)) return true;
            }
            return allConstant;
        }

        /** The f32 inputs that take the op's compute precision. */
        private static List<Integer> computedInputs(Node n, OpSpec spec) {
            List<Integer> computed = new ArrayList<>();
            for (int i = 0; i < n.inputs().size(); i++) {
                Value in = n.input(i);
                if (in != null && in.type().dtype() == DType.F32 && !spec.keepsInputPrecision(i)) computed.add(i);
            }
            return computed;
        }

        /** Whether a REDUCED_OK op reads v as a computed input, directly or through data movement. */
        private boolean readInReduced(Value v, Uses uses, Set<Value> seen) {
            if (!seen.add(v)) return false;
            for (Node n : uses.consumers(v)) {
                if (!OpRegistry.contains(n.op())) continue;
                OpSpec spec = OpRegistry.spec(n.op());
                List<Integer> computed = computedInputs(n, spec);
                boolean readsV = false;
                for (int i : computed) readsV |= n.input(i) == v;
                if (!readsV) continue;
                if (spec.precisionPolicy() == PrecisionPolicy.REDUCED_OK && acceptsReduced(n, spec, computed)) return true;
                if (spec.precisionPolicy() == PrecisionPolicy.FOLLOWS_INPUT) {
                    for (Value out : n.outputs()) {
                        if (out.type().dtype() == DType.F32 && readInReduced(out, uses, seen)) return true;
                    }
                }
            }
            return false;
        }

        /** Whether the op's type inference takes the computed inputs in reduced precision (Shrink has no bf16, say). */
        private boolean acceptsReduced(Node n, OpSpec spec, List<Integer> computed) {
            Graph scratch = new Graph("scratch");
            List<Value> inputs = new ArrayList<>(n.inputs());
            for (int i : computed) inputs.set(i, scratch.addInput("input" + i, n.input(i).type().withDType(reduced)));
            try {
                spec.inferTypes(n.name(), inputs, n.attributes(), n.outputs().size());
                return true;
            } catch (IrException e) {
                return false;
            }
        }

        private static boolean touchesF32(Node n) {
            for (Value v : n.inputs()) if (v != null && v.type().dtype() == DType.F32) return true;
            for (Value v : n.outputs()) if (v.type().dtype() == DType.F32) return true;
            return false;
        }

        /** The old value as a new-graph value of dtype {@code want}: as computed, or cast, or a converted constant. */
        private Value as(Value old, DType want) {
            if (old instanceof Constant c && c.type().dtype() != want) return reducedConstant(c);
            Value v = rw.map(old);
            return v.type().dtype() == want ? v : cast(v, want, old.name() + "_" + want.irName());
        }

        private Value cast(Value v, DType to, String name) {
            Value done = casts.get(v);
            if (done != null) return done;
            Node producer = v.producer();
            // Casting back what was widened exactly gives the value it came from.
            if (producer != null && producer.op().equals("Cast") && producer.input(0).type().dtype() == to
                    && widensExactly(to, v.type().dtype())) {
                return producer.input(0);
            }
            Value c = rw.add(name, "Cast", List.of(v), Map.of("to", new Attribute.Int(onnxCode(to))), List.of(name)).output(0);
            casts.put(v, c);
            return c;
        }

        /**
         * The f32 cast of a graph output that was computed reduced. The cast takes the output's name; the reduced
         * value is renamed out of its way (otherwise finishing would need an Identity).
         */
        private Value castBack(Value out, Value computedReduced) {
            Value done = casts.get(computedReduced);
            if (done != null) return done;
            if (computedReduced.name().equals(out.name())) {
                rw.target().rename(computedReduced, rw.freshName(out.name() + "_" + reduced.irName()));
            }
            return cast(computedReduced, DType.F32, out.name());
        }

        private Value reducedConstant(Constant c) {
            return reducedConstants.computeIfAbsent(c, k -> {
                ByteBuffer from = k.data();
                int count = (int) k.type().shape().elementCount();
                ByteBuffer to = ByteBuffer.allocate(count * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < count; i++) to.putShort(i * 2, ReducedFloats.bits(reduced, from.getFloat(i * 4)));
                return rw.constant(k.name() + "_" + reduced.irName(), k.type().withDType(reduced), to);
            });
        }

        private static boolean widensExactly(DType from, DType to) {
            return (from == DType.F16 || from == DType.BF16) && (to == DType.F32 || to == DType.F64);
        }

        private static long onnxCode(DType t) {
            return switch (t) {
                case F32 -> 1;
                case F16 -> 10;
                case BF16 -> 16;
                default -> throw new IllegalArgumentException("no cast to " + t + " here");
            };
        }
    }
}
