package dev.kiln.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Targets;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.runtime.artifact.ArtifactReader;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.kiln.cli.KilnCliTest.assertUserError;
import static dev.kiln.cli.KilnCliTest.kiln;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln run ARTIFACT --profile}: each node of the compiled graph, timed in its native code. */
class RunProfileTest {
    @TempDir
    static Path dir;

    private static Path artifact;
    private static Path input;
    /** "name op" of each node of the artifact's optimised graph (model.ir). */
    private static Set<String> graphNodes;

    /** A node line of model.ir: its name (bare or quoted) and, after its outputs, its op. */
    private static final Pattern NODE = Pattern.compile("^\\s*node @(\"(?:[^\"\\\\]|\\\\.)*\"|\\S+) .*? = ([A-Za-z0-9_]+)\\(");

    @BeforeAll
    static void compile() throws Exception {
        Path m = Fixtures.dir("squeezenet1_1");
        input = m.resolve("input0.npy");
        artifact = Compiler.compile(OnnxFrontend.load(m.resolve("model.onnx"), (String) null), Targets.device("ml_c4"),
                CompilerOptions.NONE, dir, "squeezenet1_1").artifact();
        ArtifactReader.Artifact a = ArtifactReader.extract(artifact, dir.resolve("extracted"));
        graphNodes = new HashSet<>();
        for (String line : Files.readAllLines(a.component("ir"))) {
            Matcher n = NODE.matcher(line);
            if (n.find()) graphNodes.add(unquote(n.group(1)) + " " + n.group(2));
        }
        assertTrue(graphNodes.size() > 10, "squeezenet's optimised graph has its convolutions: " + graphNodes);
    }

    private static String unquote(String name) {
        return name.startsWith("\"") ? name.substring(1, name.length() - 1).replace("\\\"", "\"").replace("\\\\", "\\") : name;
    }

    @Test
    void tableListsTheGraphsNodesSlowestFirstWithSharesOfAllTheirTime() {
        KilnCliTest.Result r = kiln("run", artifact.toString(), "--input", "input0=" + input, "--profile", "--warmup", "1", "--repeat", "5", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        System.out.print(r.out());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).startsWith("squeezenet1_1: median of 5 runs on 1 thread: "), lines.get(0));
        assertTrue(lines.get(1).matches("node\\s+op\\s+ms\\s+share\\s+FLOPs\\s+GFLOP/s"), lines.get(1));
        Set<String> seen = new HashSet<>();
        double shares = 0;
        double previous = Double.MAX_VALUE;
        for (String line : lines.subList(2, lines.size())) {
            String[] cells = line.trim().split("\\s+");
            assertEquals(6, cells.length, line);
            seen.add(cells[0] + " " + cells[1]);
            double ms = Double.parseDouble(cells[2]);
            assertTrue(ms <= previous, "sorted by time: " + line);
            previous = ms;
            shares += Double.parseDouble(cells[3].replace("%", ""));
            if (cells[1].equals("FusedConv")) assertTrue(cells[4].matches("[0-9.]+M"), "a convolution's FLOPs: " + line);
            if (cells[4].equals("-")) assertEquals("-", cells[5], "no FLOPs, no rate: " + line);
        }
        assertEquals(graphNodes, seen);
        assertEquals(100, shares, 0.05 * seen.size() + 0.1, "shares of the nodes' time");
    }

    @Test
    void jsonGivesTheSameNodesAndWritesOutputsWhenAsked() throws Exception {
        KilnCliTest.Result r = kiln("run", artifact.toString(), "--input", "input0=" + input, "--profile", "--json", "--repeat", "3",
                "--output-dir", dir.resolve("out").toString());
        assertEquals(0, r.code(), r.err());
        JsonNode root = new ObjectMapper().readTree(r.out());
        assertEquals("squeezenet1_1", root.get("model").asText());
        assertEquals(3, root.get("runs").asInt());
        assertTrue(root.get("median_ms").asDouble() > 0, r.out());
        List<String> nodes = new ArrayList<>();
        double shares = 0;
        double ms = 0;
        for (JsonNode n : root.get("nodes")) {
            nodes.add(n.get("node").asText() + " " + n.get("op").asText());
            shares += n.get("share").asDouble();
            ms += n.get("ms").asDouble();
            if (n.get("flops").asLong() > 0 && n.get("ms").asDouble() >= 1e-3) assertTrue(n.get("gflops_per_s").asDouble() > 0, n.toString());
            if (n.get("flops").asLong() == 0) assertTrue(n.get("gflops_per_s").isNull(), n.toString());
        }
        assertEquals(graphNodes, new HashSet<>(nodes));
        assertEquals(graphNodes.size(), nodes.size());
        assertEquals(1, shares, 1e-9);
        assertEquals(root.get("nodes_ms").asDouble(), ms, 1e-9);
        assertTrue(Files.isRegularFile(dir.resolve("out/output0.npy")));
    }

    @Test
    void profileIsForCompiledArtifacts() {
        Path model = Fixtures.dir("squeezenet1_1").resolve("model.onnx");
        assertUserError(kiln("run", model.toString(), "--input", "input0=" + input, "--profile"),
                "--profile times the nodes of a compiled artifact (MODEL-TARGET.tar.gz), not of " + model);
        assertUserError(kiln("run", artifact.toString(), "--input", "input0=" + input, "--json", "--output-dir", dir.toString()),
                "--json goes with --profile");
        assertUserError(kiln("run", artifact.toString(), "--input", "input0=" + input, "--profile", "--repeat", "0"),
                "--repeat must be an integer of at least 1, got '0'");
    }
}
