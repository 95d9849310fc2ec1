package dev.kiln.backends;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.text.IrPrinter;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.artifact.ArtifactWriter;
import dev.kiln.runtime.artifact.Manifest;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Imported graph to artifact: level-3 passes, the target's backend, manifest, reproducible .tar.gz. */
public final class Compiler {
    public static final String KILN_VERSION = "0.1.0";
    static final String FRAMEWORK = "onnx";
    static final String IR_FILE = "model.ir";

    private Compiler() {}

    /**
     * Compiles {@code imported} for {@code target} into {@code outputDir}/&lt;model&gt;-&lt;target&gt;.tar.gz.
     * The same graph, target and options give the same bytes (and digest) on every run.
     *
     * @return the artifact's path, its ArtifactDigest and its manifest
     * @throws ToolchainMissingException when the target's compiler is not installed
     * @throws UnsupportedOperationException when no backend takes the target or the graph's ops
     */
    public static ArtifactWriter.Written compile(Graph imported, Target target, CompilerOptions options,
                                                 Path outputDir, String modelName) throws IOException {
        return compile(imported, target, options, outputDir, modelName, Path.of(System.getProperty("java.io.tmpdir")));
    }

    /**
     * As {@link #compile(Graph, Target, CompilerOptions, Path, String)}, with the generated sources and the
     * toolchain's files in a folder made (and removed) under {@code scratchDir}, so that a compilation job
     * writes nothing outside its own directory.
     */
    public static ArtifactWriter.Written compile(Graph imported, Target target, CompilerOptions options,
                                                 Path outputDir, String modelName, Path scratchDir) throws IOException {
        Backend backend = Backend.forTarget(target);
        // A missing compiler fails before any pass runs.
        target.toolchain().ifPresent(t -> t.locate(target.name()));
        PassOptions passOptions = PassOptions.defaults().withLayout(backend.preferredLayout(target)).withDtype(precision(options));
        PassContext ctx = PassContext.builder().options(passOptions).evaluator(new InterpreterEvaluator()).build();
        Graph optimised = Pipelines.forLevel(3, passOptions).run(imported, ctx);
        List<Node> unsupported = backend.unsupported(optimised);
        if (!unsupported.isEmpty()) {
            throw new UnsupportedOperationException("OperatorNotImplemented: backend " + backend.name() + " has no kernel for "
                    + unsupported.stream().map(n -> n.op() + backend.refusal(n) + " at node " + n.name()).collect(Collectors.joining("; ")));
        }
        Files.createDirectories(scratchDir);
        Path content = Files.createTempDirectory(scratchDir, "kiln-compile-");
        try {
            Map<String, String> components = new TreeMap<>(backend.emit(optimised, target, options, content));
            Files.writeString(content.resolve(IR_FILE), IrPrinter.print(optimised), StandardCharsets.UTF_8);
            components.put("ir", IR_FILE);
            Manifest manifest = new Manifest(KILN_VERSION, modelName, FRAMEWORK,
                    new Manifest.Target(target.name(), platform(target, backend)), optionsJson(options),
                    specs(optimised.inputs()), specs(optimised.outputs()), components, List.of());
            return ArtifactWriter.write(content, manifest, outputDir);
        } finally {
            deleteTree(content);
        }
    }

    private static PassOptions.Precision precision(CompilerOptions options) {
        return options.precisionMode().map(m -> m.equalsIgnoreCase("FP16") ? PassOptions.Precision.FP16 : PassOptions.Precision.FP32)
                .orElse(PassOptions.Precision.FP32);
    }

    /** What the runtime checks before loading (os, arch) and what the code was built with. */
    static Map<String, Object> platform(Target target, Backend backend) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("os", target.os().name());
        p.put("arch", target.arch().name());
        p.put("accelerator", target.accelerator().name());
        p.put("features", target.features());
        p.put("vector_isa", target.vectorIsa().name());
        p.put("backend", backend.name());
        target.toolchain().ifPresent(t -> p.put("toolchain", t.triple()));
        p.put("compiler_flags", target.compilerFlags());
        target.androidApiLevel().ifPresent(level -> p.put("android_api_level", (long) level));
        return p;
    }

    /** The options given, by their CompilerOptions names. */
    static Map<String, Object> optionsJson(CompilerOptions o) {
        Map<String, Object> m = new LinkedHashMap<>();
        o.mcpu().ifPresent(v -> m.put(CompilerOptions.MCPU, v));
        if (!o.mattr().isEmpty()) m.put(CompilerOptions.MATTR, o.mattr());
        o.androidPlatform().ifPresent(v -> m.put(CompilerOptions.ANDROID_PLATFORM, (long) v));
        o.gpuCode().ifPresent(v -> m.put(CompilerOptions.GPU_CODE, v));
        o.trtVersion().ifPresent(v -> m.put(CompilerOptions.TRT_VER, v));
        o.cudaVersion().ifPresent(v -> m.put(CompilerOptions.CUDA_VER, v));
        o.dtype().ifPresent(v -> m.put(CompilerOptions.DTYPE, v));
        o.precisionMode().ifPresent(v -> m.put(CompilerOptions.PRECISION_MODE, v));
        o.signatureDefKey().ifPresent(v -> m.put(CompilerOptions.SIGNATURE_DEF_KEY, v));
        if (!o.outputNames().isEmpty()) m.put(CompilerOptions.OUTPUT_NAMES, o.outputNames());
        o.classLabels().ifPresent(v -> m.put(CompilerOptions.CLASS_LABELS, v));
        if (!o.neuronFlags().isEmpty()) m.put("neuron_flags", o.neuronFlags());
        return m;
    }

    /**
     * Graph inputs and outputs keep the user's plain layout (the passes convert at the edges); a dim known only
     * at run time is -1.
     */
    private static List<Manifest.TensorSpec> specs(List<Value> values) {
        List<Manifest.TensorSpec> specs = new ArrayList<>();
        for (Value v : values) {
            List<Long> shape = new ArrayList<>();
            for (var d : v.type().shape().dims()) shape.add(d.isStatic() ? d.size() : -1L);
            specs.add(new Manifest.TensorSpec(v.name(), v.type().dtype(), shape, ""));
        }
        return specs;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
