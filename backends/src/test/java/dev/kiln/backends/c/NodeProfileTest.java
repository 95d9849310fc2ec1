package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Profile;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.backends.c.NativeTesting.attrs;
import static dev.kiln.backends.c.NativeTesting.node;
import static dev.kiln.backends.c.NativeTesting.randomConstant;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The generated library's per-node profile (kiln_set_profiling, kiln_profile and the node tables) through NativeModel. */
class NodeProfileTest {
    @TempDir
    Path dir;

    /** Gemm -> Relu -> MatMul -> Conv, with node names a C string literal must escape. */
    private static Graph graph() {
        Random r = new Random(3);
        Graph g = new Graph("profiled");
        Value x = g.addInput("x", TensorType.of(DType.F32, 4, 24));
        Value h = node(g, "dense \"1\" ??/ \u00e9\u4e2d", "Gemm", List.of(x, randomConstant(g, "w1", r, 0.3, 24, 16), randomConstant(g, "b1", r, 0.3, 16)), Map.of());
        Value a = node(g, "relu\\n", "Relu", List.of(h), Map.of());
        Value m = node(g, "mm", "MatMul", List.of(a, randomConstant(g, "w2", r, 0.3, 16, 36)), Map.of());
        Value img = node(g, "img", "Reshape", List.of(m, g.addConstant("shape", TensorType.of(DType.I64, 4),
                java.nio.ByteBuffer.allocate(32).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(1).putLong(4).putLong(6).putLong(6).flip())), Map.of());
        g.addOutput(node(g, "conv", "Conv", List.of(img, randomConstant(g, "wc", r, 0.3, 5, 4, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1})));
        return g;
    }

    @Test
    void countsEachNodesTimeOnlyWhileOnAndNamesTheGraphsNodes() {
        Graph g = graph();
        NativeTesting.Compiled c = NativeTesting.planAndCompile(g, dir);
        List<Tensor> inputs = NativeTesting.randomInputs(g, 5);
        try (NativeModel m = c.load(1)) {
            List<Tensor> plain = m.run(inputs);
            Profile off = m.profile();
            assertEquals(0, off.runs());
            assertTrue(off.nodes().stream().allMatch(n -> n.nanos() == 0), "nothing counted before profiling is on: " + off);

            m.setProfiling(true);
            for (int i = 0; i < 3; i++) {
                List<Tensor> timed = m.run(inputs);
                for (int k = 0; k < plain.size(); k++) assertTrue(plain.get(k).contentEquals(timed.get(k)), "profiling changes no result");
            }
            Profile p = m.profile();
            assertEquals(3, p.runs());
            List<Node> nodes = c.graph().nodes();
            assertEquals(nodes.stream().map(Node::name).toList(), p.nodes().stream().map(Profile.Node::name).toList());
            assertEquals(nodes.stream().map(Node::op).toList(), p.nodes().stream().map(Profile.Node::op).toList());
            assertEquals(List.of(2L * 4 * 16 * 24, 0L, 2L * 4 * 36 * 16, 0L, 2L * 5 * 6 * 6 * (4 * 3 * 3)),
                    p.nodes().stream().map(Profile.Node::flops).toList());
            assertTrue(p.nodes().stream().allMatch(n -> n.nanos() >= 0), p.toString());
            assertTrue(p.nodes().stream().mapToLong(Profile.Node::nanos).sum() > 0, p.toString());

            m.setProfiling(false);
            m.run(inputs);
            Profile after = m.profile();
            assertEquals(0, after.runs(), "switching off resets the counters and counts no more runs");
            assertTrue(after.nodes().stream().allMatch(n -> n.nanos() == 0), after.toString());
        }
    }
}
