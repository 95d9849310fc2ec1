package dev.kiln.passes;

import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Value;
import dev.kiln.ir.text.IrParser;
import dev.kiln.ir.text.IrPrinter;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import dev.kiln.testmodels.Fixtures;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What pass tests share: IR text in and out, contexts with the interpreter, and numeric equivalence checks. */
final class PassTesting {
    private PassTesting() {}

    static Graph parse(String irText) { return IrParser.parse(irText); }

    static String print(Graph g) { return IrPrinter.print(g); }

    /** A context that verifies after each pass and folds with the reference interpreter. */
    static PassContext context() { return context(PassOptions.defaults()); }

    static PassContext context(PassOptions options) {
        return PassContext.builder().options(options).evaluator(new InterpreterEvaluator()).build();
    }

    /** Applies one pass and checks the result's text. */
    static Graph assertRewrites(Pass pass, String before, String after) {
        Graph out = pass.apply(parse(before), context());
        assertEquals(after, print(out));
        return out;
    }

    /** A fixture model imported with its committed input shape. */
    static Graph fixture(String model) {
        return OnnxFrontend.load(Fixtures.dir(model).resolve("model.onnx"), (String) null);
    }

    /** Random inputs for a graph: floats in [-1, 1), integers in [0, 4), bools; symbolic dims become 2. */
    static Map<String, Tensor> randomInputs(Graph g, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        for (Value in : g.inputs()) {
            long[] shape = new long[in.type().rank()];
            for (int d = 0; d < shape.length; d++) {
                Dim dim = in.type().shape().dim(d);
                shape[d] = dim.isStatic() ? dim.size() : 2;
            }
            Tensor t = Tensor.allocate(in.type().dtype(), shape);
            DType dt = in.type().dtype();
            for (int i = 0; i < t.size(); i++) {
                if (dt.isFloatingPoint()) t.setDouble(i, r.nextDouble() * 2 - 1);
                else if (dt == DType.BOOL) t.setBoolean(i, r.nextBoolean());
                else t.setLong(i, r.nextInt(4));
            }
            inputs.put(in.name(), t);
        }
        return inputs;
    }

    /**
     * Runs both graphs on the same random inputs and checks every output agrees: integers and bools
     * exactly, floats within {@code tolerance} relative to the largest magnitude of the reference.
     */
    static void assertSameOutputs(Graph before, Graph after, double tolerance) {
        Map<String, Tensor> inputs = randomInputs(before, 42);
        List<Tensor> want = new ArrayList<>(new Interpreter(before).run(inputs).values());
        List<Tensor> got = new ArrayList<>(new Interpreter(after).run(inputs).values());
        assertEquals(want.size(), got.size(), "output count");
        for (int k = 0; k < want.size(); k++) {
            Tensor w = want.get(k);
            Tensor a = got.get(k);
            assertEquals(w.dtype(), a.dtype(), "dtype of output " + k);
            assertArrayEquals(w.shape(), a.shape(), "shape of output " + k);
            assertTrue(relativeDifference(w, a) <= tolerance, "output " + k + " differs by " + relativeDifference(w, a));
        }
    }

    /** max |a - w| / max |w| (exact comparison for integer types: 0 or infinity). */
    static double relativeDifference(Tensor want, Tensor got) {
        if (!want.dtype().isFloatingPoint()) {
            for (int i = 0; i < want.size(); i++) if (want.getLong(i) != got.getLong(i)) return Double.POSITIVE_INFINITY;
            return 0;
        }
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < want.size(); i++) {
            double w = want.getDouble(i);
            double a = got.getDouble(i);
            if (Double.isNaN(w) != Double.isNaN(a)) return Double.POSITIVE_INFINITY;
            if (Double.isNaN(w) || w == a) continue;
            maxDiff = Math.max(maxDiff, Math.abs(a - w));
            maxRef = Math.max(maxRef, Math.abs(w));
        }
        return maxDiff == 0 ? 0 : maxDiff / Math.max(maxRef, Double.MIN_NORMAL);
    }
}
