package dev.kiln.cli;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.text.IrFiles;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/** {@code kiln optimize}: the optimised IR of a model, runnable by {@code kiln run}. */
final class OptimizeCommand {
    private OptimizeCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        Args a = Args.parse(argv, Set.of("data-input-config", "opt-level", "output", "dump-ir", "layout", "dtype", "calibration",
                "calibration-method"), Set.of("verbose"));
        if (a.positionals().size() != 1) throw new UsageException("kiln optimize takes one MODEL, got " + a.positionals().size());
        String output = a.value("output");
        if (output == null) throw new UsageException("kiln optimize needs --output OUT.ir");
        int level = a.intValue("opt-level", 2, 0);
        if (level > Pipelines.MAX_LEVEL) throw new UsageException("--opt-level must be 0 to " + Pipelines.MAX_LEVEL + ", got " + level);
        PassOptions options = PassOptions.defaults().withLayout(layout(a.value("layout"))).withDtype(precision(a.value("dtype")));

        Graph g = ModelFiles.load(Path.of(a.positionals().get(0)), a.value("data-input-config"));
        if (options.dtype() == PassOptions.Precision.INT8) {
            if (a.value("calibration") == null) throw new UsageException("--dtype int8 needs --calibration DIR (one folder of <input>.npy files per sample)");
            options = options.withCalibration(calibration(g, Path.of(a.value("calibration"))), method(a.value("calibration-method")));
        } else if (a.value("calibration") != null) {
            throw new UsageException("--calibration applies to --dtype int8 only");
        }
        PassContext.Builder ctx = PassContext.builder().options(options).evaluator(new InterpreterEvaluator());
        if (a.value("dump-ir") != null) ctx.dumpDir(Path.of(a.value("dump-ir")));
        if (a.flag("verbose")) ctx.debugLog(m -> err.println("kiln: " + m));
        PassContext context = ctx.build();
        Graph optimized = Pipelines.forLevel(level, options).run(g, context);
        try {
            IrFiles.write(optimized, Path.of(output));
        } catch (IOException e) {
            throw new UsageException("cannot write " + output + ": " + e.getMessage(), e);
        }
        long totalNanos = context.runs().stream().mapToLong(PassContext.PassRun::nanos).sum();
        out.printf(Locale.ROOT, "optimised at level %d in %.0f ms: %d nodes -> %d nodes; wrote %s%n",
                level, totalNanos / 1e6, g.nodes().size(), optimized.nodes().size(), output);
        for (PassContext.PassRun r : context.runs()) {
            out.printf(Locale.ROOT, "  %-34s %8.1f ms  %5d -> %5d nodes%n", r.pass(), r.nanos() / 1e6, r.nodesBefore(), r.nodesAfter());
        }
        MemoryPlan plan = context.result(MemoryPlan.class);
        if (plan != null) out.println("  " + plan.summary());
        return 0;
    }

    private static PassOptions.CalibrationMethod method(String v) {
        if (v == null || v.equalsIgnoreCase("minmax")) return PassOptions.CalibrationMethod.MINMAX;
        if (v.equalsIgnoreCase("percentile")) return PassOptions.CalibrationMethod.PERCENTILE;
        throw new UsageException("--calibration-method must be minmax or percentile, got '" + v + "'");
    }

    /** Calibration samples: each subfolder of {@code dir} (in name order) holds one {@code <input>.npy} per graph input. */
    private static List<Map<String, Attribute.Tensor>> calibration(Graph g, Path dir) {
        if (!Files.isDirectory(dir)) throw new UsageException("calibration folder " + dir + " does not exist");
        List<Path> samples;
        try (Stream<Path> s = Files.list(dir)) {
            samples = s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new UsageException("cannot read " + dir + ": " + e.getMessage(), e);
        }
        if (samples.isEmpty()) throw new UsageException("calibration folder " + dir + " has no sample folders");
        List<Map<String, Attribute.Tensor>> result = new ArrayList<>();
        for (Path sample : samples) {
            Map<String, Attribute.Tensor> inputs = new LinkedHashMap<>();
            for (Value in : g.inputs()) {
                Path file = sample.resolve(RunCommand.safeFileName(in.name()) + ".npy");
                try {
                    Tensor t = Npy.read(file);
                    inputs.put(in.name(), new Attribute.Tensor(TensorType.of(t.dtype(), t.shape()), t.data()));
                } catch (IOException e) {
                    throw new UsageException("calibration sample " + sample.getFileName() + ": " + e.getMessage(), e);
                }
            }
            result.add(inputs);
        }
        return result;
    }

    private static String layout(String v) {
        if (v == null) return "NCHW";
        if (v.equals("NCHW") || v.equals("NHWC") || v.matches("NCHW(4|8|16|32|64)c")) return v;
        throw new UsageException("--layout must be NCHW, NHWC or a blocked NCHW{4,8,16,32,64}c, got '" + v + "'");
    }

    private static PassOptions.Precision precision(String v) {
        if (v == null) return PassOptions.Precision.FP32;
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "fp32", "float32" -> PassOptions.Precision.FP32;
            case "fp16", "float16" -> PassOptions.Precision.FP16;
            case "bf16", "bfloat16" -> PassOptions.Precision.BF16;
            case "int8" -> PassOptions.Precision.INT8;
            default -> throw new UsageException("--dtype must be fp32, fp16, bf16 or int8, got '" + v + "'");
        };
    }
}
