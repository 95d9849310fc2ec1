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

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The C backend for CPU targets: C specialised to the graph's static shapes, compiled by the target's
 * toolchain with the catalog's ISA flags into a shared library, the weights beside it in weights.bin.
 * Linux gets model.so; Windows model.dll (mingw-w64, Win32 threads, only Windows system DLLs imported);
 * Android a model.so that needs nothing but bionic's libc.so, libm.so and libdl.so (see {@link Bionic}).
 */
public final class CBackend implements Backend {
    /**
     * Every compilation optimises without type-based alias analysis: the memory plan gives bytes of a dead value to
     * a later value of another dtype, which the generated code reads and writes through pointers of both types.
     * A kernel calling a function no source defines fails the build rather than the run.
     */
    static final List<String> OPTIMISE = List.of("-O3", "-fno-strict-aliasing", "-Werror=implicit-function-declaration");
    /** Linux: optimised, position independent, a shared library. */
    static final List<String> BASE_FLAGS = with(OPTIMISE, "-fPIC", "-shared", "-pthread");
    /**
     * Windows: no libgcc or winpthread DLL to ship (the kernels use Win32 threads); neither a link time
     * stamp nor an image base hashed from the output path, so artifacts are reproducible.
     */
    static final List<String> WINDOWS_FLAGS = with(OPTIMISE, "-shared", "-static-libgcc", "-Wl,--no-insert-timestamp",
            "-Wl,--disable-auto-image-base");
    static final String LINUX_LIBRARY = "model.so", WINDOWS_LIBRARY = "model.dll", ANDROID_LIBRARY = "model.so";

    @Override
    public String name() { return "c"; }

    @Override
    public boolean accepts(Target target) {
        return target.os() != Target.Os.DARWIN && target.toolchain().isPresent();
    }

    @Override
    public List<Node> unsupported(Graph optimised) {
        return optimised.nodes().stream().filter(n -> !CCodeGenerator.supports(n)).toList();
    }

    @Override
    public String refusal(Node n) {
        String why = CCodeGenerator.refusal(n);
        return why == null ? "" : why;
    }

    @Override
    public String preferredLayout(Target target) { return layout(target); }

    /** Activations in blocks of one vector register of channels, NCHW{c}c (the kernels of blocked.h). */
    static String layout(Target target) { return "NCHW" + target.activationBlockSize() + "c"; }

    @Override
    public Map<String, String> emit(Graph optimised, Target target, CompilerOptions options, Path artifactDir) {
        if (!accepts(target)) throw new IllegalArgumentException("backend c does not generate code for target " + target.name());
        // Planning an already planned graph changes nothing; the backend needs the plan's offsets.
        PassContext ctx = PassContext.builder().options(PassOptions.defaults()).evaluator(new InterpreterEvaluator()).build();
        Graph planned = new PlanMemory().apply(optimised, ctx);
        GccCompiler.Compiled compiled = compile(CCodeGenerator.generate(planned, ctx.result(MemoryPlan.class), target.vectorRegisters()), target, artifactDir);
        return Map.of("library", artifactDir.relativize(compiled.library()).toString(),
                "weights", artifactDir.relativize(compiled.weights()).toString(),
                "source", artifactDir.relativize(compiled.source()).toString());
    }

    /**
     * Compiles a program for the target into {@code dir} (model.c, weights.bin and the library); the
     * artifact's files, and what the test harness links against.
     *
     * @throws dev.kiln.backends.ToolchainMissingException when the target's compiler is not installed
     */
    static GccCompiler.Compiled compile(CCodeGenerator.CProgram program, Target target, Path dir) {
        String compiler = target.toolchain().orElseThrow().locate(target.name()).toString();
        return switch (target.os()) {
            case LINUX -> GccCompiler.compile(program, dir, compiler, flags(target), LINUX_LIBRARY, List.of("-lm"));
            case WINDOWS -> GccCompiler.compile(program, dir, compiler, windowsFlags(target), WINDOWS_LIBRARY, List.of());
            case ANDROID -> compileForAndroid(program, target, dir, compiler);
            case DARWIN -> throw new IllegalArgumentException("backend c does not generate code for target " + target.name());
        };
    }

    static List<String> flags(Target target) {
        List<String> flags = new ArrayList<>(BASE_FLAGS);
        for (String f : target.compilerFlags()) if (!flags.contains(f)) flags.add(f);
        return flags;
    }

    /**
     * Win32 callers may give only 4-byte stack alignment, so functions realign it; on Win64 gcc cannot
     * realign the stack for 32-byte AVX spills (gcc bug 54412), so vector moves are assembled unaligned.
     */
    static List<String> windowsFlags(Target target) {
        List<String> flags = new ArrayList<>(WINDOWS_FLAGS);
        flags.addAll(target.compilerFlags());
        flags.add(target.arch() == Target.Arch.X86 ? "-mstackrealign" : "-Wa,-muse-unaligned-vector-move");
        return flags;
    }

