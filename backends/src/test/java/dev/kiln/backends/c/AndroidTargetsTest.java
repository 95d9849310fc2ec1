package dev.kiln.backends.c;

import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static dev.kiln.backends.c.PlatformTesting.tool;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Android TargetPlatforms: every architecture compiles into a library that needs only bionic's libc.so,
 * libm.so and libdl.so, carries no glibc symbol version, calls only what bionic has at its API level and
 * is stamped with that level; the X86_64, X86 and ARM64 libraries run (natively or under qemu-user, glibc
 * standing in for bionic) and match the interpreter.
 */
class AndroidTargetsTest {
    private static final Pattern NEEDED = Pattern.compile("\\(NEEDED\\)\\s+Shared library: \\[([^]]+)]");
    private static final Pattern SONAME = Pattern.compile("\\(SONAME\\)\\s+Library soname: \\[([^]]+)]");
    private static final Pattern UNDEFINED = Pattern.compile("^ *\\d+: 0+ +\\d+ +\\w+ +\\w+ +\\w+ +UND +(\\S+)", Pattern.MULTILINE);
    private static final Map<String, String> COMPILER_PACKAGES = Map.of("gcc", "gcc", "i686-linux-gnu-gcc", "gcc-i686-linux-gnu libc6-dev-i386-cross",
            "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
            "arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf libc6-dev-armhf-cross");

    @TempDir
    Path dir;

    static Stream<Arguments> archesAndLevels() {
        return Stream.of(Arguments.of("X86_64", 21), Arguments.of("X86", 24), Arguments.of("ARM64", 29), Arguments.of("ARM_EABI", 21));
    }

    private static Target android(String arch, int apiLevel) {
        String options = "{'ANDROID_PLATFORM': " + apiLevel + (arch.equals("ARM_EABI") ? ", 'mattr': ['+neon']" : "") + "}";
        Target target = Targets.platform("ANDROID", arch, null, options);
        String compiler = target.toolchain().orElseThrow().compiler();
        PlatformTesting.requireCommand(compiler, COMPILER_PACKAGES.get(compiler));
        return target;
    }

    @ParameterizedTest
    @MethodSource("archesAndLevels")
    void libraryNeedsOnlyBionic(String arch, int apiLevel) throws Exception {
        Target target = android(arch, apiLevel);
        GccCompiler.Compiled compiled = CBackend.compile(NativeTesting.program(PlatformTesting.smallGraph(), target), target, dir);
        String library = compiled.library().toString();
        assertEquals("model.so", compiled.library().getFileName().toString());

        String dynamic = tool("readelf", "-d", library);
        assertEquals(Set.of("libc.so", "libm.so"), matches(NEEDED, dynamic), dynamic);
        assertEquals(Set.of("model.so"), matches(SONAME, dynamic));
        assertTrue(dynamic.contains("(HASH)"), "API levels below 23 need DT_HASH:\n" + dynamic);

        String notes = tool("readelf", "-n", library);
        assertTrue(notes.contains("Displaying notes found in: .note.android.ident"), notes);
        assertTrue(notes.matches("(?s).*Android\\s+0x00000004\\s+NT_VERSION.*"), notes);
        assertTrue(notes.contains(String.format("description data: %02x 00 00 00", apiLevel)), notes);

        String versions = tool("readelf", "-V", library);
        assertFalse(versions.contains("GLIBC"), versions);
        assertFalse(versions.contains(".gnu.version_r"), "no symbol versions are required:\n" + versions);
        assertFalse(tool("readelf", "-l", library).contains("INTERP"));

        Set<String> undefined = matches(UNDEFINED, tool("readelf", "-W", "--dyn-syms", library));
        assertTrue(undefined.containsAll(Set.of("malloc", "free", "pthread_create", "expf")), undefined.toString());
        for (String symbol : undefined) {
            Bionic.Function f = Bionic.FUNCTIONS.get(symbol);
            assertTrue(f != null && f.since() <= apiLevel, symbol + " is not in bionic at API level " + apiLevel);
        }
        System.out.println(target.name() + " API " + apiLevel + ": needs " + matches(NEEDED, dynamic) + ", calls " + undefined);
        assertEquals(undefined, CBackend.undefinedSymbols(target.toolchain().orElseThrow().compiler(), compiled.library()));
        assertFalse(Files.exists(dir.resolve("android-build")), "the stub libraries stay out of the artifact");
    }

    @ParameterizedTest
    @ValueSource(strings = {"X86_64", "X86", "ARM64"})
    void smallGraphRunsLikeTheInterpreter(String arch) {
        Target target = android(arch, 21);
        requireRunner(target);
        Graph g = PlatformTesting.smallGraph();
        PlatformTesting.assertLibraryRunMatches("platform graph", target, g, NativeTesting.randomInputs(g, 3), dir);
    }

    @ParameterizedTest
    @ValueSource(strings = {"X86_64", "ARM64"})
    void squeezenetRunsLikeTheInterpreter(String arch) throws Exception {
        Target target = android(arch, 26);
        requireRunner(target);
        Graph g = PlatformTesting.squeezenet();
        PlatformTesting.assertLibraryRunMatches("squeezenet1_1", target, g, PlatformTesting.squeezenetInputs(), dir);
    }

    @Test
    void functionsNewerThanTheApiLevelAreRefused() {
        assertEquals(Map.of("libc.so", Set.of("aligned_alloc", "free"), "libm.so", Set.of("expf")),
                Bionic.resolve(Set.of("expf", "free", "aligned_alloc"), 28, "android_arm64"));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Bionic.resolve(Set.of("expf", "aligned_alloc", "__isoc99_sscanf"), 27, "android_arm64"));
        assertEquals("backend c: the code for android_arm64 calls functions Android API level 27 (ANDROID_PLATFORM) does not "
                + "provide: __isoc99_sscanf (not in bionic's libc.so, libm.so or libdl.so), aligned_alloc (bionic's libc.so "
                + "has it from API level 28)", e.getMessage());
    }

    @Test
    void artifactManifestNamesTheAndroidLibrary() throws Exception {
        Target target = android("ARM64", 29);
        Graph g = new Graph("tiny");
        Value x = g.addInput("x", TensorType.of(DType.F32, 4, 4));
        g.addOutput(g.addNode("t", "Tanh", List.of(x), Map.of(), List.of("y")).output(0));
        var written = dev.kiln.backends.Compiler.compile(g, target, dev.kiln.backends.CompilerOptions.NONE, dir, "tiny");
        assertEquals(Map.of("ir", "model.ir", "library", "model.so", "source", "model.c", "weights", "weights.bin"),
                written.manifest().components());
        assertEquals("ANDROID", written.manifest().target().platform().get("os"));
        assertEquals(29L, written.manifest().target().platform().get("android_api_level"));
        var again = dev.kiln.backends.Compiler.compile(g, target, dev.kiln.backends.CompilerOptions.NONE, dir.resolve("again"), "tiny");
        assertArrayEquals(Files.readAllBytes(written.artifact()), Files.readAllBytes(again.artifact()), "reproducible");
    }

    /** The Linux toolchain (and qemu-user) the harness of an Android library is built and run with. */
    private static void requireRunner(Target target) {
        switch (target.arch()) {
            case X86 -> PlatformTesting.requireCommand("qemu-i386", "qemu-user");
            case ARM64 -> PlatformTesting.requireCommand("qemu-aarch64", "qemu-user");
            default -> { }
        }
    }

    private static Set<String> matches(Pattern p, String text) {
        Set<String> found = new TreeSet<>();
        Matcher m = p.matcher(text);
        while (m.find()) found.add(m.group(1));
        return found;
    }
}
