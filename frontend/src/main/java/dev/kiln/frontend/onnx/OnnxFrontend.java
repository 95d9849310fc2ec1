package dev.kiln.frontend.onnx;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kiln.frontend.DataInputConfig;
import dev.kiln.frontend.ImportException;
import dev.kiln.ir.Graph;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Imports ONNX models (IR versions 3 to 13, opsets 7 to 28) into the Kiln IR. */
public final class OnnxFrontend {
    private OnnxFrontend() {}

    /** Imports a {@code .onnx} file; external data files are read relative to its directory. */
    public static Graph load(Path modelFile, String dataInputConfig) {
        return load(modelFile, DataInputConfig.parse(dataInputConfig));
    }

    public static Graph load(Path modelFile, DataInputConfig config) {
        if (!Files.isRegularFile(modelFile)) throw ImportException.client("model file " + modelFile + " does not exist");
        OnnxMl.ModelProto model;
        try (InputStream in = Files.newInputStream(modelFile)) {
            CodedInputStream coded = CodedInputStream.newInstance(in);
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
