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

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Folds inference-mode BatchNormalization, y = s (x - mean) + beta with s = gamma / sqrt(var + eps),
 * into the Conv, ConvTranspose, Gemm or MatMul that produces x for it alone: the weights are
 * scaled per output channel and the shift goes into the bias (new constants computed in double,
 * stored in the weights' dtype). A MatMul, which has no bias, is followed by an Add of the shift.
 * A BatchNormalization with no such producer becomes Mul and Add by constant per-channel scale and
 * shift. Needs constant statistics and f32/f64 tensors; anything else is left alone.
 */
public final class FoldBatchNorm extends Pass {
    private static final Set<String> PRODUCERS = Set.of("Conv", "ConvTranspose", "Gemm", "MatMul");

    /** The per-channel affine map a BatchNormalization computes: y = scale * x + shift along axis 1. */
    private record ChannelAffine(double[] scale, double[] shift) {}

    @Override
    protected Graph run(Graph g, PassContext ctx) {
        Uses uses = Uses.of(g);
        Map<Node, ChannelAffine> affines = new HashMap<>();
        Map<Node, Node> foldedInto = new HashMap<>();
        Set<Node> folded = new HashSet<>();
        for (Node n : g.nodes()) {
            if (!n.op().equals("BatchNormalization")) continue;
            ChannelAffine a = affine(n, ctx);
            if (a == null) continue;
            affines.put(n, a);
            Node producer = n.input(0).producer();
            String whyNot = whyNotFoldable(producer, n, uses);
            if (whyNot == null) {
                foldedInto.put(producer, n);
                folded.add(n);
            } else {
                ctx.debug("fold-batch-norm: BatchNormalization '" + n.name() + "' becomes Mul and Add: " + whyNot);
            }
        }
        GraphRewrite rw = new GraphRewrite(g);
        for (Node n : g.nodes()) {
            if (folded.contains(n)) continue; // emitted with its producer
            Node bn = foldedInto.get(n);
            if (bn != null) {
                rw.replace(bn.output(0), fold(rw, n, bn, affines.get(bn)).output(0));
            } else if (affines.containsKey(n)) {
                scaleAndShift(rw, n, affines.get(n));
            } else {
                rw.copy(n);
            }
        }
        return rw.finish();
    }

    /** The node's affine map, or null (saying why) when it is not an inference BatchNormalization over constants. */
    private static ChannelAffine affine(Node bn, PassContext ctx) {
        String prefix = "fold-batch-norm: BatchNormalization '" + bn.name() + "' left alone: ";
        if (OpRegistry.spec(bn.op()).attributeOrDefault(bn.attributes(), "training_mode") instanceof Attribute.Int t && t.value() != 0) {
            ctx.debug(prefix + "it is in training mode");
            return null;
        }
        if (bn.outputs().size() != 1) {
            ctx.debug(prefix + "its running statistics are outputs");
            return null;
        }
        TensorType x = bn.input(0).type();
        if (!FusionConstants.foldable(x.dtype()) || x.rank() < 2) {
            ctx.debug(prefix + "input " + x + " is not an f32/f64 tensor with a channel axis");
            return null;
        }
        double[][] p = new double[4][];
        for (int i = 0; i < 4; i++) {
            if (!FusionConstants.readable(bn.input(i + 1))) {
                ctx.debug(prefix + "input %" + bn.input(i + 1).name() + " is not an f32/f64 constant");
                return null;
            }
            p[i] = FusionConstants.values(bn.input(i + 1));
        }
        double eps = ((Attribute.Float) OpRegistry.spec(bn.op()).attributeOrDefault(bn.attributes(), "epsilon")).value();
        int c = p[0].length;
        double[] scale = new double[c];
        double[] shift = new double[c];
        for (int k = 0; k < c; k++) {
            scale[k] = p[0][k] / Math.sqrt(p[3][k] + eps);
            shift[k] = p[1][k] - p[2][k] * scale[k];
        }
        return new ChannelAffine(scale, shift);
    }

    /** Null when bn can be folded into producer, else the reason it cannot. */
    private static String whyNotFoldable(Node producer, Node bn, Uses uses) {
        if (producer == null || !PRODUCERS.contains(producer.op())) {
            return "its input is not made by a Conv, ConvTranspose, Gemm or MatMul";
        }
        if (producer.outputs().size() != 1 || !uses.onlyFeeds(bn.input(0), bn)) return "the " + producer.op() + " output has other uses";
        Value w = producer.input(1);
        if (!FusionConstants.readable(w)) return "the " + producer.op() + " weights %" + w.name() + " are not an f32/f64 constant";
        if (w.type().dtype() != bn.input(0).type().dtype()) return "the weights' dtype differs from the output's";
        Value bias = producer.op().equals("MatMul") ? null : producer.input(2);
        if (bias != null && !FusionConstants.readable(bias)) return "the bias %" + bias.name() + " is not an f32/f64 constant";
        if (producer.op().equals("MatMul") && (w.type().rank() != 2 || bn.input(0).type().rank() != 2)) {
            return "the MatMul is not a matrix product whose columns are the channels";
        }
        return null;
    }

    /** Emits the producer with scaled weights and shifted bias; its output stands for the BatchNormalization's. */
    private static Node fold(GraphRewrite rw, Node p, Node bn, ChannelAffine a) {
        Constant w = (Constant) p.input(1);
        DType t = w.type().dtype();
        double[] scaled = FusionConstants.values(w);
        scaleChannels(scaled, p, w.type().shape().sizes(), a.scale());
        // Only the data input is mapped: the old weights and bias must not be carried into the new graph.
        Value data = rw.map(p.input(0));
        Constant weights = FusionConstants.make(rw, w.name() + "_folded", t, w.type().shape(), scaled);
        List<Value> inputs = new ArrayList<>(List.of(data, weights));
        Map<String, Attribute> attrs = new LinkedHashMap<>(p.attributes());
        String out = bn.output(0).name();
        switch (p.op()) {
            case "MatMul" -> {
                Node product = rw.add(p.name(), "MatMul", inputs, attrs, List.of(p.output(0).name()));
                Constant shift = FusionConstants.make(rw, bn.name() + "_shift", t, Shape.of(a.shift().length), a.shift());
                return rw.add(bn.name(), "Add", List.of(product.output(0), shift), Map.of(), List.of(out));
            }
            case "Gemm" -> {
                double beta = ((Attribute.Float) OpRegistry.spec("Gemm").attributeOrDefault(attrs, "beta")).value();
                inputs.add(gemmBias(rw, p.input(2), beta, a, t, bn.name() + "_bias"));
                attrs.put("beta", Attribute.of(1f));
            }
            default -> {
                double[] b = p.input(2) == null ? new double[a.shift().length] : FusionConstants.values(p.input(2));
                double[] folded = new double[b.length];
                for (int k = 0; k < b.length; k++) folded[k] = b[k] * a.scale()[k] + a.shift()[k];
                String hint = p.input(2) == null ? bn.name() + "_bias" : p.input(2).name() + "_folded";
                inputs.add(FusionConstants.make(rw, hint, t, Shape.of(folded.length), folded));
            }
        }
        return rw.add(p.name(), p.op(), inputs, attrs, List.of(out));
    }

    /**
     * Multiplies each weight by the scale of the output channel it feeds. The weights are viewed as
     * [outer, channels, inner] with the channel of element (o, k, i) being (o / outerPerGroup) * channels + k:
     * Conv [M, C/g * K...] and Gemm with transB [N, K] have outer 1; Gemm [K, N] and MatMul [K, N] inner 1;
     * ConvTranspose [C, M/g, K...] has outer C in groups of C/g, each group feeding its own M/g channels.
     */
    private static void scaleChannels(double[] w, Node p, long[] ws, double[] scale) {
        boolean transB = p.attribute("transB") instanceof Attribute.Int tb && tb.value() != 0;
        int outer;
        int channels;
        int outerPerGroup;
        switch (p.op()) {
            case "Conv" -> {
                outer = 1;
                channels = (int) ws[0];
                outerPerGroup = 1;
            }
            case "ConvTranspose" -> {
                long group = ((Attribute.Int) OpRegistry.spec("ConvTranspose").attributeOrDefault(p.attributes(), "group")).value();
                outer = (int) ws[0];
                channels = (int) ws[1];
                outerPerGroup = (int) (ws[0] / group);
            }
            default -> {
                outer = transB ? 1 : (int) ws[0];
                channels = (int) (transB ? ws[0] : ws[1]);
                outerPerGroup = outer;
            }
        }
        int inner = w.length / (outer * channels);
        int at = 0;
        for (int o = 0; o < outer; o++) {
            for (int k = 0; k < channels; k++) {
                double s = scale[(o / outerPerGroup) * channels + k];
                for (int i = 0; i < inner; i++) w[at++] *= s;
            }
        }
    }

    /** Gemm's new C = s * (beta * C) + shift, per column (no C: the shift alone), to be used with beta = 1. */
    private static Constant gemmBias(GraphRewrite rw, Value c, double beta, ChannelAffine a, DType t, String hint) {
        int n = a.shift().length;
        long[] shape = c == null ? new long[] {n} : FusionConstants.broadcastShape(List.of(c.type().shape().sizes(), new long[] {n}));
        double[] folded = new double[(int) Shape.elementCount(shape)];
        if (c != null) FusionConstants.addBroadcast(folded, shape, FusionConstants.values(c), c.type().shape().sizes(), beta);
        for (int i = 0; i < folded.length; i++) folded[i] = folded[i] * a.scale()[i % n] + a.shift()[i % n];
        return FusionConstants.make(rw, c == null ? hint : c.name() + "_folded", t, Shape.of(shape), folded);
    }

    /** BatchNormalization as x * scale + shift with constants shaped (C, 1, ...) to broadcast along axis 1. */
    private static void scaleAndShift(GraphRewrite rw, Node bn, ChannelAffine a) {
        TensorType x = bn.input(0).type();
        long[] dims = new long[x.rank() - 1];
        Arrays.fill(dims, 1);
        dims[0] = a.scale().length;
        Shape shape = Shape.of(dims);
        Constant scale = FusionConstants.make(rw, bn.name() + "_scale", x.dtype(), shape, a.scale());
        Constant shift = FusionConstants.make(rw, bn.name() + "_shift", x.dtype(), shape, a.shift());
        String out = bn.output(0).name();
        Node mul = rw.add(bn.name() + "_mul", "Mul", List.of(rw.map(bn.input(0)), scale), Map.of(), List.of(out + "_scaled"));
        Node add = rw.add(bn.name() + "_add", "Add", List.of(mul.output(0), shift), Map.of(), List.of(out));
        rw.replace(bn.output(0), add.output(0));
    }
}
