package dev.kiln.server;

import dev.kiln.frontend.ImportException;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Verifier;
import dev.kiln.ir.text.IrParser;
import dev.kiln.ir.text.IrPrinter;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every graph the ONNX importer produces from the backend suite verifies and round-trips through IR text. */
class ImportedGraphsTest {

    @Test
    void everyImportedGraphVerifiesAndRoundTripsThroughText() throws Exception {
        Path root = TestPaths.shared().resolve("testdata/onnx-backend");
        Assumptions.assumeTrue(Files.isDirectory(root), "../shared/testdata/onnx-backend is absent");
        List<Path> models = new ArrayList<>();
        for (String suite : List.of("node", "simple", "pytorch-converted", "pytorch-operator")) {
            try (Stream<Path> s = Files.list(root.resolve(suite))) {
                s.map(p -> p.resolve("model.onnx")).filter(Files::isRegularFile).sorted().forEach(models::add);
            }
        }
        int imported = 0;
        List<String> failures = new ArrayList<>();
        for (Path model : models) {
            Graph g;
            try {
                g = OnnxFrontend.load(model, (String) null);
            } catch (ImportException e) {
                continue;
            }
            imported++;
            String name = model.getParent().getFileName().toString();
            try {
                Verifier.verify(g);
                String text = IrPrinter.print(g);
                ByteArrayOutputStream blob = new ByteArrayOutputStream();
                IrPrinter.writeWeights(g, blob);
                ByteBuffer weights = ByteBuffer.wrap(blob.toByteArray());
                Graph back = IrParser.parse(text, (off, len) -> weights.slice((int) off, (int) len));
                Verifier.verify(back);
                if (!text.equals(IrPrinter.print(back))) failures.add(name + ": text differs after a round trip");
            } catch (RuntimeException e) {
                failures.add(name + ": " + e.getMessage());
            }
        }
        assertTrue(imported > 1000, "only " + imported + " models imported");
        assertEquals(List.of(), failures);
    }
}
