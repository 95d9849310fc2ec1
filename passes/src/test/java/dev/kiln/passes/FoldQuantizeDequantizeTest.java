package dev.kiln.passes;

import dev.kiln.ir.Graph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FoldQuantizeDequantizeTest {
    @Test
    void aSharedScaleAndZeroPointBecomeFloatOps() {
        PassTesting.assertRewrites(new FoldQuantizeDequantize(), """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,2,2]
                  const %s : f32[] = [0.5]
                  const %z : u8[] = [100]
                  node @q %xq = QuantizeLinear(%x, %s, %z) : u8[1,2,2,2]
                  node @dq %xd = DequantizeLinear(%xq, %s, %z) : f32[1,2,2,2]
                  node @relu %y = Relu(%xd) : f32[1,2,2,2]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,2,2]
                  const %s : f32[] = [0.5]
                  const %dq_lo : f32[] = [-100.0]
                  const %dq_hi : f32[] = [155.0]
                  node @dq_divide %dq_divided = Div(%x, %s) : f32[1,2,2,2]
                  node @dq_round %dq_rounded = Round(%dq_divided) : f32[1,2,2,2]
                  node @dq_saturate %dq_saturated = Clip(%dq_rounded, %dq_lo, %dq_hi) : f32[1,2,2,2]
                  node @dq %xd = Mul(%dq_saturated, %s) : f32[1,2,2,2]
                  node @relu %y = Relu(%xd) : f32[1,2,2,2]
                  output %y
                }
                """);
    }

    /** The folded graph gives the pair's values, the 8-bit types saturating on both sides (x / s spans [-250, 250]). */
    @ParameterizedTest
    @CsvSource({"u8, 50", "u8, 0", "i8, -3", "i8, 0", "u16, 30000", "i16, 7"})
    void givesWhatThePairGives(String type, int zero) {
        Graph before = PassTesting.parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[3,50]
                  const %s : f32[1] = [0.004]
                  const %z : %T[1] = [%Z]
                  node @q %xq = QuantizeLinear(%x, %s, %z) : %T[3,50]
                  node @dq %y = DequantizeLinear(%xq, %s, %z) : f32[3,50]
                  output %y
                }
                """.replace("%T", type).replace("%Z", Integer.toString(zero)));
        Graph after = new FoldQuantizeDequantize().apply(before, PassTesting.context());
        assertEquals(0, after.nodes().stream().filter(n -> n.op().endsWith("QuantizeLinear")).count(), PassTesting.print(after));
        PassTesting.assertSameOutputs(before, after, 0);
    }

    /** Another reader of the integer tensor keeps the QuantizeLinear; per-channel scales and differing pairs stay. */
    @Test
    void foldsOnlyPairsOfOneScaleAndZeroPoint() {
        PassTesting.assertRewrites(new FoldQuantizeDequantize(), """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,2]
                  const %s : f32[] = [0.5]
                  const %t : f32[] = [0.25]
                  const %c : f32[2] = [0.5, 0.25]
                  node @q %xq = QuantizeLinear(%x, %s) : u8[1,2,2]
                  node @dq %a = DequantizeLinear(%xq, %s) : f32[1,2,2]
                  node @other %b = DequantizeLinear(%xq, %t) : f32[1,2,2]
                  node @qc %xc = QuantizeLinear(%x, %c) {axis = 1} : u8[1,2,2]
                  node @dqc %d = DequantizeLinear(%xc, %c) {axis = 1} : f32[1,2,2]
                  output %a
                  output %b
                  output %d
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,2]
                  const %s : f32[] = [0.5]
                  const %dq_lo : f32[] = [0.0]
                  const %dq_hi : f32[] = [255.0]
                  const %t : f32[] = [0.25]
                  const %c : f32[2] = [0.5, 0.25]
                  node @q %xq = QuantizeLinear(%x, %s) : u8[1,2,2]
                  node @dq_divide %dq_divided = Div(%x, %s) : f32[1,2,2]
                  node @dq_round %dq_rounded = Round(%dq_divided) : f32[1,2,2]
                  node @dq_saturate %dq_saturated = Clip(%dq_rounded, %dq_lo, %dq_hi) : f32[1,2,2]
                  node @dq %a = Mul(%dq_saturated, %s) : f32[1,2,2]
                  node @other %b = DequantizeLinear(%xq, %t) : f32[1,2,2]
                  node @qc %xc = QuantizeLinear(%x, %c) {axis = 1} : u8[1,2,2]
                  node @dqc %d = DequantizeLinear(%xc, %c) {axis = 1} : f32[1,2,2]
                  output %a
                  output %b
                  output %d
                }
                """);
    }
}
