package dev.kiln.backends.c;

import java.nio.FloatBuffer;

/**
 * How blocked.h's direct convolution covers one convolution: tiles of {@code j} output channel blocks x
 * {@code t} output positions of a row held in vector registers, input channel blocks visited {@code chunk}
 * at a time, {@code tilesPerItem} tiles per work item of the thread pool (fewer when the pool has more
 * threads than items). The tile is the one of least estimated time on one thread and on two together, among
 * those whose accumulators, filter vectors and a broadcast fit the register file: tiles are what the threads
 * share, so a layer of few tiles takes slightly smaller ones that two threads split evenly.
 *
 * @param inBlock input channels per block: the activation block, or 1 for an NCHW input
 * @param stride  the horizontal stride when the tile kernel takes it as a constant (1 or 2), else 0
 */
record ConvTiling(int inBlock, int j, int t, int stride, long chunk, long tilesPerItem) {
    /** The most output blocks and positions of a tile (blocked.h's KILN_CONVB_MAX_J and _T). */
    static final int MAX_J = 8, MAX_T = 16;
    /** Filter bytes of one chunk of input channel blocks: a share of a core's L2 cache. */
    private static final long CHUNK_BYTES = 192 * 1024;
    /** Output positions a work item covers at least, so that its chunk of filter is reused. */
    private static final long ITEM_POSITIONS = 32;
    /**
     * A group's filter bytes past which a work item covers the whole plane: a smaller filter stays in L2
     * for the next item of the group; a larger one would be read again from memory.
     */
    private static final long CACHED_GROUP_FILTER_BYTES = 512 * 1024;

    /**
     * The tiling of a convolution with {@code outBlocks} output blocks of {@code block} channels, rows of
     * {@code outRows} rows of {@code outWidth} positions, {@code inBlocks} input channel blocks of
     * {@code inBlock} and {@code taps} kernel taps, for a target with {@code registers} vector registers.
     */
    static ConvTiling choose(int registers, int block, int inBlock, long inBlocks, long outBlocks, long outRows, long outWidth, long taps,
                             long strideW) {
        int bestJ = 1, bestT = 1;
        double best = Double.MAX_VALUE;
        for (int j = 1; j <= Math.min(MAX_J, outBlocks); j++) {
            for (int t = 1; t <= Math.min(MAX_T, outWidth); t++) {
                if (j * t + j + 1 > registers) continue;
                long tiles = (outBlocks + j - 1) / j * outRows * ((outWidth + t - 1) / t);
                double cost = cost(j, t, outBlocks, outWidth) * (1 + (double) ((tiles + 1) / 2) / tiles);
                if (cost < best - 1e-9) {
                    best = cost;
                    bestJ = j;
                    bestT = t;
                }
            }
        }
        long filterBytesPerInBlock = (long) bestJ * taps * inBlock * block * 4;
        long chunk = Math.max(1, Math.min(inBlocks, CHUNK_BYTES / filterBytesPerInBlock));
        long tilesPerItem = Math.max(1, (ITEM_POSITIONS + bestT - 1) / bestT);
        if (filterBytesPerInBlock * inBlocks > CACHED_GROUP_FILTER_BYTES) tilesPerItem = outRows * ((outWidth + bestT - 1) / bestT);
        return new ConvTiling(inBlock, bestJ, bestT, strideW == 1 || strideW == 2 ? (int) strideW : 0, chunk, tilesPerItem);
    }

    /**
     * Estimated cycles per input channel of covering the output with full and remainder tiles: each tile's
     * multiply-adds over its efficiency, which falls when it has too few accumulators to hide the
     * multiply-add latency or loads too much per multiply-add.
     */
    private static double cost(int j, int t, long outBlocks, long outWidth) {
        double cost = 0;
        long[] groups = {outBlocks / j, outBlocks % j == 0 ? 0 : 1};
        int[] groupBlocks = {j, (int) (outBlocks % j)};
        long[] tiles = {outWidth / t, outWidth % t == 0 ? 0 : 1};
        int[] tileWidths = {t, (int) (outWidth % t)};
        for (int g = 0; g < 2; g++) {
            for (int w = 0; w < 2; w++) {
                if (groups[g] == 0 || tiles[w] == 0) continue;
                int jj = groupBlocks[g];
                int tt = tileWidths[w];
                cost += groups[g] * tiles[w] * (double) (jj * tt) / efficiency(jj, tt);
            }
        }
        return cost;
    }

    private static double efficiency(int j, int t) {
        double accumulators = Math.min(1.0, j * t / 20.0);
        double loadsPerMultiplyAdd = (double) (j + t) / (j * t);
        return accumulators * Math.min(1.0, 0.6 / loadsPerMultiplyAdd);
    }

    /** The C name of the tile kernel for {@code j} blocks and {@code t} positions (blocked.h's KILN_CONVB_TILE). */
    String tileName(int jBlocks, int positions) {
        return "kiln_convb_" + inBlock + "_" + jBlocks + "_" + positions + "_" + stride;
    }

    /** The KILN_CONVB_TILE line that defines {@link #tileName}. */
    String tileDefinition(int jBlocks, int positions) {
        return "KILN_CONVB_TILE(" + inBlock + ", " + jBlocks + ", " + positions + ", " + stride + ")";
    }

    /**
     * The C initializer of kiln_convb_args' tiles[2][2] for {@code outBlocks} output blocks and rows of
     * {@code positions}: j blocks or the last group's fewer, t positions or a row's last fewer; each tile defined
     * as a global of the emission.
     */
    String tileTable(Emission e, long outBlocks, long positions) {
        int[] groupBlocks = {j, outBlocks % j == 0 ? j : (int) (outBlocks % j)};
        int[] widths = {t, positions % t == 0 ? t : (int) (positions % t)};
        StringBuilder tiles = new StringBuilder();
        for (int r = 0; r < 2; r++) {
            tiles.append(r == 0 ? "{" : ", {");
            for (int q = 0; q < 2; q++) {
                e.global(tileDefinition(groupBlocks[r], widths[q]));
                tiles.append(q == 0 ? "" : ", ").append(tileName(groupBlocks[r], widths[q]));
            }
            tiles.append('}');
        }
        return tiles.toString();
    }

    /**
     * Writes a plain OIHW filter of {@code outBlocks * block} output channels (rows past {@code m} zero)
     * and {@code inBlocks * inBlock} input channels (past {@code c} zero) as the tile kernel reads it: output
     * blocks in groups of j, each group's blocks interleaved per (input block, tap, input channel).
     */
    void pack(FloatBuffer plain, long m, long c, long taps, int block, long outBlocks, long inBlocks, FloatBuffer dst) {
        int base = dst.position();
        for (long o0 = 0; o0 < outBlocks; o0 += j) {
            long group = Math.min(j, outBlocks - o0);
            long groupBase = o0 * inBlocks * taps * inBlock * block;
            for (long ib = 0; ib < inBlocks; ib++) {
                for (long tap = 0; tap < taps; tap++) {
                    for (int ic = 0; ic < inBlock; ic++) {
                        for (long jj = 0; jj < group; jj++) {
                            for (int lane = 0; lane < block; lane++) {
                                long o = (o0 + jj) * block + lane;
                                long i = ib * inBlock + ic;
                                float v = o < m && i < c ? plain.get((int) ((o * c + i) * taps + tap)) : 0f;
                                long at = groupBase + (((ib * taps + tap) * inBlock + ic) * group + jj) * block + lane;
                                dst.put(base + (int) at, v);
                            }
                        }
                    }
                }
            }
        }
    }
}
