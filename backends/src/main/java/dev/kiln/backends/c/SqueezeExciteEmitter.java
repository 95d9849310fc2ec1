package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Set;

/**
 * SqueezeExcite (FusionOps), NCHW or blocked NCHW{c}c, any spatial rank. f32 with constant weights runs as
 * squeeze_excite.h's kernel, its weights packed at compile time (rows padded to whole vectors, W2 transposed so
 * that the excitation is a sum of vectors over channels); other dtypes and run-time weights element by element
 * in double.
 */
final class SqueezeExciteEmitter implements OpEmitter {
    /** What squeeze_excite.h pads rows to: the widest vector of any target. */
    private static final int ROW_MULTIPLE = 16;

    @Override
    public Set<String> ops() { return Set.of("SqueezeExcite"); }

    @Override
    public List<String> kernels() { return List.of("squeeze_excite.h", "matmul_any.h"); }

    @Override
    public String problem(Node n) {
        for (Value v : Nodes.values(n)) {
            if (!Emission.isStatic(v)) return " (symbolic shape " + v.type().shape() + ")";
        }
        for (String attr : List.of("activation", "gate")) {
            if (Nodes.attr(n, attr) instanceof Attribute.Str a && !Epilogue.ACTIVATIONS.contains(a.value())) return " (" + attr + " " + a.value() + ")";
        }
        Layout l = n.input(0).type().layout();
        return l.isAny() || Layouts.isPlain(l) || ComputeBuffers.lanes(l) > 0 ? null : " (layout " + Nodes.layoutName(l) + ")";
    }

    /** The kernel's case: f32 throughout with constant weights and biases. */
    private static boolean fast(Node n) {
        for (int i = 0; i < n.inputs().size(); i++) {
            Value v = n.input(i);
            if (v != null && (v.type().dtype() != DType.F32 || (i > 0 && !(v instanceof Constant)))) return false;
        }
        return n.output(0).type().dtype() == DType.F32;
    }

    /** Channels, reduced channels and excited channels: C1 (W1's columns), R, C2 (W2's rows). */
    private record Sizes(long c1, long r, long c2) {
        static Sizes of(Node n) {
            long[] w1 = Nodes.dims(n.input(1));
            return new Sizes(w1[1], w1[0], Nodes.dims(n.input(2))[0]);
        }

        long rp() { return padded(r); }

        long c2p() { return padded(c2); }

        /** Floats of the packed weights: W1 transposed, B1, W2 transposed, B2, rows padded to whole vectors. */
        long packed() { return c1 * rp() + rp() + r * c2p() + c2p(); }
    }

    private static long padded(long c) { return (c + ROW_MULTIPLE - 1) / ROW_MULTIPLE * ROW_MULTIPLE; }

    @Override
    public void prepare(Graph graph, Emission e) {
        for (Node n : graph.nodes()) {
            if (!n.op().equals("SqueezeExcite") || !fast(n)) continue;
            Sizes s = Sizes.of(n);
            e.pack(key(n), s.packed() * 4, dst -> pack(n, s, dst.asFloatBuffer()));
            for (int i = 1; i < n.inputs().size(); i++) e.readsPacked(n, i);
        }
    }

    private static String key(Node n) {
        StringBuilder k = new StringBuilder("se");
        for (int i = 1; i < n.inputs().size(); i++) k.append('/').append(n.input(i) == null ? "_" : n.input(i).name());
        return k.toString();
    }

    /** W1 transposed [c1][rp], B1 [rp], W2 transposed [r][c2p], B2 [c2p]: zeros where padded or absent. */
    private static void pack(Node n, Sizes s, FloatBuffer dst) {
        FloatBuffer w1 = floats(n.input(1));
        FloatBuffer w2 = floats(n.input(2));
        FloatBuffer b1 = n.inputs().size() > 3 && n.input(3) != null ? floats(n.input(3)) : null;
        FloatBuffer b2 = n.inputs().size() > 4 && n.input(4) != null ? floats(n.input(4)) : null;
        int c1 = (int) s.c1();
        int r = (int) s.r();
        int rp = (int) s.rp();
        int c2p = (int) s.c2p();
        int bias1 = c1 * rp;
        int w2t = bias1 + rp;
        int bias2 = w2t + r * c2p;
        for (int j = 0; j < r; j++) {
            for (int c = 0; c < c1; c++) dst.put(c * rp + j, w1.get(j * c1 + c));
            for (int c = 0; c < s.c2(); c++) dst.put(w2t + j * c2p + c, w2.get(c * r + j));
            if (b1 != null) dst.put(bias1 + j, b1.get(j));
        }
        if (b2 != null) for (int c = 0; c < s.c2(); c++) dst.put(bias2 + c, b2.get(c));
    }

