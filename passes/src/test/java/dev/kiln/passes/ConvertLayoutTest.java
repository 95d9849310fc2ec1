package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.LayoutRule;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;

import static dev.kiln.passes.PassTesting.assertSameOutputs;
import static dev.kiln.passes.PassTesting.fixture;
import static dev.kiln.passes.PassTesting.parse;
import static dev.kiln.passes.PassTesting.print;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConvertLayoutTest {

    private static PassContext context(String layout, List<String> log) {
        return PassContext.builder().options(PassOptions.defaults().withLayout(layout)).evaluator(new InterpreterEvaluator())
                .debugLog(log::add).build();
    }

    private static Graph convert(Graph g, String layout) { return convert(g, layout, new ArrayList<>()); }

    private static Graph convert(Graph g, String layout, List<String> log) {
        return new ConvertLayout().apply(g, context(layout, log));
    }

    /** Converts the IR text, checks the result's text and that it computes what the source does. */
    private static Graph assertConverts(String layout, String before, String after) {
        Graph out = convert(parse(before), layout);
        assertEquals(after, print(out));
        assertSameOutputs(parse(before), out, 1e-6);
        return out;
    }

    private static final String CHAIN = """
            kiln.ir 1
            graph g {
              input %x : f32[1,2,4,4]
              const %w1 : f32[4,2,1,1] = [1.0, -1.0, 0.5, 2.0, -0.5, 1.5, 2.0, -2.0]
              const %b1 : f32[4] = [0.1, 0.2, -0.3, 0.4]
              const %w2 : f32[2,4,1,1] = [1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -4.0]
              node @conv1 %a = Conv(%x, %w1, %b1) : f32[1,4,4,4]
              node @relu %b = Relu(%a) : f32[1,4,4,4]
              node @conv2 %c = Conv(%b, %w2) : f32[1,2,4,4]
              node @pool %y = MaxPool(%c) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1,2,2,2]
              output %y
            }
            """;

    @Test
    void nhwcChainTransformsOnlyAtTheEdges() {
        assertConverts("NHWC", CHAIN, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,4,4]
                  const %w1_HWIO : f32[1,1,2,4]@HWIO = [1.0, 0.5, -0.5, 2.0, -1.0, 2.0, 1.5, -2.0]
                  const %b1 : f32[4] = [0.1, 0.2, -0.3, 0.4]
                  const %w2_HWIO : f32[1,1,4,2]@HWIO = [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0]
                  node @x_NHWC %x_NHWC = LayoutTransform(%x) {dst_layout = "NHWC", src_layout = "NCHW"} : f32[1,4,4,2]@NHWC
                  node @conv1 %a = Conv(%x_NHWC, %w1_HWIO, %b1) : f32[1,4,4,4]@NHWC
                  node @relu %b = Relu(%a) : f32[1,4,4,4]@NHWC
                  node @conv2 %c = Conv(%b, %w2_HWIO) : f32[1,4,4,2]@NHWC
                  node @pool %y_NHWC = MaxPool(%c) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1,2,2,2]@NHWC
                  node @y_plain %y = LayoutTransform(%y_NHWC) {dst_layout = "NCHW", src_layout = "NHWC"} : f32[1,2,2,2]
                  output %y
                }
                """);
    }

    @Test
    void blockedChainPadsChannelsAndBlocksFilters() {
        assertConverts("NCHW2c", CHAIN, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,4,4]
                  const %w1_OIHW2i2o : f32[2,1,1,1,2,2]@OIHW2i2o = [1.0, 0.5, -1.0, 2.0, -0.5, 2.0, 1.5, -2.0]
                  const %b1 : f32[4] = [0.1, 0.2, -0.3, 0.4]
                  const %w2_OIHW2i2o : f32[1,2,1,1,2,2]@OIHW2i2o = [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0]
                  node @x_NCHW2c %x_NCHW2c = LayoutTransform(%x) {dst_layout = "NCHW2c", src_layout = "NCHW"} : f32[1,1,4,4,2]@NCHW2c
                  node @conv1 %a = Conv(%x_NCHW2c, %w1_OIHW2i2o, %b1) : f32[1,2,4,4,2]@NCHW2c
                  node @relu %b = Relu(%a) : f32[1,2,4,4,2]@NCHW2c
                  node @conv2 %c = Conv(%b, %w2_OIHW2i2o) : f32[1,1,4,4,2]@NCHW2c
                  node @pool %y_NCHW2c = MaxPool(%c) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1,1,2,2,2]@NCHW2c
                  node @y_plain %y = LayoutTransform(%y_NCHW2c) {dst_layout = "NCHW", src_layout = "NCHW2c"} : f32[1,2,2,2]
                  output %y
                }
                """);
    }

    @Test
    void convolutionsOfFewerChannelsThanABlockStayPlainAndTheirOutputsMove() {
        List<String> log = new ArrayList<>();
        Graph out = convert(parse(CHAIN), "NCHW4c", log);
        assertEquals("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,4,4]
                  const %w1 : f32[4,2,1,1] = [1.0, -1.0, 0.5, 2.0, -0.5, 1.5, 2.0, -2.0]
                  const %b1 : f32[4] = [0.1, 0.2, -0.3, 0.4]
                  const %w2_OIHW4i4o : f32[1,1,1,1,4,4]@OIHW4i4o = [1.0, -1.0, 0.0, 0.0, 2.0, -2.0, 0.0, 0.0, 3.0, -3.0, 0.0, 0.0, 4.0, -4.0, 0.0, 0.0]
                  node @conv1 %a = Conv(%x, %w1, %b1) : f32[1,4,4,4]
                  node @relu %b = Relu(%a) : f32[1,4,4,4]
                  node @b_NCHW4c %b_NCHW4c = LayoutTransform(%b) {dst_layout = "NCHW4c", src_layout = "NCHW"} : f32[1,1,4,4,4]@NCHW4c
                  node @conv2 %c = Conv(%b_NCHW4c, %w2_OIHW4i4o) : f32[1,1,4,4,4]@NCHW4c
                  node @pool %y_NCHW4c = MaxPool(%c) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1,1,2,2,4]@NCHW4c
                  node @y_plain %y = LayoutTransform(%y_NCHW4c) {channels = 2, dst_layout = "NCHW", src_layout = "NCHW4c"} : f32[1,2,2,2]
                  output %y
                }
                """, print(out));
        assertSameOutputs(parse(CHAIN), out, 1e-6);
        assertTrue(log.stream().anyMatch(m -> m.contains("@conv1") && m.contains("its 2 input channels are fewer than a block of 4")), log.toString());
    }

    /** A bottleneck of fewer channels than a block, computed in blocks, stays in them: no transforms around it. */
    @Test
    void aNarrowBottleneckInBlocksStaysInBlocks() {
        String bottleneck = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,8,3,3]
                  const %w1 : f32[2,8,1,1] = [1.0, -1.0, 0.5, 2.0, -0.5, 1.5, 2.0, -2.0, 0.25, 1.0, -1.0, 0.5, 0.75, -0.25, 1.0, 3.0]
                  const %w2 : f32[8,2,3,3] = [-1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, \
                    -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, \
                    -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, \
                    0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, \
                    0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, \
                    1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, \
                    -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, \
                    -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, \
                    0.0, -1.0, 0.75, -0.25, -1.25, 0.5, -0.5, 1.25, 0.25, -0.75, 1.0, 0.0, -1.0, 0.75, -0.25, -1.25]
                  node @squeeze %a = Conv(%x, %w1) : f32[1,2,3,3]
                  node @relu %b = Relu(%a) : f32[1,2,3,3]
                  node @expand %y = Conv(%b, %w2) {pads = [1, 1, 1, 1]} : f32[1,8,3,3]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        Graph out = convert(parse(bottleneck), "NCHW4c", log);
        assertSameOutputs(parse(bottleneck), out, 1e-6);
        assertEquals(2, count(out, "LayoutTransform"), print(out));
        assertTrue(out.nodes().stream().filter(n -> n.op().equals("Conv")).allMatch(n -> n.input(0).type().layout().name().equals("NCHW4c")),
                print(out));
    }

    @Test
    void depthwiseConvolutionPadsItsGroupsAndBroadcastConstantsFollow() {
        assertConverts("NCHW2c", """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3,4,4]
                  const %w : f32[3,1,1,1] = [2.0, -1.0, 0.5]
                  const %b : f32[3] = [0.5, 0.0, -0.5]
                  const %shift : f32[3,1,1] = [1.0, 2.0, 3.0]
                  const %mask : f32[4,4] = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
                  node @dw %a = Conv(%x, %w, %b) {group = 3} : f32[1,3,4,4]
                  node @add %c = Add(%a, %shift) : f32[1,3,4,4]
                  node @mul %d = Mul(%c, %mask) : f32[1,3,4,4]
                  node @gap %e = GlobalAveragePool(%d) : f32[1,3,1,1]
                  node @flat %y = Flatten(%e) : f32[1,3]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3,4,4]
                  const %w_OIHW2o : f32[2,1,1,1,2]@OIHW2o = [2.0, -1.0, 0.5, 0.0]
                  const %b_padded : f32[4] = [0.5, 0.0, -0.5, 0.0]
                  const %shift_NCHW2c : f32[1,2,1,1,2]@NCHW2c = [1.0, 2.0, 3.0, 0.0]
                  const %mask_NCHW2c : f32[1,1,4,4,1]@NCHW2c = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
                  node @x_NCHW2c %x_NCHW2c = LayoutTransform(%x) {dst_layout = "NCHW2c", src_layout = "NCHW"} : f32[1,2,4,4,2]@NCHW2c
                  node @dw %a = Conv(%x_NCHW2c, %w_OIHW2o, %b_padded) {group = 4} : f32[1,2,4,4,2]@NCHW2c
                  node @add %c = Add(%a, %shift_NCHW2c) : f32[1,2,4,4,2]@NCHW2c
                  node @mul %d = Mul(%c, %mask_NCHW2c) : f32[1,2,4,4,2]@NCHW2c
                  node @gap %e = GlobalAveragePool(%d) : f32[1,2,1,1,2]@NCHW2c
                  node @e_plain %e_plain = LayoutTransform(%e) {channels = 3, dst_layout = "NCHW", src_layout = "NCHW2c"} : f32[1,3,1,1]
                  node @flat %y = Flatten(%e_plain) : f32[1,3]
                  output %y
                }
                """);
    }

    /** Groups of 2 channels padded from 6 to 8: the padding is a fourth group, of zero filters and bias. */
    @Test
    void groupedConvolutionPadsWholeGroups() {
        assertConverts("NCHW4c", """
                kiln.ir 1
                graph g {
                  input %x : f32[1,6,2,2]
                  const %w : f32[6,2,1,1] = [1.0, -1.0, 0.5, 2.0, -0.5, 1.5, 2.0, -2.0, 0.25, 1.0, -1.0, 3.0]
                  const %b : f32[6] = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6]
                  node @grouped %a = Conv(%x, %w, %b) {group = 3} : f32[1,6,2,2]
                  node @relu %y = Relu(%a) : f32[1,6,2,2]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,6,2,2]
                  const %w_OIHW4o : f32[2,2,1,1,4]@OIHW4o = [1.0, 0.5, -0.5, 2.0, -1.0, 2.0, 1.5, -2.0, 0.25, -1.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0]
                  const %b_padded : f32[8] = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.0, 0.0]
                  node @x_NCHW4c %x_NCHW4c = LayoutTransform(%x) {dst_layout = "NCHW4c", src_layout = "NCHW"} : f32[1,2,2,2,4]@NCHW4c
                  node @grouped %a = Conv(%x_NCHW4c, %w_OIHW4o, %b_padded) {group = 4} : f32[1,2,2,2,4]@NCHW4c
                  node @relu %y_NCHW4c = Relu(%a) : f32[1,2,2,2,4]@NCHW4c
                  node @y_plain %y = LayoutTransform(%y_NCHW4c) {channels = 6, dst_layout = "NCHW", src_layout = "NCHW4c"} : f32[1,6,2,2]
                  output %y
                }
                """);
    }

    @Test
    void squeezeExciteTakesBlocksWithItsWeightsPlainAndFewChannelsStayPlain() {
        assertConverts("NCHW4c", """
                kiln.ir 1
                graph g {
                  input %x : f32[1,6,2,2]
                  const %w1 : f32[2,6] = [0.5, -1.0, 0.25, 1.0, 2.0, -0.5, 1.5, 0.75, -0.5, 0.0, 1.0, 1.0]
                  const %w2 : f32[6,2] = [1.0, -2.0, 0.5, 0.5, -1.5, 2.0, 1.0, 1.0, 0.0, 1.0, -1.0, 0.0]
                  const %b1 : f32[2] = [0.1, -0.2]
                  const %b2 : f32[6] = [0.0, 0.3, -0.3, 0.0, 1.0, 2.0]
                  node @se %b = SqueezeExcite(%x, %w1, %w2, %b1, %b2) {activation = "Relu", gate = "Sigmoid"} : f32[1,6,2,2]
                  node @pool %y = MaxPool(%b) {kernel_shape = [2, 2]} : f32[1,6,1,1]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,6,2,2]
                  const %w1 : f32[2,6] = [0.5, -1.0, 0.25, 1.0, 2.0, -0.5, 1.5, 0.75, -0.5, 0.0, 1.0, 1.0]
                  const %w2 : f32[6,2] = [1.0, -2.0, 0.5, 0.5, -1.5, 2.0, 1.0, 1.0, 0.0, 1.0, -1.0, 0.0]
                  const %b1 : f32[2] = [0.1, -0.2]
                  const %b2_padded : f32[8] = [0.0, 0.3, -0.3, 0.0, 1.0, 2.0, 0.0, 0.0]
                  node @x_NCHW4c %x_NCHW4c = LayoutTransform(%x) {dst_layout = "NCHW4c", src_layout = "NCHW"} : f32[1,2,2,2,4]@NCHW4c
                  node @se %b = SqueezeExcite(%x_NCHW4c, %w1, %w2, %b1, %b2_padded) {activation = "Relu", gate = "Sigmoid"} : f32[1,2,2,2,4]@NCHW4c
                  node @pool %y_NCHW4c = MaxPool(%b) {kernel_shape = [2, 2]} : f32[1,2,1,1,4]@NCHW4c
                  node @y_plain %y = LayoutTransform(%y_NCHW4c) {channels = 6, dst_layout = "NCHW", src_layout = "NCHW4c"} : f32[1,6,1,1]
                  output %y
                }
                """);
        List<String> log = new ArrayList<>();
        Graph few = parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,3,2,2]
                  const %w1 : f32[1,3] = [0.5, -1.0, 0.25]
                  const %w2 : f32[3,1] = [1.0, -2.0, 0.5]
                  node @se %y = SqueezeExcite(%x, %w1, %w2) {activation = "Relu", gate = "Sigmoid"} : f32[1,3,2,2]
                  output %y
                }
                """);
        String unchanged = print(few);
        assertEquals(unchanged, print(convert(few, "NCHW4c", log)));
        assertTrue(log.stream().anyMatch(m -> m.contains("@se") && m.contains("its 3 input channels are fewer than a block of 4")), log.toString());
    }

    @Test
    void channelConcatStaysBlockedForWholeBlocksOnly() {
        String concat = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,4,2,2]
                  node @p1 %a = MaxPool(%x) {kernel_shape = [1, 1]} : f32[1,4,2,2]
                  node @p2 %b = AveragePool(%x) {kernel_shape = [1, 1]} : f32[1,4,2,2]
                  node @cat %c = Concat(%a, %b) {axis = 1} : f32[1,8,2,2]
                  node @pool %y = MaxPool(%c) {kernel_shape = [2, 2]} : f32[1,8,1,1]
                  output %y
                }
                """;
        Graph whole = assertConverts("NCHW4c", concat, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,4,2,2]
                  node @x_NCHW4c %x_NCHW4c = LayoutTransform(%x) {dst_layout = "NCHW4c", src_layout = "NCHW"} : f32[1,1,2,2,4]@NCHW4c
                  node @p1 %a = MaxPool(%x_NCHW4c) {kernel_shape = [1, 1]} : f32[1,1,2,2,4]@NCHW4c
                  node @p2 %b = AveragePool(%x_NCHW4c) {kernel_shape = [1, 1]} : f32[1,1,2,2,4]@NCHW4c
                  node @cat %c = Concat(%a, %b) {axis = 1} : f32[1,2,2,2,4]@NCHW4c
                  node @pool %y_NCHW4c = MaxPool(%c) {kernel_shape = [2, 2]} : f32[1,2,1,1,4]@NCHW4c
                  node @y_plain %y = LayoutTransform(%y_NCHW4c) {dst_layout = "NCHW", src_layout = "NCHW4c"} : f32[1,8,1,1]
                  output %y
                }
                """);
        assertEquals(2, count(whole, "LayoutTransform"));
        // parts of 4 channels in blocks of 8, computed from a blocked tensor (pools of few plain channels stay plain)
        String parts = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,8,2,2]
                  const %w : f32[4,8,1,1] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, \
                    0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -0.5, 0.0, 0.0, 0.0]
                  node @narrow %x4 = Conv(%x, %w) : f32[1,4,2,2]
                  node @p1 %a = MaxPool(%x4) {kernel_shape = [1, 1]} : f32[1,4,2,2]
                  node @p2 %b = AveragePool(%x4) {kernel_shape = [1, 1]} : f32[1,4,2,2]
                  node @cat %c = Concat(%a, %b) {axis = 1} : f32[1,8,2,2]
                  node @pool %y = MaxPool(%c) {kernel_shape = [2, 2]} : f32[1,8,1,1]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        Graph split = convert(parse(parts), "NCHW8c", log);
        assertSameOutputs(parse(parts), split, 1e-6);
        assertEquals(5, count(split, "LayoutTransform"));
        assertTrue(log.stream().anyMatch(m -> m.contains("@cat") && m.contains("not whole blocks of 8")), log.toString());
    }

    @Test
    void imageResizesFollowTheLayoutAndOthersStayPlain() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w : f32[3,2,1,1] = [1.0, -1.0, 0.5, 2.0, -0.5, 1.5]
                  const %scales : f32[4] = [1.0, 1.0, 2.0, 1.5]
                  const %sizes : i64[4] = [1, 3, 5, 4]
                  const %channels : f32[4] = [1.0, 2.0, 1.0, 1.0]
                  node @conv %a = Conv(%x, %w) : f32[1,3,3,3]
                  node @up %b = Resize(%a, _, %scales) {mode = "linear"} : f32[1,3,6,4]
                  node @pool %y1 = MaxPool(%b) {kernel_shape = [2, 2]} : f32[1,3,5,3]
                  node @sized %y2 = Resize(%a, _, _, %sizes) {mode = "nearest"} : f32[1,3,5,4]
                  node @deeper %y3 = Resize(%a, _, %channels) {mode = "nearest"} : f32[1,6,3,3]
                  output %y1
                  output %y2
                  output %y3
                }
                """;
        List<String> log = new ArrayList<>();
        Graph out = convert(parse(before), "NCHW2c", log);
        assertEquals("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w_OIHW2i2o : f32[2,1,1,1,2,2]@OIHW2i2o = [1.0, 0.5, -1.0, 2.0, -0.5, 0.0, 1.5, 0.0]
                  const %scales : f32[4] = [1.0, 1.0, 2.0, 1.5]
                  const %sizes : i64[4] = [1, 3, 5, 4]
                  const %channels : f32[4] = [1.0, 2.0, 1.0, 1.0]
                  node @x_NCHW2c %x_NCHW2c = LayoutTransform(%x) {dst_layout = "NCHW2c", src_layout = "NCHW"} : f32[1,1,3,3,2]@NCHW2c
                  node @conv %a = Conv(%x_NCHW2c, %w_OIHW2i2o) : f32[1,2,3,3,2]@NCHW2c
                  node @up %b = Resize(%a, _, %scales) {mode = "linear"} : f32[1,2,6,4,2]@NCHW2c
                  node @pool %y1_NCHW2c = MaxPool(%b) {kernel_shape = [2, 2]} : f32[1,2,5,3,2]@NCHW2c
                  node @a_plain %a_plain = LayoutTransform(%a) {channels = 3, dst_layout = "NCHW", src_layout = "NCHW2c"} : f32[1,3,3,3]
                  node @sized %y2 = Resize(%a_plain, _, _, %sizes) {mode = "nearest"} : f32[1,3,5,4]
                  node @deeper %y3 = Resize(%a_plain, _, %channels) {mode = "nearest"} : f32[1,6,3,3]
                  node @y1_plain %y1 = LayoutTransform(%y1_NCHW2c) {channels = 3, dst_layout = "NCHW", src_layout = "NCHW2c"} : f32[1,3,5,3]
                  output %y1
                  output %y2
                  output %y3
                }
                """, print(out));
        assertSameOutputs(parse(before), out, 1e-6);
        assertTrue(log.stream().anyMatch(m -> m.contains("@sized") && m.contains("its parameters name 3 channels, which the layout pads")), log.toString());
        assertTrue(log.stream().anyMatch(m -> m.contains("@deeper") && m.contains("resamples more than an image's height and width")), log.toString());
    }

    @Test
    void paddingChannelsAreZeroedAfterOpsThatDoNotKeepThemZero() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w1 : f32[3,2,1,1] = [1.0, -1.0, 0.5, 2.0, -0.5, 1.5]
                  const %w2 : f32[2,3,1,1] = [1.0, 2.0, 3.0, -1.0, -2.0, -3.0]
                  node @conv1 %a = Conv(%x, %w1) : f32[1,3,3,3]
                  node @abs %b = Abs(%a) : f32[1,3,3,3]
                  node @log %c = Log(%b) : f32[1,3,3,3]
                  node @conv2 %y = Conv(%c, %w2) : f32[1,2,3,3]
                  output %y
                }
                """;
        Graph out = assertConverts("NCHW2c", before, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w1_OIHW2i2o : f32[2,1,1,1,2,2]@OIHW2i2o = [1.0, 0.5, -1.0, 2.0, -0.5, 0.0, 1.5, 0.0]
                  const %w2_OIHW2i2o : f32[1,2,1,1,2,2]@OIHW2i2o = [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.0, 0.0]
                  node @x_NCHW2c %x_NCHW2c = LayoutTransform(%x) {dst_layout = "NCHW2c", src_layout = "NCHW"} : f32[1,1,3,3,2]@NCHW2c
                  node @conv1 %a = Conv(%x_NCHW2c, %w1_OIHW2i2o) : f32[1,2,3,3,2]@NCHW2c
                  node @abs %b = Abs(%a) : f32[1,2,3,3,2]@NCHW2c
                  node @log %c = Log(%b) : f32[1,2,3,3,2]@NCHW2c
                  node @c_padding %c_padded = LayoutTransform(%c) {channels = 3, dst_layout = "NCHW2c", src_layout = "NCHW2c"} : f32[1,2,3,3,2]@NCHW2c
                  node @conv2 %y_NCHW2c = Conv(%c_padded, %w2_OIHW2i2o) : f32[1,1,3,3,2]@NCHW2c
                  node @y_plain %y = LayoutTransform(%y_NCHW2c) {dst_layout = "NCHW", src_layout = "NCHW2c"} : f32[1,2,3,3]
                  output %y
                }
                """);
        assertEquals(3, count(out, "LayoutTransform"));
    }

    @Test
    void opsThatCannotMoveStayAndSaySo() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,6,4,4]
                  const %w : f32[6,3,1,1] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0]
                  node @grouped %a = Conv(%x, %w) {group = 2} : f32[1,6,4,4]
                  node @pool %y, %i = MaxPool(%a) {kernel_shape = [2, 2]} : f32[1,6,3,3], i64[1,6,3,3]
                  output %y
                  output %i
                }
                """;
        List<String> log = new ArrayList<>();
        Graph out = convert(parse(before), "NCHW4c", log);
        assertEquals(print(parse(before)), print(out));
        assertTrue(log.stream().anyMatch(m -> m.contains("@grouped") && m.contains("groups cannot be padded")), log.toString());
        assertTrue(log.stream().anyMatch(m -> m.contains("@pool") && m.contains("output 1 is used")), log.toString());
    }

    @Test
    void nchwAndGraphsWithoutConvolutionsAreLeftAsTheyAre() {
        Graph g = parse(CHAIN);
        assertSame(g, convert(g, "NCHW"));
        Graph transformer = fixture("transformer_encoder");
        assertSame(transformer, convert(transformer, "NCHW16c"));
    }

    @Test
    void convertedGraphsReadBackAndConvertingTwiceChangesNothing() {
        Graph once = convert(parse(CHAIN), "NCHW4c");
        assertEquals(print(once), print(parse(print(once))));
        assertEquals(print(once), print(convert(once, "NCHW4c")));
    }

    @Test
    void aLayoutOptionItCannotReadIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> convert(parse(CHAIN), "NCWH"));
        assertTrue(e.getMessage().contains("NCWH"), e.getMessage());
    }

    /** The layouts and models the issue names; each graph is also run through BN folding and fusion first, the pipeline's order. */
    @ParameterizedTest(name = "{0} in {1}")
    @CsvSource({
            "squeezenet1_1,NHWC", "squeezenet1_1,NCHW8c", "squeezenet1_1,NCHW16c", "squeezenet1_1,NCHW4c",
            "mobilenet_v2,NHWC", "mobilenet_v2,NCHW8c", "mobilenet_v2,NCHW16c", "mobilenet_v2,NCHW4c",
            "resnet18,NHWC", "resnet18,NCHW8c", "resnet18,NCHW16c", "resnet18,NCHW4c",
            "transformer_encoder,NHWC", "transformer_encoder,NCHW8c", "transformer_encoder,NCHW16c", "transformer_encoder,NCHW4c"})
    void fixturesKeepTheirOutputsWithTransformsOnlyAtTheEdges(String model, String layout) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not present");
        Graph imported = fixture(model);
        PassContext ctx = context(layout, new ArrayList<>());
        Graph fused = new FuseEpilogue().apply(new FoldBatchNorm().apply(imported, ctx), ctx);
        for (Graph g : List.of(imported, fused)) {
            Graph out = new ConvertLayout().apply(g, ctx);
            assertSameOutputs(g, out, 1e-4);
            boolean convolutional = g.nodes().stream().anyMatch(n -> OpRegistry.spec(n.op()).layoutRule() == LayoutRule.SENSITIVE);
            // One transform into the layout at the input, one back before the classifier head.
            assertEquals(convolutional ? 2 : 0, count(out, "LayoutTransform"), model + " in " + layout);
            assertNoTransformPairs(out);
        }
    }

    private static long count(Graph g, String op) {
        return g.nodes().stream().filter(n -> n.op().equals(op)).count();
    }

    /** No LayoutTransform reads, through elementwise ops and Concat only, what another LayoutTransform made. */
    private static void assertNoTransformPairs(Graph g) {
        Set<LayoutRule> passThrough = Set.of(LayoutRule.AGNOSTIC, LayoutRule.BROADCAST, LayoutRule.AXIS);
        for (Node t : g.nodes()) {
            if (!t.op().equals("LayoutTransform")) continue;
            Deque<Value> todo = new ArrayDeque<>(t.inputs());
            while (!todo.isEmpty()) {
                Node p = todo.pop().producer();
                if (p == null) continue;
                assertTrue(!p.op().equals("LayoutTransform"), "@" + t.name() + " undoes @" + p.name());
                if (passThrough.contains(OpRegistry.spec(p.op()).layoutRule())) todo.addAll(p.inputs().stream().filter(v -> v != null).toList());
            }
        }
    }
}
