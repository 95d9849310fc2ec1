package dev.kiln.runtime.interpreter;

import dev.kiln.runtime.Tensor;

import java.util.List;

/** MaxPool, AveragePool, LpPool and their global forms over any number of spatial axes, computed in double. */
final class PoolKernels {
    private PoolKernels() {}

    static List<Tensor> maxPool(KernelContext ctx) {
        Windows windows = windows(ctx);
        ConvGeometry g = windows.geometry();
        int p = g.outputSize();
        int q = g.kernelSize();
        int[] taps = windows.taps();
        double[] v = windows.values();
        boolean withIndices = ctx.outputCount() > 1;
        boolean columnMajor = ctx.intAttr("storage_order") != 0;
        double[] y = new double[windows.planes() * p];
        long[] indices = withIndices ? new long[y.length] : null;
        windows.forEachOutput((xb, pi, out) -> {
            double best = Double.NEGATIVE_INFINITY;
            int at = -1;
            for (int qi = 0; qi < q; qi++) {
                int idx = taps[qi * p + pi];
                if (idx < 0) continue;
                double xv = v[xb + idx];
                // The first maximum in window order wins; NaN propagates as in numpy.max.
                if (at < 0 || xv > best || (Double.isNaN(xv) && !Double.isNaN(best))) {
                    best = xv;
                    at = idx;
                }
            }
            y[out] = at < 0 ? Double.NaN : best;
            if (withIndices) indices[out] = (long) xb + (columnMajor ? columnMajor(at, g.input()) : at);
        });
        long[] ys = windows.outputShape();
        Tensor out = NnArrays.fromDoubles(windows.x().dtype(), ys, y);
        return withIndices ? List.of(out, Tensor.ofLongs(indices, ys)) : List.of(out);
    }

    /** The column-major flat index of the element at row-major flat index i within the given sizes. */
    private static int columnMajor(int i, long[] sizes) {
        int r = 0;
        int stride = 1;
        int[] coords = new int[sizes.length];
        for (int d = sizes.length - 1, rest = i; d >= 0; d--) {
            coords[d] = rest % (int) sizes[d];
            rest /= (int) sizes[d];
        }
        for (int d = 0; d < sizes.length; d++) {
            r += coords[d] * stride;
            stride *= (int) sizes[d];
        }
        return r;
    }

    static List<Tensor> averagePool(KernelContext ctx) {
        boolean includePad = ctx.intAttr("count_include_pad") != 0;
        return windowPool(ctx, (sum, count, padded) -> sum / (includePad ? padded : count), 0);
    }

    static List<Tensor> lpPool(KernelContext ctx) {
        long p = ctx.intAttr("p");
        return windowPool(ctx, (sum, count, padded) -> Math.pow(sum, 1.0 / p), p);
    }

    /** How a pooled value follows from the window's sum of |x|^p, its count of real elements and its count including padding. */
    private interface Finish {
        double apply(double sum, int count, int padded);
    }

    /** Sums each window of x (power 0) or of |x|^power (LpPool), then finishes the sum. */
    private static List<Tensor> windowPool(KernelContext ctx, Finish finish, long power) {
        Windows windows = windows(ctx);
        int p = windows.geometry().outputSize();
        int q = windows.geometry().kernelSize();
        int[] taps = windows.taps();
        double[] v = windows.values();
        int[] padded = paddedCounts(windows.geometry());
        double[] y = new double[windows.planes() * p];
        windows.forEachOutput((xb, pi, out) -> {
            double sum = 0;
            int count = 0;
            for (int qi = 0; qi < q; qi++) {
                int idx = taps[qi * p + pi];
                if (idx >= 0) {
                    sum += power == 0 ? v[xb + idx] : power == 1 ? Math.abs(v[xb + idx]) : Math.pow(Math.abs(v[xb + idx]), power);
                    count++;
                }
            }
            y[out] = finish.apply(sum, count, padded[pi]);
        });
        return List.of(NnArrays.fromDoubles(windows.x().dtype(), windows.outputShape(), y));
    }

