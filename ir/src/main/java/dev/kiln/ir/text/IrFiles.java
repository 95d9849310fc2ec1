package dev.kiln.ir.text;

import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** An IR file on disk: the text in {@code NAME.ir} and large constants in {@code NAME.ir.weights} beside it. */
public final class IrFiles {
    private IrFiles() {}

    public static Path weightsFileOf(Path irFile) {
        return irFile.resolveSibling(irFile.getFileName() + ".weights");
    }

    public static void write(Graph g, Path irFile) throws IOException {
        Files.writeString(irFile, IrPrinter.print(g));
        try (OutputStream out = Files.newOutputStream(weightsFileOf(irFile))) {
            IrPrinter.writeWeights(g, out);
        }
    }

    /** Reads an IR file; the weights file is memory-mapped, and each constant checked against its digest. */
    public static Graph read(Path irFile) throws IOException {
        String text = Files.readString(irFile);
        Path weights = weightsFileOf(irFile);
        if (!Files.exists(weights)) return IrParser.parse(text);
        try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer mapped = size == 0 ? ByteBuffer.allocate(0) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            return IrParser.parse(text, (offset, length) -> {
                if (offset < 0 || length < 0 || offset + length > size) {
                    throw new IrException("blob(" + offset + ", " + length + ") lies outside " + weights.getFileName() + " (" + size + " bytes)");
                }
                return mapped.slice((int) offset, (int) length);
            });
        }
    }
}
