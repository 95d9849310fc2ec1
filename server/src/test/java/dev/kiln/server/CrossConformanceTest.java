package dev.kiln.server;

import dev.kiln.backends.Backend;
import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.backends.Toolchain;
import dev.kiln.backends.c.CCodeGenerator;
import dev.kiln.backends.c.CTestHarness;
import dev.kiln.frontend.ImportException;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A sample of the ONNX node suite through the C backend for an ARM64 (rasp4b) and an ARMv7 (rasp3b) target:
 * each case's level-3 graph for the target, its program built with the target's cross compiler into a test
 * program ({@link CTestHarness}) and run under qemu-user, its outputs held to the suite's own with the suite's
 * tolerances. The sample is every N-th case of the node suite ({@code -Dcross.sample=N}, 20 by default; 1 runs
 * them all); cases the interpreter does not pass and cases the backend does not take are not counted, and the
 * backend's skip list applies as natively. Writes cross-conformance-&lt;target&gt;.txt.
 */
class CrossConformanceTest {
    @ParameterizedTest
    @ValueSource(strings = {"rasp4b", "rasp3b"})
    void aSampleOfTheNodeSuiteRunsUnderQemu(String device) throws Exception {
        Path suite = TestPaths.shared().resolve("testdata/onnx-backend/node");
        Assumptions.assumeTrue(Files.isDirectory(suite), "../shared/testdata/onnx-backend/node is absent");
        Target target = Targets.device(device);
        Toolchain toolchain = target.toolchain().orElseThrow();
        Assumptions.assumeTrue(onPath(toolchain.compiler()) && toolchain.emulator().map(CrossConformanceTest::onPath).orElse(false),
                device + " needs " + toolchain.compiler() + " and qemu-user");
        int sample = Integer.getInteger("cross.sample", 20);
        List<Path> all;
        try (Stream<Path> s = Files.list(suite)) {
            all = s.filter(p -> Files.isRegularFile(p.resolve("model.onnx"))).sorted().toList();
        }
        List<Path> cases = IntStream.range(0, all.size()).filter(i -> i % sample == 0).mapToObj(all::get).toList();
        Map<String, String> skipList = NativeConformanceTest.loadSkipList();
        Backend backend = Backend.forTarget(target);
        Path work = Files.createTempDirectory("kiln-cross-conformance-");
        ExecutorService pool = Executors.newFixedThreadPool(Runtime.getRuntime().availableProcessors());
        List<String> lines = new ArrayList<>();
        List<String> failing = new ArrayList<>();
        int taken = 0;
        int passed = 0;
        try {
            List<Future<String[]>> results = new ArrayList<>();
            for (Path c : cases) results.add(pool.submit(() -> runCase(c, target, backend, work)));
            for (int i = 0; i < cases.size(); i++) {
                String name = cases.get(i).getFileName().toString();
                String[] r = results.get(i).get(10, TimeUnit.MINUTES);
                lines.add(name + " " + r[0] + (r[1].isEmpty() ? "" : " -- " + r[1]));
                if (r[0].equals("NOT_TAKEN")) continue;
                taken++;
                if (r[0].equals("PASSED")) passed++;
                else if (!skipList.containsKey(name)) failing.add(name + ": " + r[1]);
            }
        } finally {
            pool.shutdownNow();
            deleteTree(work);
        }
        String summary = String.format(Locale.ROOT, "%s: every %d-th node case: %d cases, %d taken, %d passed under %s",
                device, sample, cases.size(), taken, passed, toolchain.emulator().orElse("the host"));
        Path report = Path.of(System.getProperty("kiln.build", "target"), "cross-conformance-" + device + ".txt");
        Files.createDirectories(report.toAbsolutePath().getParent());
        Files.writeString(report, summary + "\n\n" + String.join("\n", lines) + "\n");
        System.out.println(summary + " (report: " + report.toAbsolutePath() + ")");
        assertTrue(taken > 0, "no case of the sample was taken");
        assertTrue(failing.isEmpty(), failing.size() + " cases differ on " + device + ":\n  " + String.join("\n  ", failing));
    }

    /** {outcome, detail}: PASSED, WRONG_OUTPUT, FAILED, or NOT_TAKEN with its reason. */
    private static String[] runCase(Path dir, Target target, Backend backend, Path work) {
        String name = dir.getFileName().toString();
        Graph g;
        List<Tensor> want;
        Map<String, Tensor> inputs;
        try {
            g = OnnxFrontend.load(dir.resolve("model.onnx"), (String) null);
            inputs = NativeConformanceTest.inputs(g, dir.resolve("test_data_set_0"));
            want = NativeConformanceTest.expected(dir.resolve("test_data_set_0"));
            if (NativeConformanceTest.compare(want, new ArrayList<>(new Interpreter(g).run(inputs).values())) != null) {
                return new String[] {"NOT_TAKEN", "the interpreter differs from the suite"};
            }
        } catch (ImportException e) {
            return new String[] {"NOT_TAKEN", "import: " + e.failureClass()};
        } catch (IOException | RuntimeException e) {
            return new String[] {"NOT_TAKEN", "no reference: " + e.getMessage()};
        }
        List<Tensor> ordered = new ArrayList<>();
        for (Value in : g.inputs()) ordered.add(inputs.get(in.name()));
        CCodeGenerator.CProgram program;
        try {
            PassOptions options = PassOptions.defaults().withLayout(backend.preferredLayout(target));
            PassContext ctx = PassContext.builder().options(options).evaluator(new InterpreterEvaluator()).build();
            Graph optimised = Pipelines.forLevel(3, options).run(g, ctx);
            if (!backend.unsupported(optimised).isEmpty()) return new String[] {"NOT_TAKEN", "refused by the backend"};
            program = CCodeGenerator.generate(optimised, ctx.result(MemoryPlan.class), target.vectorRegisters());
        } catch (UnsupportedOperationException e) {
            return new String[] {"NOT_TAKEN", e.getMessage()};
        } catch (RuntimeException e) {
            return new String[] {"FAILED", "passes or code generation: " + e};
        }
        try {
            List<Tensor> got = CTestHarness.build(program, target, work.resolve(name)).run(ordered).outputs();
            String problem = NativeConformanceTest.compare(want, got);
            return problem == null ? new String[] {"PASSED", ""} : new String[] {"WRONG_OUTPUT", problem};
        } catch (RuntimeException e) {
            return new String[] {"FAILED", e.getMessage() == null ? e.toString() : e.getMessage().lines().limit(4).reduce((a, b) -> a + " " + b).orElse("")};
        }
    }

    private static boolean onPath(String program) {
        if (program.contains("/")) return Files.isExecutable(Path.of(program));
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) return true;
        }
        return false;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
