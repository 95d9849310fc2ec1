package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * ConvTranspose and FusedConvTranspose of any number of spatial axes, every attribute form (groups, dilations,
 * pads, auto_pad, output_padding, output_shape), in plain layouts or blocked ones (reordered to plain around the
 * kernels, blocked filters laid out plain at compile time). In single precision (f32, and f16 and
 * bf16 converted to float) the GEMM of the transposed weights with the input followed by the col2im scatter of
 * its columns into the output, then the epilogue (conv_nd.h's kiln_conv_transpose_f32); in f64 conv_nd.h's
 * direct transposed convolution in double, then the epilogue in double.
 */
final class ConvTransposeEmitter implements OpEmitter {
    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    /** The most floats of GEMM columns at once: the input positions go through the GEMM in bands that fit. */
    private static final long COLUMN_FLOATS = 1L << 20;

    @Override
    public Set<String> ops() { return Set.of("ConvTranspose", "FusedConvTranspose"); }

    @Override
    public List<String> kernels() { return List.of("conv_nd.h", "matmul_any.h", "convert.h"); }

    @Override
    public String problem(Node n) {
        String problem = ComputeBuffers.dtypeProblem(n, FLOATS);
        if (problem == null) problem = ComputeBuffers.layoutProblem(n, 3);
        if (problem == null) problem = ComputeBuffers.staticProblem(n);
        if (problem == null) problem = Epilogue.problem(n);
        return problem != null ? problem : ConvGeometryNd.spatialProblem(Nodes.logical(n.input(0)).length);
    }

    /** Lays out filters the layout pass blocked plain again, in the compute type. */
    @Override
    public void prepare(Graph graph, Emission e) {
        for (Node n : graph.nodes()) {
            if (ops().contains(n.op()) && !Layouts.isPlain(n.input(1).type().layout())) {
                ComputeBuffers.packPlain(e, n, 1, n.output(0).type().dtype() == DType.F64 ? "double" : "float");
            }
        }
    }

    @Override
    public void emit(Node n, Emission e) {
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
}
