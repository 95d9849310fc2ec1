package dev.kiln.ir.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An einsum equation over operands of known shapes as loops: every label becomes one loop, the output's labels
 * outermost (row-major, so the first {@code outputLoops} loops make the output), summed labels innermost, and each
 * operand advances by its own element stride per loop (the sum of its strides where a label repeats within it,
 * a diagonal; zero where the label is absent or its dim broadcasts). Explicit and implicit outputs, "..." with
 * right-aligned broadcasting.
 *
 * @param sizes       the size of each loop
 * @param strides     for each operand, its element stride per loop
 * @param outputLoops how many of the loops (the first) index the output
 */
public record EinsumLoops(long[] sizes, long[][] strides, int outputLoops) {
    /** Labels standing for ellipsis axes, numbered from this value up (letters are below 128). */
    private static final int ELLIPSIS = 256;

    /** The output's shape. */
    public long[] outputShape() { return Arrays.copyOf(sizes, outputLoops); }

    /**
     * The loops of {@code equation} (spaces ignored) over operands of these shapes.
     *
     * @throws IllegalArgumentException saying what does not fit: operand count, a term's rank, a label, sizes
     */
    public static EinsumLoops of(String equation, List<long[]> shapes) {
        String eq = equation.replace(" ", "");
        int arrow = eq.indexOf("->");
        String[] terms = (arrow < 0 ? eq : eq.substring(0, arrow)).split(",", -1);
        int operands = shapes.size();
        if (terms.length != operands) throw new IllegalArgumentException("equation '" + eq + "' has " + terms.length + " operands but the node has " + operands + " inputs");
        int ellipsisRank = 0;
        for (int i = 0; i < operands; i++) {
            if (terms[i].contains("...")) ellipsisRank = Math.max(ellipsisRank, shapes.get(i).length - (terms[i].length() - 3));
        }
        int[][] operandLabels = new int[operands][];
        Map<Integer, Long> sizes = new LinkedHashMap<>();
        Map<Integer, Integer> uses = new LinkedHashMap<>();
        for (int i = 0; i < operands; i++) {
            long[] shape = shapes.get(i);
            operandLabels[i] = labels(terms[i], shape.length, ellipsisRank);
            for (int d = 0; d < shape.length; d++) {
                int label = operandLabels[i][d];
                uses.merge(label, 1, Integer::sum);
                Long known = sizes.get(label);
                if (known == null || known == 1) {
                    sizes.put(label, shape[d]);
                } else if (shape[d] != known && shape[d] != 1) {
                    throw new IllegalArgumentException("label '" + describe(label) + "' has sizes " + known + " and " + shape[d]);
                }
            }
        }
        int[] output = arrow >= 0 ? labels(eq.substring(arrow + 2), -1, ellipsisRank) : implicitOutput(uses);
        List<Integer> loops = new ArrayList<>();
        for (int label : output) {
            if (!sizes.containsKey(label)) throw new IllegalArgumentException("output label '" + describe(label) + "' is not in any operand");
            if (loops.contains(label)) throw new IllegalArgumentException("output label '" + describe(label) + "' appears twice");
            loops.add(label);
        }
        for (int label : sizes.keySet()) if (!loops.contains(label)) loops.add(label);
        long[] loopSizes = new long[loops.size()];
        for (int l = 0; l < loopSizes.length; l++) loopSizes[l] = sizes.get(loops.get(l));
        long[][] strides = new long[operands][loops.size()];
        for (int i = 0; i < operands; i++) {
            long[] shape = shapes.get(i);
            long stride = 1;
            for (int d = shape.length - 1; d >= 0; d--) {
                if (shape[d] != 1) strides[i][loops.indexOf(operandLabels[i][d])] += stride;
                stride *= shape[d];
            }
        }
        return new EinsumLoops(loopSizes, strides, output.length);
    }

    /**
     * The labels of a term, one per axis; "..." expands to the ellipsis labels, right-aligned so that broadcast
     * axes share labels. rank is -1 for the output term, where "..." takes all.
     */
    private static int[] labels(String term, int rank, int ellipsisRank) {
        int dots = term.indexOf("...");
        int letters = term.length() - (dots < 0 ? 0 : 3);
        int expanded = dots < 0 ? 0 : rank < 0 ? ellipsisRank : rank - letters;
        if (rank >= 0 && (expanded < 0 || letters + expanded != rank)) {
            throw new IllegalArgumentException("term '" + term + "' does not match an input of rank " + rank);
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
            if ((c < 'a' || c > 'z') && (c < 'A' || c > 'Z')) throw new IllegalArgumentException("'" + c + "' is not an einsum label");
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