    /**
     * An Android library as the NDK links one, without the NDK: the code and its libgcc helpers are linked
     * with {@code -nostdlib} against stub libc.so/libm.so/libdl.so defining exactly the functions it calls,
     * once {@link Bionic} confirmed the API level has them all; the NDK's .note.android.ident note records
     * the API level. So the library needs only bionic's libraries and no glibc symbol version.
     */
    private static GccCompiler.Compiled compileForAndroid(CCodeGenerator.CProgram program, Target target, Path dir, String compiler) {
        int api = target.androidApiLevel().orElseThrow();
        Path source = GccCompiler.writeSources(program, dir);
        Path work = dir.resolve("android-build");
        try {
            Files.createDirectories(work);
            Path object = work.resolve("model.o");
            Path note = work.resolve("android_ident.o");
            List<String> compile = new ArrayList<>(with(List.of(compiler), OPTIMISE.toArray(String[]::new)));
            compile.addAll(List.of("-fPIC", "-c"));
            compile.addAll(target.compilerFlags());
            compile.addAll(androidCompileFlags(target, work));
            GccCompiler.run(with(compile, "-o", object.toString(), source.toString()), "the C compiler", "to compile " + source);
            GccCompiler.run(with(compile, "-o", note.toString(), writeAssembly(work.resolve("android_ident.S"), androidIdentNote(api)).toString()),
                    "the C compiler", "to assemble the Android note for " + target.name());

            List<String> link = new ArrayList<>(List.of(compiler, "-shared", "-nostdlib"));
            link.addAll(target.compilerFlags());
            Path probe = work.resolve("unresolved.so");
            GccCompiler.run(with(link, "-o", probe.toString(), object.toString(), note.toString(), "-lgcc"),
                    "the C compiler", "to link " + source + " for " + target.name());
            Map<String, Set<String>> imports = Bionic.resolve(undefinedSymbols(compiler, probe), api, target.name());

            List<String> stubs = new ArrayList<>();
            for (var e : imports.entrySet()) {
                Path stub = work.resolve(e.getKey());
                Path stubSource = writeAssembly(work.resolve(e.getKey().replace(".so", "") + "_stub.S"), stubFunctions(e.getValue()));
                GccCompiler.run(with(link, "-Wl,-soname," + e.getKey(), "-o", stub.toString(), stubSource.toString()),
                        "the C compiler", "to build the bionic stub " + e.getKey() + " for " + target.name());
                stubs.add(stub.toString());
            }
            Path library = dir.resolve(ANDROID_LIBRARY);
            List<String> finalLink = with(link, "-Wl,-soname," + ANDROID_LIBRARY, "-Wl,--hash-style=both", "-Wl,-z,defs",
                    "-Wl,-z,noexecstack", "-o", library.toString(), object.toString(), note.toString(), "-lgcc");
            // 64-bit Android runs on 16 KiB pages since Android 15.
            if (target.arch() == Target.Arch.X86_64 || target.arch() == Target.Arch.ARM64) finalLink.add("-Wl,-z,max-page-size=16384");
            finalLink.addAll(stubs);
            GccCompiler.run(finalLink, "the C compiler", "to link " + library + " for " + target.name());
            deleteTree(work);
            return new GccCompiler.Compiled(library, dir.resolve("weights.bin"), source, program.arenaBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * What the Debian cross compilers need to build for bionic. ARM64: atomics inline, as libgcc's
     * out-of-line ones probe the CPU through glibc's private __getauxval. ARM_EABI: the armhf glibc headers
     * stand in for bionic's; for the soft-float calling convention they include gnu/stubs-soft.h, the list
     * of functions that glibc ABI lacks, which the armhf sysroot does not ship: an empty one lists none.
     */
    private static List<String> androidCompileFlags(Target target, Path work) throws IOException {
        return switch (target.arch()) {
            case ARM64 -> List.of("-mno-outline-atomics");
            case ARM_EABI -> {
                Path include = work.resolve("include");
                Files.createDirectories(include.resolve("gnu"));
                Files.writeString(include.resolve("gnu/stubs-soft.h"), "/* no functions lacking */\n", StandardCharsets.UTF_8);
                yield List.of("-I" + include);
            }
            default -> List.of();
        };
    }

    /** The NDK's ELF note: owner "Android", type 1, the API level the library was built for. */
    static String androidIdentNote(int apiLevel) {
        return "\t.section .note.android.ident,\"a\",%note\n\t.balign 4\n\t.long 8, 4, 1\n\t.asciz \"Android\"\n"
                + "\t.balign 4\n\t.long " + apiLevel + "\n";
    }

    /** Empty function symbols: only their names and types matter to the linker. */
    private static String stubFunctions(Set<String> names) {
        return "\t.text\n" + names.stream().map(n -> "\t.globl " + n + "\n\t.type " + n + ", %function\n" + n + ":\n")
                .collect(Collectors.joining());
    }

    /** An assembly file, marked as needing no executable stack. */
    private static Path writeAssembly(Path file, String body) throws IOException {
        return Files.writeString(file, body + "\t.section .note.GNU-stack,\"\",%progbits\n", StandardCharsets.UTF_8);
    }

    /** The dynamic symbols a shared library leaves undefined, read with the toolchain's nm. */
    static Set<String> undefinedSymbols(String compiler, Path library) {
        String nm = GccCompiler.run(List.of(compiler, "-print-prog-name=nm"), "the C compiler", "to find nm").strip();
        String listing = GccCompiler.run(List.of(nm, "-D", "--undefined-only", library.toString()), "nm",
                "to list the undefined symbols of " + library);
        Set<String> symbols = new HashSet<>();
        for (String line : listing.split("\n")) {
            String[] fields = line.strip().split("\\s+");
            if (fields.length == 2 && fields[0].equals("U")) symbols.add(fields[1]);
        }
        return symbols;
    }

    private static List<String> with(List<String> command, String... more) {
        List<String> c = new ArrayList<>(command);
        c.addAll(List.of(more));
        return c;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
