package dev.kiln.ir.text;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IrTextTest {

    private static ByteBuffer floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.flip();
    }

    private static Graph sample() {
        Graph g = new Graph("sample");
        Value x = g.addInput("x", new TensorType(DType.F32, new Shape(List.of(Dim.symbol("N"), Dim.of(4))), Layout.ANY));
        Value small = g.addConstant("bias", TensorType.of(DType.F32, 4), floats(1f, -0.5f, Float.NaN, Float.NEGATIVE_INFINITY));
        float[] big = new float[40];
        for (int i = 0; i < big.length; i++) big[i] = i * 0.25f;
        Value large = g.addConstant("w \"quoted\"\n*/", TensorType.of(DType.F32, 10, 4), floats(big));
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        Value sum = g.addNode("add one", "Add", List.of(x, small), attrs, List.of("s")).output(0);
        Value y = g.addNode("add2", "Add", List.of(sum, large), Map.of(), List.of("y")).output(0);
        g.addOutput(y);
        return g;
    }

    @Test
    void printsReadableCanonicalText() {
        String text = IrPrinter.print(sample());
        assertTrue(text.startsWith("kiln.ir 1\ngraph sample {\n  input %x : f32[N,4]\n"), text);
        assertTrue(text.contains("const %bias : f32[4] = [1.0, -0.5, nan, -inf]"), text);
        assertTrue(text.contains("const %\"w \\\"quoted\\\"\\n*/\" : f32[10,4] = blob(0, 160, "), text);
        assertTrue(text.contains("node @\"add one\" %s = Add(%x, %bias) : f32[N,4]"), text);
        assertTrue(text.endsWith("  output %y\n}\n"), text);
    }

    @Test
    void roundTripsThroughTextAndWeights() throws Exception {
        Graph g = sample();
        String text = IrPrinter.print(g);
        ByteArrayOutputStream blob = new ByteArrayOutputStream();
        IrPrinter.writeWeights(g, blob);
        ByteBuffer weights = ByteBuffer.wrap(blob.toByteArray());
        Graph back = IrParser.parse(text, (off, len) -> weights.slice((int) off, (int) len));
        assertEquals(text, IrPrinter.print(back));
        assertEquals(g.constants().get("w \"quoted\"\n*/").data(), back.constants().get("w \"quoted\"\n*/").data());
    }

    @Test
    void roundTripsThroughFiles(@TempDir Path dir) throws Exception {
        Graph g = sample();
        Path file = dir.resolve("model.ir");
        IrFiles.write(g, file);
        assertEquals(IrPrinter.print(g), IrPrinter.print(IrFiles.read(file)));
    }

    @Test
    void inlineLiteralsOfEveryDTypeRoundTrip() {
        Graph g = new Graph("dtypes");
        List<Value> consts = new ArrayList<>();
        for (DType t : DType.values()) {
            ByteBuffer b = ByteBuffer.allocate(3 * t.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < b.capacity(); i++) b.put(i, (byte) (0x81 + 37 * i));
            if (t == DType.BOOL) { b.put(0, (byte) 1); b.put(1, (byte) 0); b.put(2, (byte) 1); }
            if (t == DType.F32 || t == DType.F64) b = t == DType.F32 ? floats(1.5e-30f, -3f, 7e20f) : doubles(Math.PI, -0.0, 1e300);
            consts.add(g.addConstant("c_" + t.irName(), TensorType.of(t, 3), b));
        }
        g.addOutput(consts.get(0));
        String text = IrPrinter.print(g);
        Graph back = IrParser.parse(text);
        assertEquals(text, IrPrinter.print(back));
        for (Value c : consts) assertEquals(g.constants().get(c.name()).data(), back.constants().get(c.name()).data(), c.name());
    }

    private static ByteBuffer doubles(double... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (double d : v) b.putDouble(d);
        return b.flip();
    }

    @Test
    void parseErrorsNameTheLine() {
        IrException e = assertThrows(IrException.class, () -> IrParser.parse("kiln.ir 1\ngraph g {\n  input %x : f99[1]\n}\n"));
        assertEquals("line 3: unknown dtype 'f99'", e.getMessage());
        e = assertThrows(IrException.class, () -> IrParser.parse("kiln.ir 1\ngraph g {\n  output %nope\n}\n"));
        assertEquals("line 3: output %nope is not defined", e.getMessage());
        e = assertThrows(IrException.class, () -> IrParser.parse("kiln.ir 1\ngraph g {\n  const %c : f32[2] = [1.0]\n}\n"));
        assertEquals("line 3: a f32[2] literal needs 2 values, got 1", e.getMessage());
    }

    @Test
    void blobsAreCheckedAgainstTheirDigest() throws Exception {
        Graph g = sample();
        String text = IrPrinter.print(g);
        ByteArrayOutputStream blob = new ByteArrayOutputStream();
        IrPrinter.writeWeights(g, blob);
        byte[] bytes = blob.toByteArray();
        bytes[5] ^= 1;
        ByteBuffer tampered = ByteBuffer.wrap(bytes);
        IrException e = assertThrows(IrException.class, () -> IrParser.parse(text, (off, len) -> tampered.slice((int) off, (int) len)));
        assertTrue(e.getMessage().contains("does not match its sha256 digest"), e.getMessage());
    }
}
