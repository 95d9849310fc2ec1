package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Attribute.Kind;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Neural-network ops: convolutions, pooling, normalizations, matrix products and Einsum,
 * with the semantics of their newest ONNX versions.
 */
final class NnOps {
    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    private static final Set<DType> MAX_POOL_TYPES = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64, DType.I8, DType.U8);
    private static final Set<DType> MATMUL_TYPES = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64,
            DType.I32, DType.I64, DType.U32, DType.U64);
    private static final Set<DType> EINSUM_TYPES = EnumSet.of(DType.F32, DType.F16, DType.F64,
            DType.I8, DType.I16, DType.I32, DType.I64, DType.U8, DType.U16, DType.U32, DType.U64);
    private static final Set<DType> BYTES = EnumSet.of(DType.I8, DType.U8);
    private static final Attribute NOTSET = Attribute.of("NOTSET");
    private static final Attribute EPSILON = Attribute.of(1e-5f);

    private NnOps() {}

    static List<OpSpec> specs() {
        return List.of(
                windowed(OpSpec.builder("Conv").inputs(2, 3)).attr("group", Kind.INT, Attribute.of(1L))
                        .attr("kernel_shape", Kind.INTS, null).infer(NnOps::inferConv).build(),
                windowed(OpSpec.builder("ConvTranspose").inputs(2, 3)).attr("group", Kind.INT, Attribute.of(1L))
                        .attr("kernel_shape", Kind.INTS, null).attr("output_padding", Kind.INTS, null)
                        .attr("output_shape", Kind.INTS, null).infer(NnOps::inferConvTranspose).build(),
                OpSpec.builder("CausalConvWithState").inputs(2, 4).outputs(1, 2).attr("activation", Kind.STRING, Attribute.of("none"))
                        .infer(NnOps::inferCausalConv).build(),
                windowed(OpSpec.builder("MaxPool").outputs(1, 2)).attr("ceil_mode", Kind.INT, Attribute.of(0L))
                        .requiredAttr("kernel_shape", Kind.INTS).attr("storage_order", Kind.INT, Attribute.of(0L))
                        .infer(ctx -> inferPool(ctx, MAX_POOL_TYPES)).build(),
                windowed(OpSpec.builder("AveragePool")).attr("ceil_mode", Kind.INT, Attribute.of(0L))
                        .attr("count_include_pad", Kind.INT, Attribute.of(0L)).requiredAttr("kernel_shape", Kind.INTS)
                        .infer(ctx -> inferPool(ctx, FLOATS)).build(),
                windowed(OpSpec.builder("LpPool")).attr("ceil_mode", Kind.INT, Attribute.of(0L))
                        .requiredAttr("kernel_shape", Kind.INTS).attr("p", Kind.INT, Attribute.of(2L))
                        .infer(ctx -> inferPool(ctx, FLOATS)).build(),
                OpSpec.builder("GlobalAveragePool").infer(NnOps::inferGlobalPool).build(),
                OpSpec.builder("GlobalMaxPool").infer(NnOps::inferGlobalPool).build(),
                OpSpec.builder("GlobalLpPool").attr("p", Kind.INT, Attribute.of(2L)).infer(NnOps::inferGlobalPool).build(),
                OpSpec.builder("BatchNormalization").inputs(5).outputs(1, 3).attr("epsilon", Kind.FLOAT, EPSILON)
                        .attr("momentum", Kind.FLOAT, Attribute.of(0.9f)).attr("training_mode", Kind.INT, Attribute.of(0L))
                        .infer(NnOps::inferBatchNorm).build(),
                OpSpec.builder("InstanceNormalization").inputs(3).attr("epsilon", Kind.FLOAT, EPSILON)
                        .infer(NnOps::inferInstanceNorm).build(),
                OpSpec.builder("GroupNormalization").inputs(3).attr("epsilon", Kind.FLOAT, EPSILON)
                        .requiredAttr("num_groups", Kind.INT).attr("stash_type", Kind.INT, Attribute.of(1L))
                        .infer(NnOps::inferGroupNorm).build(),
                OpSpec.builder("LayerNormalization").inputs(2, 3).outputs(1, 3).attr("axis", Kind.INT, Attribute.of(-1L))
                        .attr("epsilon", Kind.FLOAT, EPSILON).attr("stash_type", Kind.INT, Attribute.of(1L))
                        .infer(NnOps::inferLayerNorm).build(),
                OpSpec.builder("RMSNormalization").inputs(2).attr("axis", Kind.INT, Attribute.of(-1L))
                        .attr("epsilon", Kind.FLOAT, EPSILON).attr("stash_type", Kind.INT, Attribute.of(1L))
                        .infer(NnOps::inferRmsNorm).build(),
                OpSpec.builder("LRN").attr("alpha", Kind.FLOAT, Attribute.of(1e-4f)).attr("beta", Kind.FLOAT, Attribute.of(0.75f))
                        .attr("bias", Kind.FLOAT, Attribute.of(1f)).requiredAttr("size", Kind.INT)
                        .infer(NnOps::inferLrn).build(),
                OpSpec.builder("MatMul").inputs(2).infer(NnOps::inferMatMul).build(),
                OpSpec.builder("MatMulInteger").inputs(2, 4).infer(NnOps::inferMatMulInteger).build(),
                OpSpec.builder("Gemm").inputs(2, 3).attr("alpha", Kind.FLOAT, Attribute.of(1f))
                        .attr("beta", Kind.FLOAT, Attribute.of(1f)).attr("transA", Kind.INT, Attribute.of(0L))
                        .attr("transB", Kind.INT, Attribute.of(0L)).infer(NnOps::inferGemm).build(),
                OpSpec.builder("Einsum").inputs(1, OpSpec.VARIADIC).requiredAttr("equation", Kind.STRING)
                        .infer(NnOps::inferEinsum).build());
    }

    /** The attributes every sliding-window op shares. */
    private static OpSpec.Builder windowed(OpSpec.Builder b) {
        return b.attr("auto_pad", Kind.STRING, NOTSET).attr("dilations", Kind.INTS, null)
                .attr("pads", Kind.INTS, null).attr("strides", Kind.INTS, null);
    }

    private static List<TensorType> inferConv(InferenceContext ctx) {
        DType t = requireType(ctx, 0, FLOATS);
        requireSameType(ctx, t, 1, 2);
        return List.of(TensorType.of(t, ConvShapes.convolution(ctx, ctx.shape(0), ctx.shape(1))));
    }

    private static List<TensorType> inferConvTranspose(InferenceContext ctx) {
        DType t = requireType(ctx, 0, FLOATS);
        requireSameType(ctx, t, 1, 2);
        Shape x = ctx.shape(0);
        Shape w = ctx.shape(1);
        int spatial = ConvShapes.spatialRank(ctx, x);
        if (w.rank() != x.rank()) throw ctx.fail("weights of shape " + w + " do not match input of shape " + x);
        long group = ctx.intAttr("group");
        if (group < 1) throw ctx.fail("group must be positive, got " + group);
        if (x.dim(1).isStatic() && w.dim(0).isStatic() && x.dim(1).size() != w.dim(0).size()) {
            throw ctx.fail("input has " + x.dim(1) + " channels but weights of shape " + w + " expect " + w.dim(0));
        }
        if (x.dim(1).isStatic() && x.dim(1).size() % group != 0) {
            throw ctx.fail(x.dim(1) + " input channels are not divisible by group " + group);
        }
        Dim m = w.dim(1).isStatic() ? Dim.of(w.dim(1).size() * group) : ctx.freshDim();
        long[] kernel = ConvShapes.kernelShape(ctx, w, spatial);
        long[] outputShape = ctx.intsAttr("output_shape");
        if (outputShape != null && outputShape.length != spatial && outputShape.length != spatial + 2) {
            throw ctx.fail("output_shape " + Arrays.toString(outputShape) + " does not have " + spatial + " spatial sizes");
        }
        List<Dim> out = new ArrayList<>(List.of(x.dim(0), m));
        for (int i = 0; i < spatial; i++) {
            Dim in = x.dim(2 + i);
            if (outputShape != null) {
                out.add(Dim.of(outputShape[outputShape.length - spatial + i]));
            } else if (kernel == null || !in.isStatic()) {
                out.add(ctx.freshDim());
            } else {
                out.add(Dim.of(ConvShapes.transposedSize(ctx, in.size(), i, spatial, kernel[i])));
            }
        }
        return List.of(TensorType.of(t, new Shape(out)));
    }

    /** Depthwise causal 1-D convolution over (batch, channels, length) carrying the last k - 1 positions as state. */
    private static List<TensorType> inferCausalConv(InferenceContext ctx) {
        DType t = requireType(ctx, 0, EnumSet.of(DType.F32, DType.F16, DType.BF16));
        requireSameType(ctx, t, 1, 2, 3);
        Shape x = ctx.shape(0);
        Shape w = ctx.shape(1);
        if (x.rank() != 3 || w.rank() != 3) throw ctx.fail("input " + x + " and weight " + w + " must both have rank 3");
        if (ctx.hasInput(2)) requireVector(ctx, 2, x.dim(1));
        String activation = ctx.stringAttr("activation");
        if (!List.of("none", "silu", "swish").contains(activation)) throw ctx.fail("unknown activation '" + activation + "'");
        Dim k = w.dim(2);
        Dim state = k.isStatic() ? Dim.of(k.size() - 1) : ctx.freshDim();
        TensorType y = TensorType.of(t, x);
        TensorType present = TensorType.of(t, new Shape(List.of(x.dim(0), x.dim(1), state)));
        return ctx.outputCount() == 1 ? List.of(y) : List.of(y, present);
    }

    private static List<TensorType> inferPool(InferenceContext ctx, Set<DType> allowed) {
        DType t = requireType(ctx, 0, allowed);
        Shape x = ctx.shape(0);
        int spatial = ConvShapes.spatialRank(ctx, x);
        long[] kernel = ctx.intsAttr("kernel_shape");
        if (kernel.length != spatial) throw ctx.fail("kernel_shape has " + kernel.length + " sizes for " + spatial + " spatial axes");
        boolean ceil = ctx.intAttr("ceil_mode") != 0;
        List<Dim> out = new ArrayList<>(List.of(x.dim(0), x.dim(1)));
        for (int i = 0; i < spatial; i++) {
            Dim in = x.dim(2 + i);
            out.add(in.isStatic() ? Dim.of(ConvShapes.windowCount(ctx, in.size(), i, spatial, kernel[i], ceil)) : ctx.freshDim());
        }
        Shape shape = new Shape(out);
        TensorType y = TensorType.of(t, shape);
        return ctx.outputCount() == 1 ? List.of(y) : List.of(y, TensorType.of(DType.I64, shape));
    }

    private static List<TensorType> inferGlobalPool(InferenceContext ctx) {
        DType t = requireType(ctx, 0, FLOATS);
        Shape x = ctx.shape(0);
        int spatial = ConvShapes.spatialRank(ctx, x);
        List<Dim> out = new ArrayList<>(List.of(x.dim(0), x.dim(1)));
        for (int i = 0; i < spatial; i++) out.add(Dim.of(1));
        return List.of(TensorType.of(t, new Shape(out)));
    }

    private static List<TensorType> inferBatchNorm(InferenceContext ctx) {
        DType t = requireType(ctx, 0, FLOATS);
        for (int i = 1; i < 5; i++) requireType(ctx, i, FLOATS);
        Shape x = ctx.shape(0);
        if (x.rank() < 1) throw ctx.fail("input must have at least one dimension");
        Dim c = x.rank() == 1 ? Dim.of(1) : x.dim(1);
        for (int i = 1; i < 5; i++) requireVector(ctx, i, c);
        boolean training = ctx.intAttr("training_mode") != 0;
        if (!training && ctx.outputCount() > 1) throw ctx.fail("running mean and variance outputs need training_mode=1");
        List<TensorType> out = new ArrayList<>(List.of(TensorType.of(t, x)));
        for (int i = 1; i < ctx.outputCount(); i++) out.add(ctx.input(2 + i));
        return out;
    }

    /** X of shape (N, C, ...) with per-channel scale and bias. */
    private static List<TensorType> inferInstanceNorm(InferenceContext ctx) {
        DType t = requireType(ctx, 0, FLOATS);
        requireSameType(ctx, t, 1, 2);
        Shape x = ctx.shape(0);
        if (x.rank() < 2) throw ctx.fail("input of shape " + x + " needs a batch and a channel axis");
        requireVector(ctx, 1, x.dim(1));
        requireVector(ctx, 2, x.dim(1));
        return List.of(TensorType.of(t, x));
    }

    private static List<TensorType> inferGroupNorm(InferenceContext ctx) {
        List<TensorType> out = inferInstanceNorm(ctx);
        Dim c = ctx.shape(0).dim(1);
        long groups = ctx.intAttr("num_groups");
        if (groups < 1) throw ctx.fail("num_groups must be positive, got " + groups);
        if (c.isStatic() && c.size() % groups != 0) throw ctx.fail(c + " channels are not divisible into " + groups + " groups");
        stashType(ctx);
        return out;
    }

    private static List<TensorType> inferLayerNorm(InferenceContext ctx) {
        DType t = requireType(ctx, 0, FLOATS);
        requireSameType(ctx, t, 1, 2);
        Shape x = ctx.shape(0);
        int axis = ctx.axis(ctx.intAttr("axis"), x.rank());
        requireUnidirectional(ctx, 1, x);
        if (ctx.hasInput(2)) requireUnidirectional(ctx, 2, x);
        List<TensorType> out = new ArrayList<>(List.of(TensorType.of(t, x)));
        List<Dim> stats = new ArrayList<>(x.dims().subList(0, axis));
        while (stats.size() < x.rank()) stats.add(Dim.of(1));
        DType stash = stashType(ctx);
        for (int i = 1; i < ctx.outputCount(); i++) out.add(TensorType.of(stash, new Shape(stats)));
        return out;
    }

    private static List<TensorType> inferRmsNorm(InferenceContext ctx) {
        requireType(ctx, 0, FLOATS);
        DType v = requireType(ctx, 1, FLOATS);
        Shape x = ctx.shape(0);
        ctx.axis(ctx.intAttr("axis"), x.rank());
        requireUnidirectional(ctx, 1, x);
        stashType(ctx);
        return List.of(TensorType.of(v, x));
    }

    /** The element type stash_type names: the precision of the statistics. */
    private static DType stashType(InferenceContext ctx) {
        long code = ctx.intAttr("stash_type");
        return switch ((int) code) {
            case 1 -> DType.F32;
            case 10 -> DType.F16;
            case 11 -> DType.F64;
            case 16 -> DType.BF16;
            default -> throw ctx.fail("stash_type " + code + " is not a floating-point type");
        };
    }

    private static List<TensorType> inferLrn(InferenceContext ctx) {
        DType t = requireType(ctx, 0, FLOATS);
        Shape x = ctx.shape(0);
        if (x.rank() < 2) throw ctx.fail("input of shape " + x + " needs a batch and a channel axis");
        if (ctx.intAttr("size") < 1) throw ctx.fail("size must be positive");
        return List.of(TensorType.of(t, x));
    }

    private static List<TensorType> inferMatMul(InferenceContext ctx) {
        DType t = requireType(ctx, 0, MATMUL_TYPES);
        requireSameType(ctx, t, 1);
        return List.of(TensorType.of(t, matMulShape(ctx, ctx.shape(0), ctx.shape(1))));
    }

    private static List<TensorType> inferMatMulInteger(InferenceContext ctx) {
        requireType(ctx, 0, BYTES);
        requireType(ctx, 1, BYTES);
        if (ctx.hasInput(2) && ctx.dtype(2) != ctx.dtype(0)) throw ctx.fail("a_zero_point must have A's type " + ctx.dtype(0));
        if (ctx.hasInput(3) && ctx.dtype(3) != ctx.dtype(1)) throw ctx.fail("b_zero_point must have B's type " + ctx.dtype(1));
        return List.of(TensorType.of(DType.I32, matMulShape(ctx, ctx.shape(0), ctx.shape(1))));
    }

    /** numpy.matmul: 1-D operands are promoted to matrices and the promoted axis dropped again. */
    private static Shape matMulShape(InferenceContext ctx, Shape a, Shape b) {
        if (a.rank() == 0 || b.rank() == 0) throw ctx.fail("operands must not be scalars");
        Dim k1 = a.dim(a.rank() - 1);
        Dim k2 = b.rank() == 1 ? b.dim(0) : b.dim(b.rank() - 2);
        if (k1.isStatic() && k2.isStatic() && k1.size() != k2.size()) {
            throw ctx.fail("shapes " + a + " and " + b + " do not agree on the inner dimension");
        }
        Shape batchA = new Shape(a.dims().subList(0, Math.max(0, a.rank() - 2)));
        Shape batchB = new Shape(b.dims().subList(0, Math.max(0, b.rank() - 2)));
        List<Dim> out = new ArrayList<>(ctx.broadcast(List.of(batchA, batchB)).dims());
        if (a.rank() >= 2) out.add(a.dim(a.rank() - 2));
        if (b.rank() >= 2) out.add(b.dim(b.rank() - 1));
        return new Shape(out);
    }

    private static List<TensorType> inferGemm(InferenceContext ctx) {
        DType t = requireType(ctx, 0, MATMUL_TYPES);
        requireSameType(ctx, t, 1, 2);
        Shape a = ctx.shape(0);
        Shape b = ctx.shape(1);
        if (a.rank() != 2 || b.rank() != 2) throw ctx.fail("A " + a + " and B " + b + " must be matrices");
        boolean ta = ctx.intAttr("transA") != 0;
        boolean tb = ctx.intAttr("transB") != 0;
        Dim m = a.dim(ta ? 1 : 0);
        Dim k1 = a.dim(ta ? 0 : 1);
        Dim k2 = b.dim(tb ? 1 : 0);
        Dim n = b.dim(tb ? 0 : 1);
        if (k1.isStatic() && k2.isStatic() && k1.size() != k2.size()) {
            throw ctx.fail("A " + a + " and B " + b + " do not agree on the inner dimension (transA=" + (ta ? 1 : 0) + ", transB=" + (tb ? 1 : 0) + ")");
        }
        Shape y = new Shape(List.of(m, n));
        if (ctx.hasInput(2)) requireUnidirectional(ctx, 2, y);
        return List.of(TensorType.of(t, y));
    }

    private static List<TensorType> inferEinsum(InferenceContext ctx) {
        DType t = requireType(ctx, 0, EINSUM_TYPES);
        for (int i = 1; i < ctx.inputCount(); i++) requireSameType(ctx, t, i);
        String equation = ctx.stringAttr("equation").replace(" ", "");
        int arrow = equation.indexOf("->");
        String[] terms = (arrow < 0 ? equation : equation.substring(0, arrow)).split(",", -1);
        if (terms.length != ctx.inputCount()) {
            throw ctx.fail("equation '" + equation + "' has " + terms.length + " operands but the node has " + ctx.inputCount() + " inputs");
        }
        Map<Character, Dim> sizes = new HashMap<>();
        Map<Character, Integer> uses = new HashMap<>();
        List<Shape> ellipses = new ArrayList<>();
        for (int i = 0; i < terms.length; i++) {
            Shape s = ctx.shape(i);
            String term = terms[i];
            int dots = term.indexOf("...");
            int letters = term.length() - (dots < 0 ? 0 : 3);
            int ellipsisRank = s.rank() - letters;
            if (ellipsisRank < 0 || (dots < 0 && ellipsisRank != 0)) {
                throw ctx.fail("term '" + term + "' does not match input " + i + " of rank " + s.rank());
            }
            int d = 0;
            for (int p = 0; p < term.length(); p++) {
                if (p == dots) {
                    ellipses.add(new Shape(s.dims().subList(d, d + ellipsisRank)));
                    d += ellipsisRank;
                    p += 2;
                    continue;
                }
                char label = einsumLabel(ctx, term.charAt(p));
                uses.merge(label, 1, Integer::sum);
                Dim dim = s.dim(d++);
                Dim known = sizes.get(label);
                if (known == null || (known.isStatic() && known.size() == 1)) {
                    sizes.put(label, dim);
                } else if (dim.isStatic() && known.isStatic() && dim.size() != known.size() && dim.size() != 1) {
                    throw ctx.fail("label '" + label + "' has sizes " + known + " and " + dim);
                }
            }
        }
        Shape ellipsis = ctx.broadcast(ellipses);
        List<Dim> out = new ArrayList<>();
        if (arrow >= 0) {
            String rhs = equation.substring(arrow + 2);
            for (int p = 0; p < rhs.length(); p++) {
                if (rhs.startsWith("...", p)) {
                    out.addAll(ellipsis.dims());
                    p += 2;
                    continue;
                }
                Dim d = sizes.get(einsumLabel(ctx, rhs.charAt(p)));
                if (d == null) throw ctx.fail("output label '" + rhs.charAt(p) + "' is not in any operand");
                out.add(d);
            }
        } else {
            out.addAll(ellipsis.dims());
            uses.entrySet().stream().filter(e -> e.getValue() == 1).map(Map.Entry::getKey).sorted()
                    .forEach(label -> out.add(sizes.get(label)));
        }
        return List.of(TensorType.of(t, new Shape(out)));
    }

    private static char einsumLabel(InferenceContext ctx, char c) {
        if ((c < 'a' || c > 'z') && (c < 'A' || c > 'Z')) throw ctx.fail("'" + c + "' is not an einsum label");
        return c;
    }

    private static DType requireType(InferenceContext ctx, int i, Set<DType> allowed) {
        DType t = ctx.dtype(i);
        if (!allowed.contains(t)) throw ctx.fail("input " + i + " has dtype " + t + "; expected one of " + allowed);
        return t;
    }

    /** The given inputs, where present, must have dtype t. */
    private static void requireSameType(InferenceContext ctx, DType t, int... inputs) {
        for (int i : inputs) {
            if (ctx.hasInput(i) && ctx.dtype(i) != t) throw ctx.fail("input " + i + " has dtype " + ctx.dtype(i) + " but input 0 has " + t);
        }
    }

    /** Input i must be a vector of the given length. */
    private static void requireVector(InferenceContext ctx, int i, Dim length) {
        Shape s = ctx.shape(i);
        if (s.rank() != 1) throw ctx.fail("input " + i + " of shape " + s + " must be a vector of length " + length);
        if (s.dim(0).isStatic() && length.isStatic() && s.dim(0).size() != length.size()) {
            throw ctx.fail("input " + i + " of shape " + s + " must have length " + length);
        }
    }

    /** Input i must broadcast to target without changing target's shape. */
    private static void requireUnidirectional(InferenceContext ctx, int i, Shape target) {
        Shape s = ctx.shape(i);
        boolean ok = s.rank() <= target.rank();
        for (int d = 0; ok && d < s.rank(); d++) {
            Dim a = s.dim(d);
            Dim b = target.dim(target.rank() - s.rank() + d);
            ok = !a.isStatic() || !b.isStatic() || a.size() == 1 || a.size() == b.size();
        }
        if (!ok) throw ctx.fail("input " + i + " of shape " + s + " does not broadcast to " + target);
    }
}
