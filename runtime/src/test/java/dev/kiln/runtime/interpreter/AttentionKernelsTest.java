package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.runtime.interpreter.OneNodeGraphs.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Expected values come from a float64 numpy implementation of the ONNX Attention and
 * RotaryEmbedding equations (vectorised: repeat-interleaved KV heads, padded masks, bottom-right
 * causal offsets, zeroed fully-masked rows). Inputs are a fixed pattern (see {@link #pattern}) so
 * that the numpy script can rebuild them exactly.
 */
class AttentionKernelsTest {
    private static final float TOLERANCE = 1e-6f;
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    @Test
    void groupedQueryWithPastCausalPaddedMaskSoftcapAndBiasedScores() {
        Map<String, Attribute> attrs = Map.of("is_causal", Attribute.of(1L), "softcap", Attribute.of(1.5f),
                "qk_matmul_output_mode", Attribute.of(2L));
        List<Tensor> out = run("Attention", attrs, 4, pattern(1, 1, 4, 2, 3), pattern(2, 1, 2, 2, 3), pattern(3, 1, 2, 2, 2),
                pattern(4, 2, 3), pattern(5, 1, 2, 2, 3), pattern(6, 1, 2, 2, 2));
        assertClose(new long[] {1, 4, 2, 2}, new float[] {
                0.47891005873680115f, 0.3789100646972656f, 0.46205413341522217f, 0.36205413937568665f, 0.43996796011924744f,
                0.3399679660797119f, 0.4156043529510498f, 0.3156043589115143f, -0.007856101728975773f, -0.10785610973834991f,
                -0.02873305231332779f, -0.1287330538034439f, 0.04527854919433594f, -0.05472145974636078f, 0.07173202186822891f,
                -0.028267985209822655f}, out.get(0));
        assertClose(new long[] {1, 2, 4, 3}, new float[] {
                0.5f, 0.4f, 0.3f, 0.2f, 0.1f, 0.0f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.3f,
                -0.1f, -0.2f, -0.3f, -0.4f, -0.5f, -0.6f, 0.2f, 0.1f, 0.0f, -0.1f, -0.2f, -0.3f}, out.get(1));
        assertClose(new long[] {1, 2, 4, 2}, new float[] {
                0.4f, 0.3f, 0.2f, 0.1f, 0.7f, 0.6f, 0.5f, 0.4f, 0.0f, -0.1f, -0.2f, -0.3f, 0.3f, 0.2f, 0.1f, 0.0f}, out.get(2));
        assertClose(new long[] {1, 4, 2, 4}, new float[] {
                1.1404129266738892f, 0.6496119499206543f, 1.261866807937622f, NEG_INF, 0.6513134837150574f, 0.2980097234249115f,
                0.6850548982620239f, NEG_INF, 0.7496119737625122f, 0.5461734533309937f, 0.6516329646110535f, NEG_INF,
                0.24229347705841064f, 0.19422653317451477f, -0.009501413442194462f, NEG_INF, 0.7496119737625122f,
                0.8513134717941284f, 0.34229347109794617f, NEG_INF, 0.5516330003738403f, 0.7850549221038818f,
                -0.009501413442194462f, NEG_INF, 0.4104924499988556f, 0.17609068751335144f, 0.3480592668056488f, NEG_INF,
                0.10481388866901398f, -0.28949078917503357f, 0.21524250507354736f, NEG_INF}, out.get(3));
    }

    @Test
    void threeDimensionalMultiQueryWithFullyMaskedRowGivesZeros() {
        Map<String, Attribute> attrs = Map.of("q_num_heads", Attribute.of(2L), "kv_num_heads", Attribute.of(1L),
                "qk_matmul_output_mode", Attribute.of(3L));
        Tensor mask = Tensor.ofBooleans(new boolean[] {false, false, false, true, false, true}, 2, 3);
        List<Tensor> out = run("Attention", attrs, 4, pattern(7, 1, 2, 4), pattern(8, 1, 3, 2), pattern(9, 1, 3, 2), mask);
        assertClose(new long[] {1, 2, 4}, new float[] {
                0, 0, 0, 0, -0.10848020017147064f, -0.20848019421100616f, -0.11973457038402557f, -0.2197345644235611f}, out.get(0));
        assertArrayEquals(new long[] {1, 1, 3, 2}, out.get(1).shape());
        assertClose(new long[] {1, 2, 2, 3}, new float[] {
                0, 0, 0, 0.4787995219230652f, 0, 0.5212004780769348f, 0, 0, 0, 0.45066359639167786f, 0, 0.5493364334106445f}, out.get(3));
    }

    @Test
    void nonpadLengthsAlignCausalMaskPerBatchAndEmptyRowsAreZero() {
        List<Tensor> out = run("Attention", Map.of("is_causal", Attribute.of(1L)), 1,
                pattern(10, 2, 1, 3, 2), pattern(11, 2, 1, 4, 2), pattern(12, 2, 1, 4, 2), null, null, null,
                Tensor.ofLongs(new long[] {2, 4}, 2));
        assertClose(new long[] {2, 1, 3, 2}, new float[] {
                0, 0, -0.2f, -0.3f, -0.30635538697242737f, -0.4063553810119629f, 0.8301461935043335f, 0.7301462292671204f,
                0.7450963854789734f, 0.6450964212417603f, 0.5819541811943054f, 0.4819542169570923f}, out.get(0));
    }

    @Test
    void bidirectionalWindowSpecExample() {
        Map<String, Attribute> attrs = Map.of("left_window_size", Attribute.of(1L), "right_window_size", Attribute.of(2L));
        Tensor zeros = Tensor.ofFloats(new float[5], 1, 1, 5, 1);
        List<Tensor> out = run("Attention", attrs, 1, zeros, zeros, Tensor.ofFloats(new float[] {0, 1, 2, 3, 4}, 1, 1, 5, 1));
        assertClose(new long[] {1, 1, 5, 1}, new float[] {1.0f, 1.5f, 2.5f, 3.0f, 3.5f}, out.get(0));
    }

    @Test
    void float16IsComputedWideAndRoundedOnce() {
        List<Tensor> out = run("Attention", Map.of("scale", Attribute.of(0.75f)), 1,
                as(DType.F16, pattern(13, 1, 2, 3, 4)), as(DType.F16, pattern(14, 1, 2, 3, 4)), as(DType.F16, pattern(15, 1, 2, 3, 4)));
        assertEquals(DType.F16, out.get(0).dtype());
        assertArrayEquals(new float[] {
                -0.43310546875f, -0.10406494140625f, -0.2041015625f, -0.3037109375f, -0.60791015625f, 0.33447265625f, 0.234375f,
                0.134765625f, 0.2255859375f, 0.481201171875f, 0.381103515625f, 0.28125f, -0.1212158203125f, -0.2213134765625f,
                -0.321044921875f, -0.421142578125f, -0.247802734375f, -0.347900390625f, -0.447509765625f, -0.5478515625f,
                -0.364501953125f, -0.46435546875f, -0.56396484375f, -0.6640625f}, out.get(0).toFloatArray(), 0f);
    }

    @Test
    void threeDimensionalInputsNeedHeadCounts() {
        IrException e = assertThrows(IrException.class,
                () -> run("Attention", Map.of(), 1, pattern(1, 1, 2, 4), pattern(2, 1, 3, 4), pattern(3, 1, 3, 4)));
        assertTrue(e.getMessage().contains("q_num_heads and kv_num_heads"), e.getMessage());
    }

    @Test
    void pastKeyWithoutPastValueIsRejected() {
        IrException e = assertThrows(IrException.class, () -> run("Attention", Map.of(), 1,
                pattern(1, 1, 1, 2, 4), pattern(2, 1, 1, 3, 4), pattern(3, 1, 1, 3, 4), null, pattern(4, 1, 1, 2, 4)));
        assertTrue(e.getMessage().contains("past_key and past_value must be given together"), e.getMessage());
    }

    @Test
    void inferenceGivesPresentAndScoreShapesWithSymbolicSequence() {
        Graph g = new Graph("g");
        Value q = g.addInput("q", TensorType.of(DType.F32, new Shape(List.of(Dim.of(2), Dim.symbol("s"), Dim.of(12)))));
        Value k = g.addInput("k", TensorType.of(DType.F32, 2, 5, 4));
        Value v = g.addInput("v", TensorType.of(DType.F32, 2, 5, 6));
        Value pk = g.addInput("pk", TensorType.of(DType.F32, 2, 1, 3, 4));
        Value pv = g.addInput("pv", TensorType.of(DType.F32, 2, 1, 3, 6));
        Node n = g.addNode("n", "Attention", Arrays.asList(q, k, v, null, pk, pv),
                Map.of("q_num_heads", Attribute.of(3L), "kv_num_heads", Attribute.of(1L)), List.of("y", "pk2", "pv2", "qk"));
        assertEquals(List.of(Dim.of(2), Dim.symbol("s"), Dim.of(18)), n.output(0).type().shape().dims());
        assertArrayEquals(new long[] {2, 1, 8, 4}, n.output(1).type().shape().sizes());
        assertArrayEquals(new long[] {2, 1, 8, 6}, n.output(2).type().shape().sizes());
        assertEquals(List.of(Dim.of(2), Dim.of(3), Dim.symbol("s"), Dim.of(8)), n.output(3).type().shape().dims());
    }

    @Test
    void rotaryInterleavedPartialWithPositionIds() {
        Map<String, Attribute> attrs = Map.of("interleaved", Attribute.of(1L), "rotary_embedding_dim", Attribute.of(4L));
        List<Tensor> out = run("RotaryEmbedding", attrs, 1, pattern(16, 1, 2, 2, 6), pattern(17, 5, 2), pattern(18, 5, 2),
                Tensor.ofLongs(new long[] {3, 0}, 1, 2));
        assertClose(new long[] {1, 2, 2, 6}, new float[] {
                -0.010000034235417843f, -0.7200000286102295f, -0.040000010281801224f, -0.7699999809265137f, 0.9f, 0.8f,
                -0.00999995693564415f, -0.9800000190734863f, -0.040000010281801224f, -0.7699999809265137f, 0.3f, 0.2f,
                0.06000000238418579f, 0.05000000074505806f, 0.030000001192092896f, -0.14000000059604645f, -0.3f, -0.4f,
                -0.1300000250339508f, 0.8199999928474426f, -0.1599999964237213f, 1.2699999809265137f, -0.9f, 0.9f}, out.get(0));
    }

    @Test
    void rotaryThreeDimensionalHalvesWithoutPositionIds() {
        List<Tensor> out = run("RotaryEmbedding", Map.of("num_heads", Attribute.of(2L)), 1,
                pattern(19, 2, 2, 4), pattern(20, 2, 2, 1), pattern(21, 2, 2, 1));
        assertClose(new long[] {2, 2, 4}, new float[] {
                -1.5299999713897705f, 0.0899999663233757f, 0.1599999964237213f, 1.2699999809265137f, 0.1300000250339508f,
                0.8199999928474426f, 0.11000000685453415f, 0.5200000405311584f, 0.07999999821186066f, 0.1900000125169754f,
                0.06000000238418579f, -0.07000000029802322f, 0.029999999329447746f, -0.2800000011920929f, 0.009999986737966537f,
                -0.5f}, out.get(0));
    }

    @Test
    void rotaryRejectsPositionsOutsideTheCache() {
        InterpreterException e = assertThrows(InterpreterException.class, () -> run("RotaryEmbedding", Map.of(), 1,
                pattern(1, 1, 1, 2, 4), pattern(2, 3, 2), pattern(3, 3, 2), Tensor.ofLongs(new long[] {0, 3}, 1, 2)));
        assertTrue(e.getMessage().contains("position id 3 is outside the 3 cached positions"), e.getMessage());
    }

    // ---- helpers ----

    /** ((k + seed) * 37 % 19 - 9) / 10 for element k, as float32: the same pattern the numpy script builds. */
    private static Tensor pattern(int seed, long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (int k = 0; k < t.size(); k++) t.setDouble(k, (float) (((k + seed) * 37 % 19 - 9) / 10.0));
        return t;
    }

    private static Tensor as(DType dtype, Tensor t) {
        Tensor r = Tensor.allocate(dtype, t.shape());
        for (int i = 0; i < t.size(); i++) r.setDouble(i, t.getDouble(i));
        return r;
    }

    private static void assertClose(long[] shape, float[] expected, Tensor actual) {
        assertArrayEquals(shape, actual.shape());
        assertArrayEquals(expected, actual.toFloatArray(), TOLERANCE);
    }
}
