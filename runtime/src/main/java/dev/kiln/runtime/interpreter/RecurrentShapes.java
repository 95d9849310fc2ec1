package dev.kiln.runtime.interpreter;

import dev.kiln.runtime.Tensor;

import java.util.Arrays;

/**
 * The sizes of a recurrent node (sequence, batch, input, hidden, directions) checked against
 * its inputs, and the flat positions of X, the states and Y in either layout.
 */
final class RecurrentShapes {
    final int seq;
    final int batch;
    final int input;
    final int hidden;
    final int directions;
    private final boolean batchFirst;

    RecurrentShapes(KernelContext ctx, int gates) {
        Tensor x = ctx.input(0);
        Tensor w = ctx.input(1);
        Tensor r = ctx.input(2);
        batchFirst = ctx.intAttr("layout") == 1;
        seq = (int) x.dim(batchFirst ? 1 : 0);
        batch = (int) x.dim(batchFirst ? 0 : 1);
        input = (int) x.dim(2);
        directions = ctx.stringAttr("direction").equals("bidirectional") ? 2 : 1;
        hidden = (int) (ctx.hasAttr("hidden_size") ? ctx.intAttr("hidden_size") : r.dim(2));
        expect(ctx, w, "W", directions, (long) gates * hidden, input);
        expect(ctx, r, "R", directions, (long) gates * hidden, hidden);
        for (int i : new int[] {5, 6}) {
            Tensor state = ctx.optionalInput(i);
            if (state != null) expect(ctx, state, i == 5 ? "initial_h" : "initial_c", stateShape());
        }
    }

    private static void expect(KernelContext ctx, Tensor t, String name, long... shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw ctx.fail(name + " has shape " + Arrays.toString(t.shape()) + "; expected " + Arrays.toString(shape));
        }
    }

    /** Index of X[t, b, i] (X[b, t, i] in layout 1). */
    int input(int t, int b, int i) {
        return ((batchFirst ? b * seq + t : t * batch + b) * input) + i;
    }

    /** Index of a state (initial_h, Y_h, ...) element for direction d, batch entry b. */
    int state(int d, int b, int j) {
        return (batchFirst ? b * directions + d : d * batch + b) * hidden + j;
    }

    /** Index of Y[t, d, b, j] (Y[b, t, d, j] in layout 1). */
    int output(int t, int d, int b, int j) {
        return (batchFirst ? (b * seq + t) * directions + d : (t * directions + d) * batch + b) * hidden + j;
    }

    long[] outputShape() {
        return batchFirst ? new long[] {batch, seq, directions, hidden} : new long[] {seq, directions, batch, hidden};
    }

    long[] stateShape() {
        return batchFirst ? new long[] {batch, directions, hidden} : new long[] {directions, batch, hidden};
    }
}
