package dev.kiln.backends.c;

import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Graph;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** The fixture models end to end: level-3 pipeline, C backend, gcc, native run against the interpreter. */
class NativeModelsTest {
    private static final double TOLERANCE = 1e-4;

    @TempDir
    Path dir;

    @ParameterizedTest
    @FieldSource("dev.kiln.testmodels.Fixtures#MODELS")
    void nativeMatchesInterpreter(String model) throws Exception {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is made on demand: " + Fixtures.makeCommand(model));
        Graph g = OnnxFrontend.load(Fixtures.dir(model).resolve("model.onnx"), (String) null);
        List<Tensor> inputs = g.inputs().size() == 1
                ? List.of(Npy.read(Fixtures.dir(model).resolve("input0.npy")))
                : NativeTesting.randomInputs(g, 11);
        List<Tensor> want = NativeTesting.reference(g, inputs);
        double interpreterMs = medianMillis(() -> NativeTesting.reference(g, inputs));

        long start = System.nanoTime();
        NativeTesting.Compiled c = NativeTesting.optimiseAndCompile(g, dir);
        double compileMs = (System.nanoTime() - start) / 1e6;
        // the library's state is global to the loaded file: one NativeModel at a time
        List<Tensor> got;
        double nativeMs;
        try (NativeModel m = c.load(1)) {
            got = m.run(inputs);
            nativeMs = medianMillis(() -> m.run(inputs));
        }
        List<Tensor> gotTwoThreads;
        double twoThreadsMs;
        try (NativeModel m = c.load(2)) {
            gotTwoThreads = m.run(inputs);
            twoThreadsMs = medianMillis(() -> m.run(inputs));
        }
        double diff = 0;
        for (int k = 0; k < want.size(); k++) diff = Math.max(diff, NativeTesting.relativeDifference(want.get(k), got.get(k)));
        System.out.printf(Locale.ROOT, "%s: native %.2f ms on 1 thread, %.2f ms on 2 threads, interpreter %.2f ms (median of 7), "
                        + "max|diff|/max|y| %.2e, passes + codegen + gcc %.0f ms, arena %.2f MB%n",
                model, nativeMs, twoThreadsMs, interpreterMs, diff, compileMs, c.files().arenaBytes() / 1e6);
        NativeTesting.assertClose(want, got, TOLERANCE);
        for (int k = 0; k < got.size(); k++) {
            assertArrayEquals(got.get(k).toFloatArray(), gotTwoThreads.get(k).toFloatArray(), "output " + k + " on 2 threads differs from 1 thread");
        }
    }

    private static double medianMillis(Supplier<?> run) {
        run.get();
        List<Double> times = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            long t = System.nanoTime();
            run.get();
            times.add((System.nanoTime() - t) / 1e6);
        }
        times.sort(null);
        return times.get(times.size() / 2);
    }
}
