package dev.kiln.runtime.interpreter;

/**
 * Element offsets for reducing a row-major tensor over a set of its axes. Output element o
 * combines the input elements at {@code bases[o] + members[k]} for every k; bases follow the
 * output's row-major order and members the input's, so every reduction walks plain int arrays.
 */
final class ReductionIndex {
    /** Input offset of the first combined element, one per output element, in output order. */
    final int[] bases;
    /** Offsets of the combined elements relative to a base, in input order. */
    final int[] members;

    private ReductionIndex(int[] bases, int[] members) {
        this.bases = bases;
        this.members = members;
    }

    /** Reduces the axes flagged in {@code reduced}; with none flagged every member set is a single element. */
    static ReductionIndex over(long[] shape, boolean[] reduced) {
        int rank = shape.length;
        long[] strides = new long[rank];
        long stride = 1;
        for (int d = rank - 1; d >= 0; d--) {
            strides[d] = stride;
            stride *= shape[d];
        }
        int kept = 0;
        for (boolean r : reduced) if (!r) kept++;
        long[] keptSizes = new long[kept];
        long[] keptStrides = new long[kept];
        long[] reducedSizes = new long[rank - kept];
        long[] reducedStrides = new long[rank - kept];
        for (int d = 0, k = 0, r = 0; d < rank; d++) {
            if (reduced[d]) {
                reducedSizes[r] = shape[d];
                reducedStrides[r++] = strides[d];
            } else {
                keptSizes[k] = shape[d];
                keptStrides[k++] = strides[d];
            }
        }
        return new ReductionIndex(offsets(keptSizes, keptStrides), offsets(reducedSizes, reducedStrides));
    }

    /** Reduces the single axis {@code axis}: members are that axis's elements in order. */
    static ReductionIndex alongAxis(long[] shape, int axis) {
        boolean[] reduced = new boolean[shape.length];
        reduced[axis] = true;
        return over(shape, reduced);
    }

    /** Row-major enumeration of sum(index[d] * strides[d]) over all indices within sizes. */
    private static int[] offsets(long[] sizes, long[] strides) {
        int[] result = {0};
        for (int d = 0; d < sizes.length; d++) {
            int size = (int) sizes[d];
            int stride = (int) strides[d];
            int[] next = new int[result.length * size];
            int n = 0;
            for (int base : result) {
                for (int j = 0; j < size; j++) next[n++] = base + j * stride;
            }
            result = next;
        }
        return result;
    }
}
