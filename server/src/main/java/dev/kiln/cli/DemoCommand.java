package dev.kiln.cli;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** {@code kiln demo}: a bundled model end to end, saying what each step did. */
final class DemoCommand {
    static final String MODEL = "squeezenet1_1";

    private DemoCommand() {}

    static int run(List<String> argv, PrintStream out) throws IOException {
        Args a = Args.parse(argv, Set.of("output-dir"), Set.of("verbose"));
        Path dir = home().resolve("testmodels").resolve(MODEL);
        Path model = dir.resolve("model.onnx");
        if (!Files.isRegularFile(model)) throw new UsageException("the bundled model " + model + " is missing; run kiln from a Kiln checkout");
        Path outDir = a.value("output-dir") != null ? Path.of(a.value("output-dir")) : Files.createTempDirectory("kiln-demo");

        long t0 = System.nanoTime();
        Graph g = ModelFiles.load(model, "{\"input0\":[1,3,224,224]}");
        long importNs = System.nanoTime() - t0;
        Map<String, Integer> ops = new TreeMap<>();
        for (Node n : g.nodes()) ops.merge(n.op(), 1, Integer::sum);
        long weightBytes = g.constants().values().stream().mapToLong(c -> c.data().remaining()).sum();
        out.printf(Locale.ROOT, "1. Imported %s (%s, ONNX from PyTorch) in %.0f ms: %d nodes %s, %.1f MB of weights.%n",
                MODEL, home().relativize(model), importNs / 1e6, g.nodes().size(), ops, weightBytes / 1e6);

        Tensor input = Npy.read(dir.resolve("input0.npy"));
        Interpreter interpreter = new Interpreter(g);
        t0 = System.nanoTime();
        Map<String, Tensor> outputs = interpreter.run(Map.of("input0", input));
        long runNs = System.nanoTime() - t0;
        Tensor logits = outputs.values().iterator().next();
        out.printf(Locale.ROOT, "2. Ran it with the reference interpreter on input0.npy %s in %.0f ms.%n",
                java.util.Arrays.toString(input.shape()), runNs / 1e6);

        Tensor golden = Npy.read(dir.resolve("output0.npy"));
        float[] y = logits.toFloatArray();
        float[] ref = golden.toFloatArray();
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < y.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(y[i] - ref[i]));
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        out.printf(Locale.ROOT, "3. Compared with PyTorch's own output: max |difference| %.2e, relative to max |output| %.2e -> %s.%n",
                maxDiff, maxDiff / maxRef, maxDiff / maxRef <= 1e-4 ? "the same numbers" : "MISMATCH");
        out.printf("   Top-5 classes: %s%n", top5(y));

        RunCommand.writeOutputs(outDir, outputs);
        out.printf("4. Wrote %s. The same with the CLI:%n   ./kiln run %s --input input0=%s --output-dir %s%n",
                outDir.resolve("output0.npy"), home().relativize(model), home().relativize(dir.resolve("input0.npy")), outDir);
        return maxDiff / maxRef <= 1e-4 ? 0 : 1;
    }

    private static String top5(float[] y) {
        StringBuilder b = new StringBuilder();
        boolean[] taken = new boolean[y.length];
        for (int k = 0; k < 5 && k < y.length; k++) {
            int best = -1;
            for (int i = 0; i < y.length; i++) if (!taken[i] && (best < 0 || y[i] > y[best])) best = i;
            taken[best] = true;
            b.append(k > 0 ? ", " : "").append(String.format(Locale.ROOT, "#%d (%.3f)", best, y[best]));
        }
        return b.toString();
    }

    /** The checkout the launcher runs from (kiln.home), else the working directory. */
    static Path home() {
        return Path.of(System.getProperty("kiln.home", "")).toAbsolutePath();
    }
}
