package dev.kiln.server;

import ai.onnx.proto.OnnxMl;
import dev.kiln.frontend.ImportException;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.frontend.onnx.OnnxTensors;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
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
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The ONNX backend test suite through import and the reference interpreter, with the suite's own
 * tolerances. Every case must pass, or fail as a clearly reported unsupported op or dtype, or be
 * listed with its reason in conformance-exceptions.txt. Writes a per-case report.
 */
class OnnxConformanceTest {
    private static final List<String> SUITES = List.of("node", "simple", "pytorch-converted", "pytorch-operator");
    private static final double RTOL = 1e-3;
    private static final double ATOL = 1e-7;
    private static final int MIN_NODE_PASSES = 1200;
    private static final long CASE_TIMEOUT_S = 120;

    enum Outcome { PASSED, WRONG_OUTPUT, OPERATOR_NOT_IMPLEMENTED, UNSUPPORTED_DTYPE, ERROR }

    record Result(String suite, String name, Outcome outcome, String detail) {}

    @Test
    void onnxBackendSuite() throws Exception {
        runSuite("conformance-report.txt", "import + reference interpreter", UnaryOperator.identity());
    }

    /**
     * Runs every case with {@code transform} applied to the imported graph, writes the report, and
     * fails on any case that is neither passed, reported unsupported, nor a listed exception.
     */
    static void runSuite(String reportName, String what, UnaryOperator<Graph> transform) throws Exception {
        Path root = TestPaths.shared().resolve("testdata/onnx-backend");
        Assumptions.assumeTrue(Files.isDirectory(root), "../shared/testdata/onnx-backend is absent; conformance suite skipped");
        String filter = System.getProperty("conformance.filter", "");
        Pattern pattern = filter.isEmpty() ? null : Pattern.compile(filter);
        Map<String, String> exceptions = loadExceptions();

        List<Result> results = new ArrayList<>();
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "conformance-case");
            t.setDaemon(true);
            return t;
        });
        try {
            for (String suite : SUITES) {
                Path dir = root.resolve(suite);
                if (!Files.isDirectory(dir)) continue;
                List<Path> cases;
                try (Stream<Path> s = Files.list(dir)) {
                    cases = s.filter(p -> Files.isRegularFile(p.resolve("model.onnx"))).sorted().toList();
                }
                for (Path c : cases) {
                    String name = c.getFileName().toString();
                    if (pattern != null && !pattern.matcher(name).find()) continue;
                    Future<Result> f = pool.submit(() -> runCase(suite, c, transform));
                    Result r;
                    try {
                        r = f.get(CASE_TIMEOUT_S, TimeUnit.SECONDS);
                    } catch (TimeoutException e) {
                        f.cancel(true);
                        pool.shutdownNow();
                        pool = Executors.newSingleThreadExecutor();
                        r = new Result(suite, name, Outcome.ERROR, "timed out after " + CASE_TIMEOUT_S + " s");
                    } catch (ExecutionException e) {
                        r = new Result(suite, name, Outcome.ERROR, describe(e.getCause()));
                    }
                    results.add(r);
                }
            }
        } finally {
            pool.shutdownNow();
        }

        List<String> unexpected = new ArrayList<>();
        Set<String> staleExceptions = new TreeSet<>();
        for (Result r : results) {
            String key = r.suite() + "/" + r.name();
            boolean acceptable = r.outcome() == Outcome.PASSED || r.outcome() == Outcome.OPERATOR_NOT_IMPLEMENTED
                    || r.outcome() == Outcome.UNSUPPORTED_DTYPE;
            if (exceptions.containsKey(key)) {
                if (r.outcome() == Outcome.PASSED) staleExceptions.add(key);
            } else if (!acceptable) {
                unexpected.add(key + ": " + r.outcome() + ": " + r.detail());
            }
        }
        writeReport(reportName, what, results, exceptions, staleExceptions);

        if (!unexpected.isEmpty()) {
            fail(unexpected.size() + " conformance cases failed without being reported as unsupported:\n  "
                    + String.join("\n  ", unexpected.subList(0, Math.min(60, unexpected.size()))));
        }
        assertTrue(staleExceptions.isEmpty(), "these listed exceptions pass now; remove them from conformance-exceptions.txt: " + staleExceptions);
        if (pattern == null) {
            long nodePasses = results.stream().filter(r -> r.suite().equals("node") && r.outcome() == Outcome.PASSED).count();
            assertTrue(nodePasses >= MIN_NODE_PASSES, "only " + nodePasses + " node cases pass; at least " + MIN_NODE_PASSES + " must");
        }
    }

    private static Result runCase(String suite, Path dir, UnaryOperator<Graph> transform) {
        String name = dir.getFileName().toString();
        Graph graph;
        try {
            graph = OnnxFrontend.load(dir.resolve("model.onnx"), (String) null);
        } catch (ImportException e) {
            Outcome o = switch (e.failureClass()) {
                case "OperatorNotImplemented" -> Outcome.OPERATOR_NOT_IMPLEMENTED;
                case "UnsupportedDataType" -> Outcome.UNSUPPORTED_DTYPE;
                default -> Outcome.ERROR;
            };
            return new Result(suite, name, o, e.getMessage());
        } catch (RuntimeException e) {
            return new Result(suite, name, Outcome.ERROR, "import crashed: " + describe(e));
        }
        try {
            graph = transform.apply(graph);
        } catch (RuntimeException e) {
            return new Result(suite, name, Outcome.ERROR, "optimising crashed: " + describe(e));
        }
        Path data = dir.resolve("test_data_set_0");
        try {
            Map<String, Tensor> inputs = new LinkedHashMap<>();
            List<Value> graphInputs = graph.inputs();
            List<Path> inputFiles = numbered(data, "input_");
            // Test data lists every model input, in order; initializer-backed inputs are constants here.
            int k = 0;
            for (Path p : inputFiles) {
                OnnxMl.TensorProto proto = OnnxMl.TensorProto.parseFrom(Files.readAllBytes(p));
                Value target = graph.value(proto.getName());
                if (target == null || !graphInputs.contains(target)) {
                    if (k >= graphInputs.size()) break;
                    target = graphInputs.get(k);
                }
                inputs.put(target.name(), tensor(Files.readAllBytes(p)));
                k++;
            }
            Map<String, Tensor> actual = new Interpreter(graph).run(inputs);
            List<Path> outputFiles = numbered(data, "output_");
            List<Tensor> got = new ArrayList<>(actual.values());
            if (got.size() != outputFiles.size()) {
                return new Result(suite, name, Outcome.WRONG_OUTPUT, "produced " + got.size() + " outputs, expected " + outputFiles.size());
            }
            for (int i = 0; i < outputFiles.size(); i++) {
                Tensor expected = tensor(Files.readAllBytes(outputFiles.get(i)));
                String problem = compare(expected, got.get(i));
                if (problem != null) return new Result(suite, name, Outcome.WRONG_OUTPUT, "output " + i + ": " + problem);
            }
            return new Result(suite, name, Outcome.PASSED, "");
        } catch (ImportException e) {
            Outcome o = e.failureClass().equals("UnsupportedDataType") ? Outcome.UNSUPPORTED_DTYPE : Outcome.ERROR;
            return new Result(suite, name, o, e.getMessage());
        } catch (Exception | StackOverflowError | OutOfMemoryError e) {
            return new Result(suite, name, Outcome.ERROR, describe(e));
        }
    }

    static Tensor tensor(byte[] bytes) {
        Attribute.Tensor t = OnnxTensors.parse(bytes);
        return Tensor.wrap(t.type().dtype(), t.type().shape().sizes(), t.data());
    }

    static String compare(Tensor expected, Tensor actual) {
        if (expected.dtype() != actual.dtype()) return "dtype " + actual.dtype() + ", expected " + expected.dtype();
        if (!Arrays.equals(expected.shape(), actual.shape())) {
            return "shape " + Arrays.toString(actual.shape()) + ", expected " + Arrays.toString(expected.shape());
        }
        DType t = expected.dtype();
        for (int i = 0; i < expected.size(); i++) {
            if (t.isFloatingPoint()) {
                double e = expected.getDouble(i);
                double a = actual.getDouble(i);
                if (Double.isNaN(e) && Double.isNaN(a)) continue;
                if (Double.isInfinite(e) && e == a) continue;
                if (!(Math.abs(a - e) <= ATOL + RTOL * Math.abs(e))) {
                    return "element " + i + " is " + a + ", expected " + e;
                }
            } else if (expected.getLong(i) != actual.getLong(i)) {
                return "element " + i + " is " + actual.getLong(i) + ", expected " + expected.getLong(i);
            }
        }
        return null;
    }

    static List<Path> numbered(Path dir, String prefix) throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        Map<Integer, Path> files = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.forEach(p -> {
                String f = p.getFileName().toString();
                if (f.startsWith(prefix) && f.endsWith(".pb")) {
                    files.put(Integer.parseInt(f.substring(prefix.length(), f.length() - 3)), p);
                }
            });
        }
        return new ArrayList<>(files.values());
    }

    private static String describe(Throwable e) {
        String m = e.getClass().getSimpleName() + ": " + e.getMessage();
        StackTraceElement[] st = e.getStackTrace();
        return st.length > 0 ? m + " at " + st[0] : m;
    }

    private static Map<String, String> loadExceptions() throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (InputStream in = OnnxConformanceTest.class.getResourceAsStream("/conformance-exceptions.txt")) {
            if (in == null) return m;
            for (String line : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
                String l = line.strip();
                if (l.isEmpty() || l.startsWith("#")) continue;
                String[] parts = l.split("\\s+", 2);
                m.put(parts[0], parts.length > 1 ? parts[1] : "");
            }
        }
        return m;
    }

    private static void writeReport(String reportName, String what, List<Result> results, Map<String, String> exceptions,
                                    Set<String> stale) throws IOException {
        StringBuilder b = new StringBuilder("# ONNX backend conformance: " + what + " (rtol 1e-3, atol 1e-7; exact for integers and bool)\n\n");
        Map<String, Map<Outcome, Integer>> counts = new LinkedHashMap<>();
        for (Result r : results) counts.computeIfAbsent(r.suite(), k -> new EnumMap<>(Outcome.class)).merge(r.outcome(), 1, Integer::sum);
        b.append(String.format("%-18s %6s %7s %6s %6s %6s %6s%n", "suite", "cases", "passed", "wrong", "no-op", "dtype", "error"));
        for (Map.Entry<String, Map<Outcome, Integer>> e : counts.entrySet()) {
            Map<Outcome, Integer> c = e.getValue();
            int total = c.values().stream().mapToInt(Integer::intValue).sum();
            b.append(String.format("%-18s %6d %7d %6d %6d %6d %6d%n", e.getKey(), total, c.getOrDefault(Outcome.PASSED, 0),
                    c.getOrDefault(Outcome.WRONG_OUTPUT, 0), c.getOrDefault(Outcome.OPERATOR_NOT_IMPLEMENTED, 0),
                    c.getOrDefault(Outcome.UNSUPPORTED_DTYPE, 0), c.getOrDefault(Outcome.ERROR, 0)));
        }
        b.append("\n# Listed exceptions (case: reason)\n");
        for (Map.Entry<String, String> e : exceptions.entrySet()) b.append(e.getKey()).append(": ").append(e.getValue()).append('\n');
        if (!stale.isEmpty()) b.append("\n# Listed exceptions that pass now: ").append(stale).append('\n');
        b.append("\n# Cases\n");
        for (Result r : results) {
            b.append(r.suite()).append('/').append(r.name()).append(' ').append(r.outcome());
            if (!r.detail().isEmpty()) b.append(" -- ").append(r.detail().replace('\n', ' '));
            b.append('\n');
        }
        Path out = Path.of(System.getProperty("kiln.build", "target"), reportName);
        Files.createDirectories(out.getParent());
        Files.writeString(out, b);
        System.out.println(b.substring(0, b.indexOf("\n# Listed")));
        System.out.println("report: " + out.toAbsolutePath());
    }
}
