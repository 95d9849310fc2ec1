package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.ir.ops.EinsumLoops;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Einsum for any equation, as the loops of {@link EinsumLoops}: explicit or implicit output, ellipsis
 * broadcasting, and labels repeated within one operand (diagonals).
 */
final class EinsumKernel {
    private EinsumKernel() {}

    static List<Tensor> einsum(KernelContext ctx) {
        int operands = ctx.inputCount();
        List<long[]> shapes = new ArrayList<>();
        for (int i = 0; i < operands; i++) shapes.add(ctx.input(i).shape());
        EinsumLoops plan;
        try {
            plan = EinsumLoops.of(ctx.stringAttr("equation"), shapes);
        } catch (IllegalArgumentException e) {
            throw ctx.fail(e.getMessage());
        }
        long[] loopSizes = plan.sizes();
        int[][] strides = new int[operands][];
        for (int i = 0; i < operands; i++) strides[i] = Arrays.stream(plan.strides()[i]).mapToInt(Math::toIntExact).toArray();
        long[] outShape = plan.outputShape();
        int summed = (int) NnArrays.product(loopSizes, plan.outputLoops(), loopSizes.length);
        DType t = ctx.outputDType(0);
        if (t.isInteger()) {
            long[][] values = new long[operands][];
            for (int i = 0; i < operands; i++) values[i] = ctx.input(i).toLongArray();
            long[] y = new long[(int) NnArrays.product(outShape)];
            iterate(loopSizes, strides, summed, (out, offsets) -> {
                long product = 1;
                for (int i = 0; i < offsets.length; i++) product *= values[i][offsets[i]];
                y[out] += product;
            });
            return List.of(NnArrays.fromLongs(t, outShape, y));
        }
        double[][] values = new double[operands][];
        for (int i = 0; i < operands; i++) values[i] = ctx.input(i).toDoubleArray();
        double[] y = new double[(int) NnArrays.product(outShape)];
        iterate(loopSizes, strides, summed, (out, offsets) -> {
            double product = 1;
            for (int i = 0; i < offsets.length; i++) product *= values[i][offsets[i]];
            y[out] += product;
        });
        return List.of(NnArrays.fromDoubles(t, outShape, y));
    }

    /** Receives one term of the sum: the output element it adds to and each operand's element offset. */
    private interface Term {
        void add(int out, int[] offsets);
    }

    /** Runs every combination of loop indices in row-major order; the last `summed` combinations share an output element. */
    private static void iterate(long[] sizes, int[][] strides, int summed, Term term) {
        long total = NnArrays.product(sizes);
        int[] index = new int[sizes.length];
        int[] offsets = new int[strides.length];
        for (long n = 0; n < total; n++) {
            term.add((int) (n / summed), offsets);
            for (int l = sizes.length - 1; l >= 0; l--) {
                for (int i = 0; i < offsets.length; i++) offsets[i] += strides[i][l];
                if (++index[l] < sizes[l]) break;
                for (int i = 0; i < offsets.length; i++) offsets[i] -= strides[i][l] * (int) sizes[l];
                index[l] = 0;
            }
        }
    }
}
