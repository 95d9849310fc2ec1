package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Einsum for any equation: explicit or implicit output, ellipsis broadcasting, and labels
 * repeated within one operand (diagonals). Every label becomes one loop; output labels run
 * outermost, summed labels innermost, and each operand advances by its own stride per label
 * (the sum of its strides where a label repeats, zero where it is absent or broadcast).
 */
final class EinsumKernel {
    /** Labels standing for ellipsis axes, numbered from this value up (letters are below 128). */
    private static final int ELLIPSIS = 256;

    private EinsumKernel() {}

    static List<Tensor> einsum(KernelContext ctx) {
        String equation = ctx.stringAttr("equation").replace(" ", "");
        int arrow = equation.indexOf("->");
        String[] terms = (arrow < 0 ? equation : equation.substring(0, arrow)).split(",", -1);
        int operands = ctx.inputCount();
        if (terms.length != operands) throw ctx.fail("equation '" + equation + "' has " + terms.length + " operands but the node has " + operands + " inputs");
        int ellipsisRank = 0;
        for (int i = 0; i < operands; i++) {
            if (terms[i].contains("...")) ellipsisRank = Math.max(ellipsisRank, ctx.input(i).rank() - (terms[i].length() - 3));
        }
        int[][] operandLabels = new int[operands][];
        Map<Integer, Long> sizes = new LinkedHashMap<>();
        Map<Integer, Integer> uses = new LinkedHashMap<>();
        for (int i = 0; i < operands; i++) {
            long[] shape = ctx.input(i).shape();
            operandLabels[i] = labels(ctx, terms[i], shape.length, ellipsisRank);
            for (int d = 0; d < shape.length; d++) {
                int label = operandLabels[i][d];
                uses.merge(label, 1, Integer::sum);
                Long known = sizes.get(label);
                if (known == null || known == 1) {
                    sizes.put(label, shape[d]);
                } else if (shape[d] != known && shape[d] != 1) {
                    throw ctx.fail("label '" + describe(label) + "' has sizes " + known + " and " + shape[d]);
                }
            }
        }
        int[] output = arrow >= 0 ? labels(ctx, equation.substring(arrow + 2), -1, ellipsisRank) : implicitOutput(uses);
        List<Integer> loops = new ArrayList<>();
        for (int label : output) {
            if (!sizes.containsKey(label)) throw ctx.fail("output label '" + describe(label) + "' is not in any operand");
            if (loops.contains(label)) throw ctx.fail("output label '" + describe(label) + "' appears twice");
            loops.add(label);
        }
        for (int label : sizes.keySet()) if (!loops.contains(label)) loops.add(label);
        long[] loopSizes = new long[loops.size()];
        for (int l = 0; l < loopSizes.length; l++) loopSizes[l] = sizes.get(loops.get(l));
        int[][] strides = new int[operands][loops.size()];
        for (int i = 0; i < operands; i++) {
            long[] shape = ctx.input(i).shape();
            int stride = 1;
            for (int d = shape.length - 1; d >= 0; d--) {
                if (shape[d] != 1) strides[i][loops.indexOf(operandLabels[i][d])] += stride;
                stride *= (int) shape[d];
            }
        }
        long[] outShape = Arrays.copyOf(loopSizes, output.length);
        int summed = (int) NnArrays.product(loopSizes, output.length, loopSizes.length);
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

    /**
     * The labels of a term, one per axis; "..." expands to the ellipsis labels, right-aligned
     * so that broadcast axes share labels. rank is -1 for the output term, where "..." takes all.
     */
    private static int[] labels(KernelContext ctx, String term, int rank, int ellipsisRank) {
        int dots = term.indexOf("...");
        int letters = term.length() - (dots < 0 ? 0 : 3);
        int expanded = dots < 0 ? 0 : rank < 0 ? ellipsisRank : rank - letters;
        if (rank >= 0 && (expanded < 0 || letters + expanded != rank)) {
            throw ctx.fail("term '" + term + "' does not match an input of rank " + rank);
        }
        int[] r = new int[letters + expanded];
        int d = 0;
        for (int p = 0; p < term.length(); p++) {
            if (p == dots) {
                for (int e = 0; e < expanded; e++) r[d++] = ELLIPSIS + ellipsisRank - expanded + e;
                p += 2;
                continue;
            }
            char c = term.charAt(p);
            if ((c < 'a' || c > 'z') && (c < 'A' || c > 'Z')) throw ctx.fail("'" + c + "' is not an einsum label");
            r[d++] = c;
        }
        return r;
    }

    /** Ellipsis axes first, then the letters used exactly once, in ASCII order. */
    private static int[] implicitOutput(Map<Integer, Integer> uses) {
        int[] ellipsis = uses.keySet().stream().mapToInt(Integer::intValue).filter(l -> l >= ELLIPSIS).sorted().toArray();
        int[] once = uses.entrySet().stream().filter(e -> e.getKey() < ELLIPSIS && e.getValue() == 1)
                .mapToInt(Map.Entry::getKey).sorted().toArray();
        int[] r = Arrays.copyOf(ellipsis, ellipsis.length + once.length);
        System.arraycopy(once, 0, r, ellipsis.length, once.length);
        return r;
    }

    private static String describe(int label) {
        return label >= ELLIPSIS ? "..." : String.valueOf((char) label);
    }
}
