package dev.kiln.backends.c;

import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * ConvTranspose and FusedConvTranspose of any number of spatial axes, every attribute form (groups, dilations,
 * pads, auto_pad, output_padding, output_shape), in plain layouts or blocked ones. f32 between blocked 1-D or 2-D
 * values of one group with a constant filter: blocked_conv_transpose.h's direct kernel, output by output in
 * register tiles, the epilogue applied as each tile is stored, the filter packed for its tiles at compile time.
 * Otherwise reordered to plain around the kernels (blocked filters laid out plain at compile time): in single
 * precision (f32, and f16 and bf16 converted to float) the GEMM of the transposed weights with the input followed
 * by the col2im scatter of its columns into the output, then the epilogue (conv_nd.h's kiln_conv_transpose_f32);
 * in f64 conv_nd.h's direct transposed convolution in double, then the epilogue in double.
 */
final class ConvTransposeEmitter implements OpEmitter {
    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    /** The most floats of GEMM columns at once: the input positions go through the GEMM in bands that fit. */
    private static final long COLUMN_FLOATS = 1L << 20;

    @Override
    public Set<String> ops() { return Set.of("ConvTranspose", "FusedConvTranspose"); }

    @Override
    public List<String> kernels() { return List.of("conv_nd.h", "matmul_any.h", "convert.h", "blocked_conv_transpose.h"); }

    @Override
    public String problem(Node n) {
        String problem = ComputeBuffers.dtypeProblem(n, FLOATS);
        if (problem == null) problem = ComputeBuffers.layoutProblem(n, 3);
        if (problem == null) problem = ComputeBuffers.staticProblem(n);
        if (problem == null) problem = Epilogue.problem(n);
        return problem != null ? problem : ConvGeometryNd.spatialProblem(Nodes.logical(n.input(0)).length);
    }

    /** Packs the filters of the blocked kernel for their tiles; lays out the other filters the layout pass blocked plain again, in the compute type. */
    @Override
    public void prepare(Graph graph, Emission e) {
        for (Node n : graph.nodes()) {
            if (!ops().contains(n.op())) continue;
            if (takesBlocked(n)) {
                Tile t = Tile.of(n, e);
                ConvGeometryNd g = ConvGeometryNd.transposed(n);
                e.pack(packedKey(n, t), g.c() * g.m() * g.taps() * 4, dst -> packBlocked(n, e.block(), t, dst.asFloatBuffer()));
                e.readsPacked(n, 1);
            } else if (!Layouts.isPlain(n.input(1).type().layout())) {
                ComputeBuffers.packPlain(e, n, 1, n.output(0).type().dtype() == DType.F64 ? "double" : "float");
            }
        }
    }

    /** The blocked kernel's case: f32 NCW{c}c or NCHW{c}c in and out (a residual too), one group, a constant f32 filter. */
    private static boolean takesBlocked(Node n) {
        Value x = n.input(0);
        Value residual = GeneralConv.optional(n, 3);
        Value bias = GeneralConv.optional(n, 2);
        return Nodes.isBlocked(x) && x.type().layout().equals(n.output(0).type().layout()) && x.type().dtype() == DType.F32
                && n.output(0).type().dtype() == DType.F32 && n.input(1) instanceof Constant w && w.type().dtype() == DType.F32
                && (bias == null || bias.type().dtype() == DType.F32) && (residual == null || residual.type().dtype() == DType.F32)
                && Nodes.intAttr(n, "group", 1) == 1;
    }

    /**
     * The blocked kernel's register tile: J output blocks (the most, up to 4, that divide the output's blocks) by T
     * outputs of a phase of a row, J x T accumulators, J weights and a broadcast within the target's vector registers.
     */
    private record Tile(int j, int t) {
        static Tile of(Node n, Emission e) {
            ConvGeometryNd g = ConvGeometryNd.transposed(n);
            long blocks = g.m() / e.block();
            int j = 4;
            while (blocks % j != 0) j--;
            long stride = g.strides()[g.rank() - 1];
            long phaseOutputs = (g.out()[g.rank() - 1] + stride - 1) / stride;
            int t = (int) Math.max(1, Math.min(Math.min(16, (e.vectorRegisters() - j - 2) / j), phaseOutputs));
            return new Tile(j, t);
        }
    }

    private static String packedKey(Node n, Tile t) { return "convtb/" + n.input(1).name() + "/" + t.j(); }

    /**
     * The filter W(c, m, taps) (padded channels, laid out plain) in groups of J output blocks as
     * blocked_conv_transpose.h reads it: group o holds W(cb * B + ic, (o + jj) * B + lane, tap) at
     * [o * cb * taps * B * B + ((cb * taps + tap) * B + ic) * J * B + jj * B + lane].
     */
    private static void packBlocked(Node n, int block, Tile t, FloatBuffer dst) {
        Constant w = (Constant) n.input(1);
        Layout l = w.type().layout();
        ByteBuffer plain = Layouts.isPlain(l) ? w.data() : Layouts.transform(w.data(), 4, Nodes.dims(w), l, Layouts.logical(l), null);
        FloatBuffer src = plain.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        ConvGeometryNd g = ConvGeometryNd.transposed(n);
        int c = (int) g.c();
        int m = (int) g.m();
        int taps = (int) g.taps();
        int j = t.j();
        for (int o = 0; o < m / block; o += j) {
            for (int cb = 0; cb < c / block; cb++) {
                for (int tap = 0; tap < taps; tap++) {
                    for (int ic = 0; ic < block; ic++) {
                        for (int jj = 0; jj < j; jj++) {
                            for (int lane = 0; lane < block; lane++) {
                                int at = o * c * taps * block + ((cb * taps + tap) * block + ic) * j * block + jj * block + lane;
                                dst.put(at, src.get(((cb * block + ic) * m + (o + jj) * block + lane) * taps + tap));
                            }
                        }
                    }
                }
            }
        }
    }

    @Override
    public void emit(Node n, Emission e) {
        if (takesBlocked(n)) {
            emitBlocked(n, e);
            return;
        }
        Value x = n.input(0);
        Value w = n.input(1);
        Value y = n.output(0);
        Value bias = GeneralConv.optional(n, 2);
        Value residual = GeneralConv.optional(n, 3);
        ConvGeometryNd g = ConvGeometryNd.transposed(n);
        ComputeBuffers buffers = new ComputeBuffers(e);
        e.line("static const kiln_conv_nd_shape s = " + g.convShape() + ";");
        if (y.type().dtype() == DType.F64) {
            String xd = buffers.read(x, "double");
            String wd = buffers.read(w, "double");
            String rd = residual == null ? null : buffers.read(residual, "double");
            String yd = buffers.output(y, "double");
            e.line("kiln_conv_nd_f64(&s, 1, " + xd + ", " + wd + ", " + yd + ");");
            Epilogue.planesF64(e, n, yd, g.n() * g.m(), g.m(), g.outSize(), bias == null ? null : e.ptr(bias), rd);
            buffers.store(y, yd, "double");
            return;
        }
        String xf = buffers.read(x, "float");
        String wf = buffers.read(w, "float");
        String bf = bias == null ? null : buffers.read(bias, "float");
        String rf = residual == null ? null : buffers.read(residual, "float");
        String yf = buffers.output(y, "float");
        Epilogue.declare(e, n, 1, 1, bf, 1, 0, rf, g.outSize());
        // the GEMM's columns, for bands of input positions that keep them within COLUMN_FLOATS
        long rows = g.m() / g.group() * g.taps();
        long band = Math.max(1, Math.min(g.inSize(), COLUMN_FLOATS / Math.max(1, rows)));
        String col = buffers.buffer(rows * band, "float");
        String ws = e.workspace(Emission.GEMM_WORKSPACE_FLOATS);
        e.threadWorkspace(Emission.GEMM_WORKSPACE_FLOATS);
        e.line("kiln_conv_transpose_f32(&s, " + xf + ", " + wf + ", " + yf + ", &e, " + col + ", " + band + "L, " + ws + ");");
        buffers.store(y, yf, "float");
    }

    /** blocked_conv_transpose.h's kernel with the node's tile, its epilogue applied as each tile is stored. */
    private static void emitBlocked(Node n, Emission e) {
        ConvGeometryNd g = ConvGeometryNd.transposed(n);
        int block = e.block();
        Tile t = Tile.of(n, e);
        boolean image = g.rank() == 2;
        long[] in = g.in();
        long[] out = g.out();
        int x = g.rank() - 1;
        e.line("static const kiln_convtb_shape s = {" + g.n() + ", " + g.c() / block + ", " + (image ? in[0] : 1) + ", " + in[x] + ", "
                + g.m() / block + ", " + (image ? out[0] : 1) + ", " + out[x] + ", " + (image ? g.kernel()[0] : 1) + ", " + g.kernel()[x] + ", "
                + (image ? g.strides()[0] : 1) + ", " + g.strides()[x] + ", " + (image ? g.dilations()[0] : 1) + ", " + g.dilations()[x] + ", "
                + (image ? g.padsBegin()[0] : 0) + ", " + g.padsBegin()[x] + "};");
        Epilogue.declare(e, n, 1, 1, Epilogue.optional(e, n, 2), 1, 0, Epilogue.optional(e, n, 3), g.outSize());
        e.global("KILN_CONVTB_TILE(" + t.j() + ", " + t.t() + ")");
        e.line("kiln_convtb_args a = {&s, " + e.ptr(n.input(0)) + ", " + e.packedPtr(packedKey(n, t)) + ", " + e.ptr(n.output(0)) + ", &e, "
                + t.j() + ", " + t.t() + ", kiln_convtb_" + t.j() + "_" + t.t() + "};");
        e.line("kiln_convtb(&a);");
    }
}
