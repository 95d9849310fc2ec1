package dev.kiln.backends.c;

import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.ir.Graph;
import dev.kiln.runtime.artifact.ArtifactWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.kiln.backends.c.PlatformTesting.tool;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Windows TargetDevices: x86_win64 and x86_win32 compile with mingw-w64 into model.dll exporting the C
 * ABI and importing only Windows system DLLs; the Win32 branch of the thread pool compiles without
 * warnings; x86_win64 runs under Wine (wine64) and matches the interpreter. Win32 programs would need
 * wine32 (an i386 multiarch installation), so x86_win32 is checked by its build and exports.
 */
class WindowsTargetsTest {
    /** The C ABI of CCodeGenerator's class comment. */
    private static final Set<String> ABI = Set.of("kiln_arena_bytes", "kiln_init", "kiln_run", "kiln_num_inputs",
            "kiln_num_outputs", "kiln_input_rank", "kiln_output_rank", "kiln_input_dim", "kiln_output_dim",
            "kiln_input_dtype", "kiln_output_dtype", "kiln_output_dynamic", "kiln_output_data", "kiln_last_error",
            "kiln_set_threads", "kiln_shutdown", "kiln_num_nodes", "kiln_node_name", "kiln_node_op", "kiln_node_flops",
            "kiln_set_profiling", "kiln_profile");
    private static final Pattern EXPORT = Pattern.compile("^\\s*\\[\\s*\\d+]\\s+(\\S+)$", Pattern.MULTILINE);
    private static final Pattern IMPORT = Pattern.compile("DLL Name: (\\S+)");
    private static final Map<String, String> PACKAGES = Map.of("x86_win64", "gcc-mingw-w64-x86-64", "x86_win32", "gcc-mingw-w64-i686");

    @TempDir
    Path dir;

    private static Target windows(String device) {
        Target target = Targets.device(device);
        PlatformTesting.requireCommand(target.toolchain().orElseThrow().compiler(), PACKAGES.get(device));
        return target;
    }

    /** The triple's objdump, installed with the mingw-w64 compiler (binutils-mingw-w64). */
    private static String objdump(Target target) {
        return target.toolchain().orElseThrow().triple() + "-objdump";
    }

    @ParameterizedTest
    @ValueSource(strings = {"x86_win64", "x86_win32"})
    void threadPoolAndKernelsCompileWithoutWarnings(String device) throws Exception {
        Target target = windows(device);
        StringBuilder source = new StringBuilder();
        for (String f : KernelSources.all()) source.append(KernelSources.text(f)).append('\n');
        source.append("_Static_assert(sizeof(kiln_mutex) == sizeof(CRITICAL_SECTION), \"the Win32 thread branch is compiled\");\n");
        Path file = Files.writeString(dir.resolve("kernels.c"), source);
        for (List<String> isa : List.of(target.compilerFlags(), List.of("-march=haswell"), List.of("-march=skylake-avx512"))) {
            List<String> cmd = new ArrayList<>(List.of(target.toolchain().orElseThrow().compiler(), "-O3"));
            cmd.addAll(isa);
            cmd.addAll(List.of("-Wall", "-Wextra", "-Wno-unused-function", "-c", "-o", dir.resolve("kernels.o").toString(), file.toString()));
            assertEquals("", tool(cmd.toArray(String[]::new)), "warnings of " + String.join(" ", cmd));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"x86_win64", "x86_win32"})
    void dllExportsTheAbiAndImportsOnlyWindows(String device) throws Exception {
        Target target = windows(device);
        GccCompiler.Compiled compiled = CBackend.compile(NativeTesting.program(PlatformTesting.smallGraph(), target), target, dir);
        assertEquals("model.dll", compiled.library().getFileName().toString());
        String headers = tool(objdump(target), "-p", compiled.library().toString());
        assertEquals(new TreeSet<>(ABI), matches(EXPORT, headers.substring(headers.indexOf("[Ordinal/Name Pointer] Table"))), headers);
        // No libgcc_s, libwinpthread or other mingw DLL to ship beside the model.
        assertEquals(Set.of("KERNEL32.dll", "msvcrt.dll"), matches(IMPORT, headers), headers);
        assertEquals(target.arch() == Target.Arch.X86_64 ? "pei-x86-64" : "pei-i386",
                tool(objdump(target), "-f", compiled.library().toString()).replaceAll("(?s).*file format (\\S+).*", "$1"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"x86_win64", "x86_win32"})
    void squeezenetArtifactIsReproducible(String device) throws Exception {
        Target target = windows(device);
        Graph g = PlatformTesting.squeezenet();
        ArtifactWriter.Written first = Compiler.compile(g, target, CompilerOptions.NONE, dir.resolve("a"), "squeezenet1_1");
        ArtifactWriter.Written second = Compiler.compile(g, target, CompilerOptions.NONE, dir.resolve("b"), "squeezenet1_1");
        assertEquals(Map.of("ir", "model.ir", "library", "model.dll", "source", "model.c", "weights", "weights.bin"),
                first.manifest().components());
        assertEquals("WINDOWS", first.manifest().target().platform().get("os"));
        assertArrayEquals(Files.readAllBytes(first.artifact()), Files.readAllBytes(second.artifact()), "two compiles differ");
    }

    @Test
    void smallGraphRunsUnderWineLikeTheInterpreter() {
        Target target = windows("x86_win64");
        PlatformTesting.requireCommand(CTestHarness.WINE64.toString(), "wine64");
        Graph g = PlatformTesting.smallGraph();
        PlatformTesting.assertLibraryRunMatches("platform graph", target, g, NativeTesting.randomInputs(g, 4), dir);
    }

    /** AVX2 code on Win64, where gcc cannot align the stack for 32-byte spills (the backend makes vector moves unaligned). */
    @ParameterizedTest
    @ValueSource(strings = {"x86-64", "haswell"})
    void squeezenetRunsUnderWineLikeTheInterpreter(String cpu) throws Exception {
        Target target = Targets.device("x86_win64", CompilerOptions.parse("{'mcpu': '" + cpu + "'}"));
        windows("x86_win64");
        PlatformTesting.requireCommand(CTestHarness.WINE64.toString(), "wine64");
        Graph g = PlatformTesting.squeezenet();
        PlatformTesting.assertLibraryRunMatches("squeezenet1_1 (" + cpu + ")", target, g, PlatformTesting.squeezenetInputs(), dir);
    }

    private static Set<String> matches(Pattern p, String text) {
        Set<String> found = new TreeSet<>();
        Matcher m = p.matcher(text);
        while (m.find()) found.add(m.group(1));
        return found;
    }
}
