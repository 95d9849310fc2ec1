package dev.kiln.frontend.onnx;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.kiln.frontend.DataInputConfig;
import dev.kiln.frontend.ImportException;
import dev.kiln.ir.Graph;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Imports ONNX models (IR versions 3 to 13, opsets 1 to 28) into the Kiln IR. */
public final class OnnxFrontend {
    private OnnxFrontend() {}

    /** Imports a {@code .onnx} file; external data files are read relative to its directory. */
    public static Graph load(Path modelFile, String dataInputConfig) {
        return load(modelFile, DataInputConfig.parse(dataInputConfig));
    }

    public static Graph load(Path modelFile, DataInputConfig config) {
        if (!Files.isRegularFile(modelFile)) throw ImportException.client("model file " + modelFile + " does not exist");
        OnnxMl.ModelProto model;
        // The file is memory-mapped and parsed with aliasing, so raw initializer bytes stay in the
        // mapping (off-heap, paged in on use) instead of being copied onto the heap.
        try (FileChannel ch = FileChannel.open(modelFile, StandardOpenOption.READ)) {
            if (ch.size() > Integer.MAX_VALUE) {
                throw ImportException.client(modelFile.getFileName() + " is larger than 2 GiB; keep its weights in external data files");
            }
            ByteBuffer mapped = ch.size() == 0 ? ByteBuffer.allocateDirect(0) : ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
            // Wrapping marks the bytes immutable, which aliasing needs.
            CodedInputStream coded = UnsafeByteOperations.unsafeWrap(mapped).newCodedInput();
            coded.enableAliasing(true);
            coded.setSizeLimit(Integer.MAX_VALUE);
            coded.setRecursionLimit(200);
            model = OnnxMl.ModelProto.parseFrom(coded);
        } catch (InvalidProtocolBufferException e) {
            throw ImportException.client(modelFile.getFileName() + " is not a valid ONNX model (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw ImportException.client("cannot read " + modelFile + ": " + e.getMessage());
        }
        if (!model.hasGraph()) throw ImportException.client(modelFile.getFileName() + " is not a valid ONNX model (it has no graph)");
        Path dir = modelFile.toAbsolutePath().getParent();
        return new OnnxImporter(model, dir).importGraph(config);
    }
}
