package dev.kiln.server;

import ai.onnx.proto.OnnxMl;
import dev.kiln.backends.Backend;
import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.frontend.ImportException;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ONNX backend test suites (single nodes, and the models of pytorch-converted, pytorch-operator and simple)
 * through the C backend for this machine, compiled the way users compile
 * ({@link Compiler#compile}: level-3 pipeline, backend, gcc, artifact) and run in-process through
 * {@link Model}. Every case the backend takes (no unsupported node, static-shaped inputs) must give the
 * suite's expected outputs with the suite's tolerances (those the reference interpreter meets), on 1 and 2
 * threads bitwise alike, unless the backend's skip list names it with a reason; a listed case that passes or is
 * not taken any more fails the skip-list test, so the list stays honest. Cases are compiled in parallel, one per
 * core. {@code -Dconformance.sample=N} runs every N-th case only (3 unless given: the build's subset; 1 runs them
 * all), {@code -Dconformance.filter=REGEX} the cases whose name it finds. Writes native-conformance-report.txt with the counts and every case's outcome.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NativeConformanceTest {
    /** The backend's skip list: one case per line, its name then the reason it differs. */
    static final String SKIP_LIST = "/dev/kiln/backends/c/conformance-skip.txt";
    /** Every third case by default, which keeps the build's test time down; -Dconformance.sample=1 runs them all. */
    private static final int DEFAULT_SAMPLE = 3;
    /** The suites of ONNX's backend test data, of single nodes and of whole models. */
    static final List<String> SUITES = List.of("node", "pytorch-converted", "pytorch-operator", "simple");
    private static final String REPORT = "native-conformance-report.txt";
    private static final long CASE_TIMEOUT_S = 180;

    enum Outcome { PASSED, WRONG_OUTPUT, FAILED, NOT_TAKEN }

    /** One case: for NOT_TAKEN the detail is the reason (grouped in the report), else what went wrong. */
    record Result(String name, Outcome outcome, String detail) {}

    private final List<Result> results = new ArrayList<>();
    private Map<String, String> skipList;
    private Pattern filter;
    private int sample;
    private Path work;

    @BeforeAll
    void runSuite() throws Exception {
        Path root = TestPaths.shared().resolve("testdata/onnx-backend");
        Assumptions.assumeTrue(Files.isDirectory(root.resolve("node")), "../shared/testdata/onnx-backend/node is absent; native conformance skipped");
        String f = System.getProperty("conformance.filter", "");
        filter = f.isEmpty() ? null : Pattern.compile(f);
        sample = Integer.getInteger("conformance.sample", DEFAULT_SAMPLE);
        skipList = loadSkipList();
        Target target = hostTarget();
        Backend backend = Backend.forTarget(target);
        work = Files.createTempDirectory("kiln-native-conformance-");
        List<Path> cases = new ArrayList<>();
        for (String suite : SUITES) {
            try (Stream<Path> s = Files.list(root.resolve(suite))) {
                cases.addAll(s.filter(p -> Files.isRegularFile(p.resolve("model.onnx")))
                        .filter(p -> filter == null || filter.matcher(caseName(p)).find()).sorted().toList());
            }
        }
        if (sample > 1) {
            List<Path> every = cases;
            cases = java.util.stream.IntStream.range(0, every.size()).filter(i -> i % sample == 0).mapToObj(every::get).toList();
        }
        long start = System.nanoTime();
        int cores = Runtime.getRuntime().availableProcessors();
        // gcc is the cost of a taken case: one case at a time per core keeps them all busy.
        ExecutorService pool = Executors.newFixedThreadPool(cores, r -> {
            Thread t = new Thread(r, "native-conformance");
            t.setDaemon(true);
            return t;
        });
        try {
            Map<Path, Future<Result>> running = new LinkedHashMap<>();
            for (Path c : cases) running.put(c, pool.submit(() -> runCase(c, target, backend)));
            for (Map.Entry<Path, Future<Result>> e : running.entrySet()) {
                String name = caseName(e.getKey());
                try {
                    results.add(e.getValue().get(CASE_TIMEOUT_S, TimeUnit.SECONDS));
                } catch (TimeoutException ex) {
                    e.getValue().cancel(true);
                    results.add(new Result(name, Outcome.FAILED, "timed out after " + CASE_TIMEOUT_S + " s"));
                } catch (ExecutionException ex) {
                    results.add(new Result(name, Outcome.FAILED, describe(ex.getCause())));
                }
            }
        } finally {
            pool.shutdownNow();
        }
        writeReport(target, cores, (System.nanoTime() - start) / 1e9);
    }

    @AfterAll
    void deleteWork() throws IOException {
        if (work != null) deleteTree(work);
    }

    @Test
    void everyTakenCaseMatchesTheInterpreter() {
        List<String> failing = results.stream()
                .filter(r -> r.outcome() == Outcome.WRONG_OUTPUT || r.outcome() == Outcome.FAILED)
                .filter(r -> !skipList.containsKey(r.name()))
                .map(r -> r.name() + ": " + r.outcome() + ": " + r.detail()).toList();
        assertTrue(failing.isEmpty(), failing.size() + " node cases the C backend takes differ from the interpreter (fix the emission, "
                + "make CCodeGenerator.supports refuse them, or list them with a reason in " + SKIP_LIST + "):\n  "
                + String.join("\n  ", failing.subList(0, Math.min(60, failing.size()))));
    }

    @Test
    void skipListNamesOnlyTakenCasesThatStillDiffer() {
        Map<String, Result> byName = results.stream().collect(Collectors.toMap(Result::name, r -> r));
        List<String> stale = new ArrayList<>();
        for (String listed : skipList.keySet()) {
            if (filter != null && !filter.matcher(listed).find()) continue;
            Result r = byName.get(listed);
            if (r == null && sample > 1) continue;
            if (r == null) stale.add(listed + ": no such case in the suites");
            else if (r.outcome() == Outcome.PASSED) stale.add(listed + ": passes now");
            else if (r.outcome() == Outcome.NOT_TAKEN) stale.add(listed + ": not taken any more (" + r.detail() + ")");
        }
        assertTrue(stale.isEmpty(), "remove these cases from " + SKIP_LIST + ":\n  " + String.join("\n  ", stale));
    }

    /** A case's name: the node suite's cases by their own, the others' with their suite before them. */
    static String caseName(Path dir) {
        String suite = dir.getParent().getFileName().toString();
        return (suite.equals("node") ? "" : suite + "/") + dir.getFileName();
    }

    private Result runCase(Path dir, Target target, Backend backend) {
        String name = caseName(dir);
        Path model = dir.resolve("model.onnx");
        Graph probe;
        try {
            probe = OnnxFrontend.load(model, (String) null);
        } catch (ImportException e) {
            return new Result(name, Outcome.NOT_TAKEN, "import: " + e.failureClass());
        }
        // The passes change a graph in place: this copy only decides whether the backend takes the case.
        PassOptions options = PassOptions.defaults().withLayout(backend.preferredLayout(target));
        PassContext ctx = PassContext.builder().options(options).evaluator(new InterpreterEvaluator()).build();
        Graph optimised;
        try {
            optimised = Pipelines.forLevel(3, options).run(probe, ctx);
        } catch (RuntimeException e) {
            return new Result(name, Outcome.FAILED, "level-3 passes: " + describe(e));
        }
        String refusal = refusal(optimised, backend);
        if (refusal != null) return new Result(name, Outcome.NOT_TAKEN, refusal);

        Graph imported = OnnxFrontend.load(model, (String) null);
        Map<String, Tensor> inputs;
        List<Tensor> want;
        try {
            inputs = inputs(imported, dir.resolve("test_data_set_0"));
            // the interpreter must meet the suite's expectations for the case to count
            List<Tensor> reference = new ArrayList<>(new Interpreter(imported).run(inputs).values());
            want = expected(dir.resolve("test_data_set_0"));
            String problem = compare(want, reference);
            if (problem != null) return new Result(name, Outcome.NOT_TAKEN, "no reference: the interpreter differs: " + problem);
        } catch (IOException | RuntimeException e) {
            return new Result(name, Outcome.NOT_TAKEN, "no reference: " + describe(e));
        }
        Path out = work.resolve(name.replace('/', '_'));
        try {
            Path artifact = Compiler.compile(imported, target, CompilerOptions.NONE, out, "case").artifact();
            List<Tensor> got = new ArrayList<>(run(artifact, 1, inputs).values());
            String problem = compare(want, got);
            if (problem == null) {
                List<Tensor> gotTwoThreads = new ArrayList<>(run(artifact, 2, inputs).values());
                for (int i = 0; i < got.size(); i++) {
                    if (!got.get(i).contentEquals(gotTwoThreads.get(i))) problem = "output " + i + " on 2 threads differs from 1 thread";
                }
            }
            return problem == null ? new Result(name, Outcome.PASSED, "") : new Result(name, Outcome.WRONG_OUTPUT, problem);
        } catch (IOException | RuntimeException e) {
            return new Result(name, Outcome.FAILED, describe(e));
        } finally {
            try {
                deleteTree(out);
            } catch (IOException ignored) {
                // the whole work folder goes after the suite
            }
        }
    }

    /** Why the backend does not take an optimised graph, or null when it does. */
    private static String refusal(Graph optimised, Backend backend) {
        for (Value v : optimised.inputs()) {
            if (!v.type().shape().isStatic()) return "dynamic shape: graph input";
        }
        List<Node> unsupported = backend.unsupported(optimised);
        if (!unsupported.isEmpty()) {
            Node n = unsupported.get(0);
            Set<DType> dtypes = new TreeSet<>();
            for (Value v : n.outputs()) dtypes.add(v.type().dtype());
            for (Value v : n.inputs()) if (v != null) dtypes.add(v.type().dtype());
            return "refused by the backend: " + n.op() + " " + dtypes;
        }
        return null;
    }

    /** The suite's expected outputs of a test data set, in order. */
    static List<Tensor> expected(Path data) throws IOException {
        List<Tensor> outputs = new ArrayList<>();
        for (Path p : OnnxConformanceTest.numbered(data, "output_")) outputs.add(OnnxConformanceTest.tensor(Files.readAllBytes(p)));
        return outputs;
    }

    /** The test data's inputs by graph input name: by the tensor's name, else in order. */
    static Map<String, Tensor> inputs(Graph graph, Path data) throws IOException {
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        List<Value> graphInputs = graph.inputs();
        int k = 0;
        for (Path p : OnnxConformanceTest.numbered(data, "input_")) {
            byte[] bytes = Files.readAllBytes(p);
            Value target = graph.value(OnnxMl.TensorProto.parseFrom(bytes).getName());
            if (target == null || !graphInputs.contains(target)) {
                if (k >= graphInputs.size()) break;
                target = graphInputs.get(k);
            }
            inputs.put(target.name(), OnnxConformanceTest.tensor(bytes));
            k++;
        }
        return inputs;
    }

    /** Loads the artifact on {@code threads} threads and runs it on the inputs it declares. */
    private static Map<String, Tensor> run(Path artifact, int threads, Map<String, Tensor> inputs) throws IOException {
        try (Model m = Model.load(artifact, threads)) {
            Map<String, Tensor> declared = new LinkedHashMap<>();
            m.manifest().inputs().forEach(spec -> declared.put(spec.name(), inputs.get(spec.name())));
            return m.run(declared);
        }
    }

    /** Null when every output matches the expected one with the suite's tolerances, else the first difference. */
    static String compare(List<Tensor> want, List<Tensor> got) {
        if (want.size() != got.size()) return got.size() + " outputs, expected " + want.size();
        for (int i = 0; i < want.size(); i++) {
            String problem = OnnxConformanceTest.compare(want.get(i), got.get(i));
            if (problem != null) return "output " + i + ": " + problem;
        }
        return null;
    }

    /**
     * The target of -Dconformance.target (a TargetDevice this machine runs), else the one it runs fastest:
     * AVX-512 (ml_c5), AVX2 (ml_c4), else its plain Linux platform.
     */
    private static Target hostTarget() throws IOException {
        String chosen = System.getProperty("conformance.target", "");
        if (!chosen.isEmpty()) return Targets.device(chosen);
        String arch = System.getProperty("os.arch");
        if (arch.equals("aarch64")) return Targets.platform(Target.Os.LINUX, Target.Arch.ARM64, Target.Accelerator.NONE, CompilerOptions.NONE);
        Path cpuinfo = Path.of("/proc/cpuinfo");
        String flags = Files.isReadable(cpuinfo) ? Files.readString(cpuinfo) : "";
        if (flags.contains(" avx512f")) return Targets.device("ml_c5");
        if (flags.contains(" avx2") && flags.contains(" fma")) return Targets.device("ml_c4");
        return Targets.platform(Target.Os.LINUX, Target.Arch.X86_64, Target.Accelerator.NONE, CompilerOptions.NONE);
    }

    static Map<String, String> loadSkipList() throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (InputStream in = Backend.class.getResourceAsStream(SKIP_LIST)) {
            if (in == null) throw new IllegalStateException(SKIP_LIST + " is missing from the backends' resources");
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                String l = line.strip();
                if (l.isEmpty() || l.startsWith("#")) continue;
                String[] parts = l.split("\\s+", 2);
                if (parts.length < 2) throw new IllegalStateException(SKIP_LIST + ": case " + parts[0] + " is listed without a reason");
                m.put(parts[0], parts[1]);
            }
        }
        return m;
    }

    private void writeReport(Target target, int cores, double seconds) throws IOException {
        Map<Outcome, Integer> counts = new EnumMap<>(Outcome.class);
        for (Result r : results) counts.merge(r.outcome(), 1, Integer::sum);
        int taken = results.size() - counts.getOrDefault(Outcome.NOT_TAKEN, 0);
        long skipped = results.stream().filter(r -> r.outcome() != Outcome.PASSED && r.outcome() != Outcome.NOT_TAKEN && skipList.containsKey(r.name())).count();
        StringBuilder b = new StringBuilder("# ONNX backend test suites through backend c, target " + target.name()
                + " (Compiler.compile, Model.load; rtol 1e-3, atol 1e-7 against the suite's outputs; 1 and 2 threads bitwise equal)\n"
                + "# Not taken: the import fails, the interpreter does not meet the suite's outputs, or the backend has no kernel for\n"
                + "# a node's op (or not for its dtypes, rank, arity or attributes: CCodeGenerator.supports)."
                + (sample > 1 ? " Every " + sample + "-th case." : "") + "\n\n");
        b.append(String.format(Locale.ROOT, "cases     %5d%ntaken     %5d%npassed    %5d%nskipped   %5d  (listed in %s)%nfailing   %5d%nnot taken %5d%n",
                results.size(), taken, counts.getOrDefault(Outcome.PASSED, 0), skipped, SKIP_LIST, taken - counts.getOrDefault(Outcome.PASSED, 0) - skipped,
                counts.getOrDefault(Outcome.NOT_TAKEN, 0)));
        b.append(String.format(Locale.ROOT, "time      %5.0f s on %d cores%n%n", seconds, cores));
        b.append(String.format(Locale.ROOT, "%-18s %6s %6s %6s%n", "suite", "cases", "taken", "passed"));
        for (String suite : SUITES) {
            List<Result> of = results.stream().filter(r -> suite.equals("node") ? !r.name().contains("/") : r.name().startsWith(suite + "/")).toList();
            b.append(String.format(Locale.ROOT, "%-18s %6d %6d %6d%n", suite, of.size(), of.stream().filter(r -> r.outcome() != Outcome.NOT_TAKEN).count(),
                    of.stream().filter(r -> r.outcome() == Outcome.PASSED).count()));
        }
        Map<String, Integer> kinds = new TreeMap<>();
        Map<String, Integer> reasons = new TreeMap<>();
        for (Result r : results) {
            if (r.outcome() != Outcome.NOT_TAKEN) continue;
            kinds.merge(r.detail().substring(0, r.detail().indexOf(':')), 1, Integer::sum);
            reasons.merge(r.detail(), 1, Integer::sum);
        }
        b.append("\n# Not taken, by kind of reason\n");
        kinds.forEach((k, v) -> b.append(String.format(Locale.ROOT, "%5d  %s%n", v, k)));
        b.append("\n# Not taken, by reason\n");
        reasons.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> b.append(String.format(Locale.ROOT, "%5d  %s%n", e.getValue(), e.getKey())));
        b.append("\n# Skip list (case: reason)\n");
        skipList.forEach((k, v) -> b.append(k).append(": ").append(v).append('\n'));
        b.append("\n# Cases\n");
        for (Result r : results) {
            b.append(r.name()).append(' ').append(r.outcome());
            if (!r.detail().isEmpty()) b.append(" -- ").append(r.detail().replace('\n', ' '));
            b.append('\n');
        }
        Path out = Path.of(System.getProperty("kiln.build", "target"), REPORT);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, b);
        System.out.println(b.substring(0, b.indexOf("\n# Not taken, by reason")));
        System.out.println("report: " + out.toAbsolutePath());
    }

    private static String describe(Throwable e) {
        String m = e.getClass().getSimpleName() + ": " + e.getMessage();
        StackTraceElement[] st = e.getStackTrace();
        return st.length > 0 ? m + " at " + st[0] : m;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
