package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Attribute.Kind;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The ops the fusion passes make (Kiln's own, not ONNX's):
 * <ul>
 * <li>{@code FusedConv(X, W, B?, Z?)}, {@code FusedConvTranspose(X, W, B?, Z?)} and
 *     {@code FusedGemm(A, B, C?, Z?)}: the op of the same name without the prefix, with all its
 *     attributes, then {@code + Z} (a residual of the output's shape) when given, then the
 *     activation;</li>
 * <li>{@code FusedMatMul(A, B, bias?, Z?)}: act(MatMul(A, B) + bias + Z), bias broadcast to the
 *     output (one value per column, usually), Z of the output's shape;</li>
 * <li>{@code FusedElementwise(x0, x1, ...)}: a chain of elementwise steps ({@link ElementwiseProgram})
 *     over inputs broadcast to one output shape, in the dtype of x0.</li>
 * <li>{@code SqueezeExcite(X, W1, W2, B1?, B2?)}: squeeze and excitation of X [N, C, spatial...],
 *     Y = X * gate(W2 act(W1 mean(X) + B1) + B2), the mean over the spatial axes, per image and channel:
 *     W1 [R, C1] and W2 [C2, R] with C1, C2 at most C, B1 and B2 of at least R and C2 values. The squeeze reads
 *     channels [0, C1) and the excitation of channels from C2 on is 0 (so that channels a blocked layout pads
 *     with zeros may be left out of the weights). The gate is {@code gate} with parameters
 *     {@code gate_params}, named as activations are.</li>
 * </ul>
 * The activation is {@code activation} (None or a unary function name of {@link ElementwiseProgram})
 * with its parameters in {@code activation_params}: LeakyRelu [alpha], Clip [min, max],
 * HardSigmoid [alpha, beta], Swish [alpha], Elu [alpha].
 */
final class FusionOps {
    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    private static final Attribute NO_PARAMS = new Attribute.Floats(new float[0]);

    private FusionOps() {}

    static List<OpSpec> specs() {
        Map<String, OpSpec> base = new LinkedHashMap<>();
        for (OpSpec s : NnOps.specs()) base.put(s.name(), s);
        return List.of(
                withEpilogue("FusedConv", base.get("Conv")),
                withEpilogue("FusedConvTranspose", base.get("ConvTranspose")),
                withEpilogue("FusedGemm", base.get("Gemm")),
                activation(OpSpec.builder("FusedMatMul").inputs(2, 4)).infer(FusionOps::inferFusedMatMul).build(),
                OpSpec.builder("FusedElementwise").inputs(1, OpSpec.VARIADIC).requiredAttr("program", Kind.STRINGS)
                        .infer(FusionOps::inferFusedElementwise).build(),
                activation(OpSpec.builder("SqueezeExcite").inputs(3, 5)).attr("gate", Kind.STRING, Attribute.of("Sigmoid"))
                        .attr("gate_params", Kind.FLOATS, NO_PARAMS).infer(FusionOps::inferSqueezeExcite).build());
    }

    private static List<TensorType> inferSqueezeExcite(InferenceContext ctx) {
        TensorType x = ctx.input(0);
        if (!FLOATS.contains(x.dtype())) throw ctx.fail("squeeze and excitation computes in floating point, not " + x.dtype());
        if (x.rank() < 3) throw ctx.fail("X of shape " + x.shape() + " has no spatial axes");
        for (int i = 1; i < ctx.inputCount(); i++) {
            if (ctx.hasInput(i) && ctx.dtype(i) != x.dtype()) throw ctx.fail("input " + i + " has dtype " + ctx.dtype(i) + " but X has " + x.dtype());
        }
        Shape w1 = ctx.shape(1);
        Shape w2 = ctx.shape(2);
        if (w1.rank() != 2 || w2.rank() != 2) throw ctx.fail("W1 " + w1 + " and W2 " + w2 + " must be matrices");
        Dim c = x.shape().dim(1);
        requireAtMost(ctx, "W1's columns", w1.dim(1), c);
        requireAtMost(ctx, "W2's rows", w2.dim(0), c);
        Dim r = w1.dim(0);
        if (r.isStatic() && w2.dim(1).isStatic() && r.size() != w2.dim(1).size()) throw ctx.fail("W1 " + w1 + " and W2 " + w2 + " disagree on the reduced channels");
        requireVector(ctx, "B1", 3, r);
        requireVector(ctx, "B2", 4, w2.dim(0));
        try {
            ElementwiseProgram.checkActivation(ctx.stringAttr("activation"), ((Attribute.Floats) ctx.attr("activation_params")).values());
            ElementwiseProgram.checkActivation(ctx.stringAttr("gate"), ((Attribute.Floats) ctx.attr("gate_params")).values());
        } catch (IllegalArgumentException e) {
            throw ctx.fail(e.getMessage());
        }
        return List.of(x);
    }

    /** Input i, when given, a vector of at least {@code length} values (a blocked layout pads vectors along with channels). */
    private static void requireVector(InferenceContext ctx, String what, int i, Dim length) {
        if (!ctx.hasInput(i)) return;
        Shape s = ctx.shape(i);
        if (s.rank() != 1 || (s.dim(0).isStatic() && length.isStatic() && s.dim(0).size() < length.size())) {
            throw ctx.fail(what + " of shape " + s + " must be a vector of at least " + length + " values");
        }
    }

    private static void requireAtMost(InferenceContext ctx, String what, Dim d, Dim limit) {
        if (d.isStatic() && limit.isStatic() && d.size() > limit.size()) throw ctx.fail(what + " (" + d.size() + ") exceed X's " + limit.size() + " channels");
    }

    /** The op named {@code name} that is {@code base} (which has at most 3 inputs) plus a residual input and an activation. */
    private static OpSpec withEpilogue(String name, OpSpec base) {
        OpSpec.Builder b = OpSpec.builder(name).inputs(base.minInputs(), 4);
        for (AttrSpec a : base.attributes().values()) {
            if (a.required()) b.requiredAttr(a.name(), a.kind());
            else b.attr(a.name(), a.kind(), a.defaultValue());
        }
        String baseName = base.name();
        return activation(b).infer(ctx -> {
            TensorType y = inferBase(ctx, baseName, 3);
            checkEpilogue(ctx, y);
            return List.of(y);
        }).build();
    }

    private static OpSpec.Builder activation(OpSpec.Builder b) {
        return b.attr("activation", Kind.STRING, Attribute.of(ElementwiseProgram.NO_ACTIVATION))
                .attr("activation_params", Kind.FLOATS, NO_PARAMS);
    }

    /** The output type of the base op over the first {@code baseInputs} inputs and the attributes other than the activation's. */
    private static TensorType inferBase(InferenceContext ctx, String baseName, int baseInputs) {
        List<Value> inputs = new ArrayList<>(ctx.inputs().subList(0, Math.min(baseInputs, ctx.inputCount())));
        while (inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        Map<String, Attribute> attrs = new LinkedHashMap<>(ctx.attributes());
        attrs.remove("activation");
        attrs.remove("activation_params");
        return OpRegistry.spec(baseName).inferTypes(ctx.nodeName(), inputs, attrs, 1).get(0);
    }

    /** Checks the activation and that the residual Z (input 3), when given, has the output's dtype and shape. */
    private static void checkEpilogue(InferenceContext ctx, TensorType y) {
        if (!FLOATS.contains(y.dtype())) throw ctx.fail("fused ops compute in floating point, not " + y.dtype());
        try {
            ElementwiseProgram.checkActivation(ctx.stringAttr("activation"), ((Attribute.Floats) ctx.attr("activation_params")).values());
        } catch (IllegalArgumentException e) {
            throw ctx.fail(e.getMessage());
        }
        if (!ctx.hasInput(3)) return;
        TensorType z = ctx.input(3);
        boolean same = z.dtype() == y.dtype() && z.rank() == y.rank();
        for (int d = 0; same && d < y.rank(); d++) {
            Dim a = z.shape().dim(d);
            Dim b = y.shape().dim(d);
            same = !a.isStatic() || !b.isStatic() || a.size() == b.size();
        }
        if (!same) throw ctx.fail("residual Z of type " + z + " must have the output's type " + y);
    }

    private static List<TensorType> inferFusedMatMul(InferenceContext ctx) {
        TensorType y = inferBase(ctx, "MatMul", 2);
        if (ctx.hasInput(2)) {
            TensorType bias = ctx.input(2);
            if (bias.dtype() != y.dtype()) throw ctx.fail("bias has dtype " + bias.dtype() + " but the product has " + y.dtype());
            if (!broadcastsTo(bias.shape(), y.shape())) throw ctx.fail("bias of shape " + bias.shape() + " does not broadcast to the output " + y.shape());
        }
        checkEpilogue(ctx, y);
        return List.of(y);
    }

    private static List<TensorType> inferFusedElementwise(InferenceContext ctx) {
        DType t = ctx.dtype(0);
        if (!FLOATS.contains(t)) throw ctx.fail("input 0 has dtype " + t + "; expected one of " + FLOATS);
        List<Shape> shapes = new ArrayList<>();
        for (int i = 0; i < ctx.inputCount(); i++) {
            if (ctx.dtype(i) != t) throw ctx.fail("input " + i + " has dtype " + ctx.dtype(i) + " but input 0 has " + t);
            shapes.add(ctx.shape(i));
        }
        List<String> program = ((Attribute.Strs) ctx.attr("program")).values();
        try {
            ElementwiseProgram.parse(program, ctx.inputCount());
        } catch (IllegalArgumentException e) {
            throw ctx.fail(e.getMessage());
        }
        return List.of(TensorType.of(t, ctx.broadcast(shapes)));
    }

    /** Whether {@code from} broadcasts to {@code to} without changing it (unknown sizes are given the benefit of the doubt). */
    private static boolean broadcastsTo(Shape from, Shape to) {
        if (from.rank() > to.rank()) return false;
        for (int d = 0; d < from.rank(); d++) {
            Dim a = from.dim(d);
            Dim b = to.dim(to.rank() - from.rank() + d);
            if (a.isStatic() && b.isStatic() && a.size() != 1 && a.size() != b.size()) return false;
        }
        return true;
    }
}
