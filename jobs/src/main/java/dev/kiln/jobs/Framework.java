package dev.kiln.jobs;

import java.util.Arrays;
import java.util.Optional;

/** The InputConfig Framework values. */
public enum Framework {
    TENSORFLOW, KERAS, MXNET, ONNX, PYTORCH, XGBOOST, TFLITE, DARKNET, SKLEARN;

    /** The API takes a FrameworkVersion only for MXNet, PyTorch, TensorFlow and TensorFlow Lite. */
    public boolean takesVersion() { return this == MXNET || this == PYTORCH || this == TENSORFLOW || this == TFLITE; }

    static Optional<Framework> named(String name) {
        return Arrays.stream(values()).filter(f -> f.name().equals(name)).findFirst();
    }
}