    private static FloatBuffer floats(Value v) { return ((Constant) v).data().duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer(); }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        long[] logical = Nodes.logical(x);
        long lanes = ComputeBuffers.lanes(x.type().layout());
        long images = logical[0];
        long planes = lanes > 0 ? Nodes.dims(x)[1] : logical[1];
        long size = Nodes.product(logical, 2, logical.length);
        Sizes s = Sizes.of(n);
        if (fast(n)) {
            long step = Math.max(1, lanes);
            long cw = padded(planes * step);
            String ws = e.workspace(images * cw + s.rp());
            String w = e.packedPtr(key(n));
            long bias1 = s.c1() * s.rp();
            long w2t = bias1 + s.rp();
            long bias2 = w2t + s.r() * s.c2p();
            float[] act = Epilogue.params(n, "activation_params");
            float[] gate = Epilogue.params(n, "gate_params");
            e.line("kiln_se_args a = {" + images + ", " + planes + ", " + size + ", " + step + ", " + s.c1() + ", " + s.r() + ", " + s.rp() + ", "
                    + s.c2() + ", " + s.c2p() + ", " + cw + ", " + e.ptr(x) + ", " + e.ptr(n.output(0)) + ", " + w + ", " + w + " + " + bias1 + ", "
                    + w + " + " + w2t + ", " + w + " + " + bias2 + ", " + Epilogue.code(n, "activation") + ", " + Epilogue.code(n, "gate") + ", "
                    + CTypes.floatLiteral(act[0]) + ", " + CTypes.floatLiteral(act[1]) + ", " + CTypes.floatLiteral(gate[0]) + ", "
                    + CTypes.floatLiteral(gate[1]) + ", " + ws + "};");
            e.line("kiln_se(&a, " + ws + " + " + images * cw + ");");
        } else {
            emitElements(n, e, images, planes * Math.max(1, lanes), size, lanes, s);
        }
    }

    /**
     * Any float dtype and run-time weights: per image and channel in double, the means in a local array, as the
     * interpreter computes. Elements of channel ch at position i: plain (b * channels + ch) * size + i, blocked
     * ((b * blocks + ch / lanes) * size + i) * lanes + ch % lanes.
     */
    private static void emitElements(Node n, Emission e, long images, long channels, long size, long lanes, Sizes s) {
        Value x = n.input(0);
        DType t = x.type().dtype();
        String at = lanes > 0 ? "((b * " + channels / lanes + "L + ch / " + lanes + "L) * " + size + "L + i) * " + lanes + "L + ch % " + lanes + "L"
                : "(b * " + channels + "L + ch) * " + size + "L + i";
        String xs = e.ptr(x);
        String ys = e.ptr(n.output(0));
        String w1 = e.ptr(n.input(1));
        String w2 = e.ptr(n.input(2));
        Value b1 = n.inputs().size() > 3 ? n.input(3) : null;
        Value b2 = n.inputs().size() > 4 ? n.input(4) : null;
        e.open("for (long b = 0; b < " + images + "L; b++) {");
        e.line("double mean[" + s.c1() + "], reduced[" + s.r() + "];");
        e.open("for (long ch = 0; ch < " + s.c1() + "L; ch++) {");
        e.line("double sum = 0.0;");
        e.line("for (long i = 0; i < " + size + "L; i++) sum += " + Elements.asDouble(t, xs + "[" + at + "]") + ";");
        e.line("mean[ch] = sum / " + size + ".0;");
        e.close("}");
        e.open("for (long j = 0; j < " + s.r() + "L; j++) {");
        e.line("double v = " + (b1 == null ? "0.0" : Elements.asDouble(t, e.ptr(b1) + "[j]")) + ";");
        e.line("for (long ch = 0; ch < " + s.c1() + "L; ch++) v += " + Elements.asDouble(t, w1 + "[j * " + s.c1() + "L + ch]") + " * mean[ch];");
        e.line("reduced[j] = " + Epilogue.activateF64(n, "activation", "activation_params", "v") + ";");
        e.close("}");
        e.open("for (long ch = 0; ch < " + channels + "L; ch++) {");
        e.line("double v = " + (b2 == null ? "0.0" : "ch < " + s.c2() + "L ? " + Elements.asDouble(t, e.ptr(b2) + "[ch]") + " : 0.0") + ";");
        e.line("if (ch < " + s.c2() + "L) for (long j = 0; j < " + s.r() + "L; j++) v += " + Elements.asDouble(t, w2 + "[ch * " + s.r() + "L + j]")
                + " * reduced[j];");
        e.line("double g = ch < " + s.c2() + "L ? " + Epilogue.activateF64(n, "gate", "gate_params", "v") + " : 0.0;");
        e.line("for (long i = 0; i < " + size + "L; i++) " + ys + "[" + at + "] = " + Elements.fromDouble(t, Elements.asDouble(t, xs + "[" + at + "]") + " * g") + ";");
        e.close("}");
        e.close("}");
    }
}
