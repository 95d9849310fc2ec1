package dev.kiln.runtime.interpreter;

import java.util.stream.IntStream;

/**
 * Single-precision matrix products over float[]: the fast path of Conv, ConvTranspose, MatMul
 * and Gemm. Cache-blocked i-k-j loops whose innermost loop runs along a row of B and C, so that
 * the JIT vectorises it; tiles of C are spread over the common fork-join pool.
 */
final class GemmF32 {
    /** Columns of C and B one inner pass covers (a row slice of C stays in L1). */
    private static final int COLUMN_BLOCK = 256;
    /** Rows of B one pass streams (a KB x NB panel of B stays in L2). */
    private static final int DEPTH_BLOCK = 128;
    /** Rows and columns of C one parallel task computes. */
    private static final int TASK_ROWS = 16;
    private static final int TASK_COLUMNS = 4 * COLUMN_BLOCK;
    /** Below this many multiply-adds, threads cost more than they save. */
    private static final long PARALLEL_THRESHOLD = 1 << 18;

    private GemmF32() {}

    /**
     * C[m x n] += A[m x k] * B[k x n], all row-major: element (i, j) of X is at
     * {@code xOff + i * ldx + j}.
     */
    static void multiplyAdd(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                            float[] c, int cOff, int ldc) {
        if (m == 0 || n == 0 || k == 0) return;
        int rowTasks = (m + TASK_ROWS - 1) / TASK_ROWS;
        int columnTasks = (n + TASK_COLUMNS - 1) / TASK_COLUMNS;
        int tasks = rowTasks * columnTasks;
        if (tasks == 1 || (long) m * n * k < PARALLEL_THRESHOLD) {
            tile(0, m, 0, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
            return;
        }
        IntStream.range(0, tasks).parallel().forEach(t -> {
            int i0 = (t / columnTasks) * TASK_ROWS;
            int j0 = (t % columnTasks) * TASK_COLUMNS;
            tile(i0, Math.min(m, i0 + TASK_ROWS), j0, Math.min(n, j0 + TASK_COLUMNS), k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        });
    }

    /** Rows [i0, i1) and columns [j0, j1) of C. */
    private static void tile(int i0, int i1, int j0, int j1, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float[] c, int cOff, int ldc) {
        for (int jb = j0; jb < j1; jb += COLUMN_BLOCK) {
            int width = Math.min(COLUMN_BLOCK, j1 - jb);
            for (int kb = 0; kb < k; kb += DEPTH_BLOCK) {
                int kEnd = Math.min(k, kb + DEPTH_BLOCK);
                for (int i = i0; i < i1; i++) {
                    int ci = cOff + i * ldc + jb;
                    int ai = aOff + i * lda;
                    int p = kb;
                    // Four rows of B per pass: one load and store of C for four multiply-adds.
                    for (; p + 4 <= kEnd; p += 4) {
                        float a0 = a[ai + p];
                        float a1 = a[ai + p + 1];
                        float a2 = a[ai + p + 2];
                        float a3 = a[ai + p + 3];
                        int b0 = bOff + p * ldb + jb;
                        int b1 = b0 + ldb;
                        int b2 = b1 + ldb;
                        int b3 = b2 + ldb;
                        for (int j = 0; j < width; j++) {
                            c[ci + j] += a0 * b[b0 + j] + a1 * b[b1 + j] + a2 * b[b2 + j] + a3 * b[b3 + j];
                        }
                    }
                    for (; p < kEnd; p++) {
                        float a0 = a[ai + p];
                        int b0 = bOff + p * ldb + jb;
                        for (int j = 0; j < width; j++) c[ci + j] += a0 * b[b0 + j];
                    }
                }
            }
        }
    }

    /** The transpose of the rows x cols matrix at src[off..]: a cols x rows matrix. */
    static float[] transpose(float[] src, int off, int rows, int cols) {
        float[] t = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) t[j * rows + i] = src[off + i * cols + j];
        }
        return t;
    }
}
