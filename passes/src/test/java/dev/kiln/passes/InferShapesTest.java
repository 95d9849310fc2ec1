package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static dev.kiln.passes.PassTesting.assertRewrites;
import static dev.kiln.passes.PassTesting.assertSameOutputs;
import static dev.kiln.passes.PassTesting.fixture;
import static dev.kiln.passes.PassTesting.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InferShapesTest {

    @Test
    void staticInputShapesReachEveryValue() {
        assertRewrites(new InferShapes(), """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %w : f32[3] = [1.0, 2.0, 3.0]
                  const %shape : i64[2] = [-1, 1]
                  node @add %y = Add(%x, %w) : f32[N,3]
                  node @reshape %z = Reshape(%y, %shape) : f32[M,1]
                  node @relu %r = Relu(%z) : f32[M,1]
                  output %r
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %w : f32[3] = [1.0, 2.0, 3.0]
                  const %shape : i64[2] = [-1, 1]
                  node @add %y = Add(%x, %w) : f32[2,3]
                  node @reshape %z = Reshape(%y, %shape) : f32[6,1]
                  node @relu %r = Relu(%z) : f32[6,1]
                  output %r
                }
                """);
    }

    @Test
    void typesOnlyGetMorePrecise() {
        // NonZero's count is data-dependent: inference has only a symbol, so the recorded size stays.
        assertRewrites(new InferShapes(), """
                kiln.ir 1
                graph g {
                  input %x : f32[N,4]
                  node @nz %i = NonZero(%x) : i64[2,5]
                  node @relu %y = Relu(%x) : f32[B,4]
                  output %i
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[N,4]
                  node @nz %i = NonZero(%x) : i64[2,5]
                  node @relu %y = Relu(%x) : f32[B,4]
                  output %i
                  output %y
                }
                """);
    }

    @Test
    void aContradictionNamesTheNode() {
        Graph g = parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  node @relu %y = Relu(%x) : f32[2,4]
                  output %y
                }
                """);
        IrException e = assertThrows(IrException.class, () -> new InferShapes().apply(g, PassTesting.context()));
        assertTrue(e.getMessage().contains("Relu node 'relu'"), e.getMessage());
        assertTrue(e.getMessage().contains("f32[2,4]") && e.getMessage().contains("f32[2,3]"), e.getMessage());
    }

    @Test
    void unknownOpKeepsItsTypesAndIsReported() {
        Graph g = parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  node @custom %y = MyCustomOp(%x) : f32[K,3]
                  node @relu %z = Relu(%y) : f32[J,3]
                  output %z
                }
                """);
        List<String> log = new ArrayList<>();
        Graph out = new InferShapes().apply(g, PassContext.builder().verify(false).debugLog(log::add).build());
        assertEquals("f32[K,3]", out.value("y").type().toString());
        assertEquals("f32[J,3]", out.value("z").type().toString(), "J already says as much as K");
        assertEquals(List.of("infer-shapes: keeps the types of node @custom: unknown op MyCustomOp"), log);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesComeOutStaticAndUnchanged(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph after = new InferShapes().apply(fixture(model), PassTesting.context());
        for (Node n : after.nodes()) {
            for (Value v : n.outputs()) assertTrue(v.type().shape().isStatic(), n + " output " + v);
        }
        assertSameOutputs(fixture(model), after, 1e-4);
    }
}
