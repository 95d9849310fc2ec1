package dev.kiln.backends.c;

import dev.kiln.backends.Backend;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.PlanMemory;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The C backend for Linux CPU targets: C specialised to the graph's static shapes, compiled by the target's
 * toolchain with the catalog's ISA flags into model.so, the weights beside it in weights.bin.
 */
public final class CBackend implements Backend {
    /** Every compilation: optimised, position independent, a shared library. */
    static final List<String> BASE_FLAGS = List.of("-O3", "-fPIC", "-shared", "-pthread");

    @Override
    public String name() { return "c"; }

    @Override
    public boolean accepts(Target target) {
        return target.os() == Target.Os.LINUX && target.toolchain().isPresent();
    }

    @Override
    public List<Node> unsupported(Graph optimised) {
        return optimised.nodes().stream().filter(n -> !CCodeGenerator.supports(n)).toList();
    }

    @Override
    public String preferredLayout(Target target) { return "NCHW"; }

    @Override
    public Map<String, String> emit(Graph optimised, Target target, CompilerOptions options, Path artifactDir) {
        if (!accepts(target)) throw new IllegalArgumentException("backend c does not generate code for target " + target.name());
        Path compiler = target.toolchain().orElseThrow().locate(target.name());
        // Planning an already planned graph changes nothing; the backend needs the plan's offsets.
        PassContext ctx = PassContext.builder().options(PassOptions.defaults()).evaluator(new InterpreterEvaluator()).build();
        Graph planned = new PlanMemory().apply(optimised, ctx);
        CCodeGenerator.CProgram program = CCodeGenerator.generate(planned, ctx.result(MemoryPlan.class));
        GccCompiler.Compiled compiled = GccCompiler.compile(program, artifactDir, compiler.toString(), flags(target));
        return Map.of("library", artifactDir.relativize(compiled.library()).toString(),
                "weights", artifactDir.relativize(compiled.weights()).toString(),
                "source", artifactDir.relativize(compiled.source()).toString());
    }

    static List<String> flags(Target target) {
        List<String> flags = new ArrayList<>(BASE_FLAGS);
        for (String f : target.compilerFlags()) if (!flags.contains(f)) flags.add(f);
        return flags;
    }
}