    /**
     * Per output position, how many window taps lie within the input extended by its explicit
     * padding (taps beyond it, added by ceil_mode, never count).
     */
    private static int[] paddedCounts(ConvGeometry g) {
        int rank = g.input().length;
        int[][] perAxis = new int[rank][];
        for (int d = 0; d < rank; d++) {
            perAxis[d] = new int[(int) g.output()[d]];
            long limit = g.input()[d] + g.padsBegin()[d] + g.padsEnd()[d];
            for (int o = 0; o < perAxis[d].length; o++) {
                for (long k = 0; k < g.kernel()[d]; k++) {
                    if (o * g.strides()[d] + k * g.dilations()[d] < limit) perAxis[d][o]++;
                }
            }
        }
        int[] counts = new int[g.outputSize()];
        int[] pos = new int[rank];
        for (int i = 0; i < counts.length; i++) {
            int c = 1;
            for (int d = 0; d < rank; d++) c *= perAxis[d][pos[d]];
            counts[i] = c;
            ConvGeometry.increment(pos, g.output());
        }
        return counts;
    }

    /**
     * The windows of a pooling node over the (batch, channel) planes of its input x: their geometry,
     * the input index each tap reads at each output position ({@link ConvGeometry#windowTaps}), and
     * x's values.
     */
    private record Windows(Tensor x, ConvGeometry geometry, int[] taps, double[] values) {
        int planes() { return (int) (x.dim(0) * x.dim(1)); }

        long[] outputShape() {
            long[] spatial = geometry.output();
            long[] s = new long[2 + spatial.length];
            s[0] = x.dim(0);
            s[1] = x.dim(1);
            System.arraycopy(spatial, 0, s, 2, spatial.length);
            return s;
        }

        /** Computes every output element, plane by plane (in parallel when there is enough work). */
        void forEachOutput(WindowOutput body) {
            int s = geometry.inputSize();
            int p = geometry.outputSize();
            NnArrays.forEach(planes(), (long) planes() * p * geometry.kernelSize(), plane -> {
                for (int pi = 0; pi < p; pi++) body.compute(plane * s, pi, plane * p + pi);
            });
        }
    }

    /** Computes output element out: the window at output position pi of the plane whose input starts at xb. */
    private interface WindowOutput {
        void compute(int xb, int pi, int out);
    }

    private static Windows windows(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] xs = x.shape();
        long[] kernel = ctx.intsAttr("kernel_shape");
        if (kernel.length != xs.length - 2) throw ctx.fail("kernel_shape has " + kernel.length + " sizes for " + (xs.length - 2) + " spatial axes");
        ConvGeometry g = ConvGeometry.window(ctx, NnArrays.tail(xs, 2), kernel, ctx.intAttr("ceil_mode") != 0);
        return new Windows(x, g, g.windowTaps(), x.toDoubleArray());
    }

    static List<Tensor> globalAveragePool(KernelContext ctx) {
        return globalPool(ctx, (v, from, n) -> {
            double sum = 0;
            for (int i = from; i < from + n; i++) sum += v[i];
            return sum / n;
        });
    }

    static List<Tensor> globalMaxPool(KernelContext ctx) {
        return globalPool(ctx, (v, from, n) -> {
            double best = Double.NEGATIVE_INFINITY;
            for (int i = from; i < from + n; i++) {
                if (Double.isNaN(v[i])) return Double.NaN;
                best = Math.max(best, v[i]);
            }
            return best;
        });
    }

    static List<Tensor> globalLpPool(KernelContext ctx) {
        long p = ctx.intAttr("p");
        return globalPool(ctx, (v, from, n) -> {
            double sum = 0;
            for (int i = from; i < from + n; i++) sum += Math.pow(Math.abs(v[i]), p);
            return Math.pow(sum, 1.0 / p);
        });
    }

    /** Reduces the n values of one (batch, channel) plane starting at v[from]. */
    private interface PlaneReduction {
        double apply(double[] v, int from, int n);
    }

    private static List<Tensor> globalPool(KernelContext ctx, PlaneReduction reduce) {
        Tensor x = ctx.input(0);
        long[] xs = x.shape();
        int planes = (int) (xs[0] * xs[1]);
        int n = (int) NnArrays.product(xs, 2, xs.length);
        double[] v = x.toDoubleArray();
        double[] y = new double[planes];
        for (int plane = 0; plane < planes; plane++) y[plane] = reduce.apply(v, plane * n, n);
        long[] ys = xs.clone();
        for (int d = 2; d < ys.length; d++) ys[d] = 1;
        return List.of(NnArrays.fromDoubles(x.dtype(), ys, y));
    }
}
