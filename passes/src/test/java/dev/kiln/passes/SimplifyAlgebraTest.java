package dev.kiln.passes;

import dev.kiln.ir.Graph;
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
import static dev.kiln.passes.PassTesting.print;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SimplifyAlgebraTest {

    @Test
    void identityInferenceDropoutAndNoOpsGo() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %ratio : f32[] = [0.3]
                  const %off : bool[] = [false]
                  const %shape : i64[2] = [2, 3]
                  const %nothing : i64[4] = [0, 0, 0, 0]
                  node @id %a = Identity(%x) : f32[2,3]
                  node @drop %b = Dropout(%a, %ratio) : f32[2,3]
                  node @drop2 %c = Dropout(%b, %ratio, %off) : f32[2,3]
                  node @cast %d = Cast(%c) {to = 1} : f32[2,3]
                  node @reshape %e = Reshape(%d, %shape) : f32[2,3]
                  node @transpose %f = Transpose(%e) {perm = [0, 1]} : f32[2,3]
                  node @pad %g = Pad(%f, %nothing) {mode = "reflect"} : f32[2,3]
                  node @relu %y = Relu(%g) : f32[2,3]
                  output %y
                }
                """;
        Graph out = assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  node @relu %y = Relu(%x) : f32[2,3]
                  output %y
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void aRequestedDropoutMaskBecomesAllTrue() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,2]
                  node @drop %y, %mask = Dropout(%x) : f32[2,2], bool[2,2]
                  node @not %z = Not(%mask) : bool[2,2]
                  output %y
                  output %z
                }
                """;
        Graph out = assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,2]
                  const %mask : bool[2,2] = [true, true, true, true]
                  node @not %z = Not(%mask) : bool[2,2]
                  node @y %y = Identity(%x) : f32[2,2]
                  output %y
                  output %z
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void castToAnotherDtypeAndTrainingDropoutStay() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  input %training : bool[]
                  node @cast %a = Cast(%x) {to = 10} : f16[2]
                  node @drop %b = Dropout(%x, _, %training) : f32[2]
                  output %a
                  output %b
                }
                """;
        assertRewrites(new SimplifyAlgebra(), before, before);
    }

    @Test
    void aDropoutWhoseMaskHasNoStaticShapeStays() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[N,2]
                  node @drop %y, %mask = Dropout(%x) : f32[N,2], bool[N,2]
                  output %y
                  output %mask
                }
                """;
        assertRewrites(new SimplifyAlgebra(), before, before);
    }

    @Test
    void arithmeticWithNeutralConstantsGoes() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %one : f32[] = [1.0]
                  const %ones : f32[3] = [1.0, 1.0, 1.0]
                  const %zero : f32[1] = [0.0]
                  const %negzero : f32[] = [-0.0]
                  node @mul %a = Mul(%x, %one) : f32[2,3]
                  node @mul2 %b = Mul(%ones, %a) : f32[2,3]
                  node @add %c = Add(%b, %zero) : f32[2,3]
                  node @add2 %d = Add(%negzero, %c) : f32[2,3]
                  node @sub %e = Sub(%d, %zero) : f32[2,3]
                  node @div %f = Div(%e, %one) : f32[2,3]
                  node @pow %g = Pow(%f, %one) : f32[2,3]
                  node @relu %y = Relu(%g) : f32[2,3]
                  output %y
                }
                """;
        Graph out = assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  node @relu %y = Relu(%x) : f32[2,3]
                  output %y
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void arithmeticThatBroadcastsOrIsNotNeutralStays() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[3]
                  input %i : i64[3]
                  const %ones : f32[2,3] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
                  const %zero : f32[] = [0.0]
                  const %two : f32[] = [2.0]
                  const %ione : i64[] = [1]
                  const %shift : i64[2] = [1, -1]
                  node @mul %a = Mul(%x, %ones) : f32[2,3]
                  node @sub %b = Sub(%zero, %x) : f32[3]
                  node @div %c = Div(%ones, %x) : f32[2,3]
                  node @mul2 %d = Mul(%x, %two) : f32[3]
                  node @imul %e = Mul(%i, %ione) : i64[3]
                  node @pad %f = Pad(%x, %shift) : f32[3]
                  output %a
                  output %b
                  output %c
                  output %d
                  output %e
                  output %f
                }
                """;
        assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[3]
                  input %i : i64[3]
                  const %ones : f32[2,3] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
                  const %zero : f32[] = [0.0]
                  const %two : f32[] = [2.0]
                  const %shift : i64[2] = [1, -1]
                  node @mul %a = Mul(%x, %ones) : f32[2,3]
                  node @sub %b = Sub(%zero, %x) : f32[3]
                  node @div %c = Div(%ones, %x) : f32[2,3]
                  node @mul2 %d = Mul(%x, %two) : f32[3]
                  node @pad %f = Pad(%x, %shift) : f32[3]
                  node @e %e = Identity(%i) : i64[3]
                  output %a
                  output %b
                  output %c
                  output %d
                  output %e
                  output %f
                }
                """);
    }

    @Test
    void consecutiveTransposesCompose() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  node @t1 %a = Transpose(%x) {perm = [0, 2, 1]} : f32[2,4,3]
                  node @t2 %b = Transpose(%a) {perm = [1, 0, 2]} : f32[4,2,3]
                  node @t3 %c = Transpose(%b) {perm = [2, 0, 1]} : f32[3,4,2]
                  node @relu %r = Relu(%c) : f32[3,4,2]
                  node @t4 %d = Transpose(%r) : f32[2,4,3]
                  node @t5 %e = Transpose(%d) : f32[3,4,2]
                  node @t6 %y = Transpose(%e) {perm = [2, 1, 0]} : f32[2,4,3]
                  output %y
                }
                """;
        Graph out = assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  node @t3 %c = Transpose(%x) {perm = [1, 2, 0]} : f32[3,4,2]
                  node @relu %r = Relu(%c) : f32[3,4,2]
                  node @t6 %y = Transpose(%r) {perm = [2, 1, 0]} : f32[2,4,3]
                  output %y
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void aTransposePairCancels() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  node @t1 %a = Transpose(%x) {perm = [0, 2, 1]} : f32[2,4,3]
                  node @t2 %b = Transpose(%a) {perm = [0, 2, 1]} : f32[2,3,4]
                  node @relu %y = Relu(%b) : f32[2,3,4]
                  output %y
                }
                """;
        assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  node @relu %y = Relu(%x) : f32[2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void aTransposeReadElsewhereIsNotMerged() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  node @t1 %a = Transpose(%x) {perm = [1, 0]} : f32[3,2]
                  node @t2 %b = Transpose(%a) {perm = [1, 0]} : f32[2,3]
                  node @relu %c = Relu(%a) : f32[3,2]
                  output %b
                  output %c
                }
                """;
        assertRewrites(new SimplifyAlgebra(), before, before);
    }

    @Test
    void reshapesMergeWithTheReshapingBeforeThem() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %axes : i64[1] = [0]
                  const %s1 : i64[2] = [4, 6]
                  const %s2 : i64[3] = [0, 3, -1]
                  node @flatten %a = Flatten(%x) : f32[2,12]
                  node @reshape1 %b = Reshape(%a, %s1) : f32[4,6]
                  node @unsqueeze %c = Unsqueeze(%b, %axes) : f32[1,4,6]
                  node @reshape2 %d = Reshape(%c, %s2) : f32[1,3,8]
                  node @reshape3 %e = Reshape(%d, %s1) : f32[4,6]
                  output %e
                }
                """;
        Graph out = assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %s1 : i64[2] = [4, 6]
                  node @reshape1 %e = Reshape(%x, %s1) : f32[4,6]
                  output %e
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void reshapeBackToTheOriginalShapeGoes() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %axes : i64[1] = [1]
                  const %back : i64[3] = [0, 3, 4]
                  node @squeeze %a = Unsqueeze(%x, %axes) : f32[2,1,3,4]
                  node @reshape %b = Reshape(%a, %back) : f32[2,3,4]
                  node @relu %y = Relu(%b) : f32[2,3,4]
                  output %y
                }
                """;
        Graph out = assertRewrites(new SimplifyAlgebra(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  node @relu %y = Relu(%x) : f32[2,3,4]
                  output %y
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void aReshapeWithZeroEntriesOverASymbolicShapeStays() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[N,3,4]
                  const %s1 : i64[2] = [0, -1]
                  const %s2 : i64[3] = [0, 2, -1]
                  node @reshape1 %a = Reshape(%x, %s1) : f32[N,12]
                  node @reshape2 %b = Reshape(%a, %s2) : f32[N,2,6]
                  output %b
                }
                """;
        assertRewrites(new SimplifyAlgebra(), before, before);
    }

    @Test
    void unknownOpIsLeftAloneAndReported() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  node @custom %c = MyCustomOp(%x) : f32[2]
                  node @id %y = Identity(%c) : f32[2]
                  node @relu %z = Relu(%y) : f32[2]
                  output %z
                }
                """;
        List<String> log = new ArrayList<>();
        PassContext ctx = PassContext.builder().verify(false).debugLog(log::add).build();
        assertEquals("""
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  node @custom %c = MyCustomOp(%x) : f32[2]
                  node @relu %z = Relu(%c) : f32[2]
                  output %z
                }
                """, print(new SimplifyAlgebra().apply(parse(before), ctx)));
        assertEquals(List.of("simplify-algebra: leaves node @custom alone: unknown op MyCustomOp"), log);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesKeepTheirOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph after = new SimplifyAlgebra().apply(fixture(model), PassTesting.context());
        assertSameOutputs(fixture(model), after, 1e-4);
        assertEquals(0, after.nodes().stream().filter(n -> n.op().equals("Identity")).count());
    }
}
