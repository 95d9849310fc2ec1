package dev.kiln.runtime.interpreter;

import java.util.Locale;
import java.util.function.DoubleUnaryOperator;

/**
 * The activation functions RNN, GRU and LSTM accept, with the alpha/beta defaults of the ONNX
 * operators of the same name.
 */
final class RecurrentActivation {
    private RecurrentActivation() {}

    /**
     * The named function; it takes the next alpha and beta from the lists (advancing the cursors)
     * when it uses them, or its defaults when the lists are used up.
     */
    static DoubleUnaryOperator of(KernelContext ctx, String name, float[] alphas, int[] nextAlpha, float[] betas, int[] nextBeta) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "relu" -> v -> Math.max(0, v);
            case "tanh" -> Math::tanh;
            case "sigmoid" -> v -> 1 / (1 + Math.exp(-v));
            case "softsign" -> v -> v / (1 + Math.abs(v));
            case "softplus" -> v -> Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
            case "affine" -> {
                double a = take(alphas, nextAlpha, 1.0);
                double b = take(betas, nextBeta, 0.0);
                yield v -> a * v + b;
            }
            case "leakyrelu" -> {
                double a = take(alphas, nextAlpha, 0.01);
                yield v -> v >= 0 ? v : a * v;
            }
            case "thresholdedrelu" -> {
                double a = take(alphas, nextAlpha, 1.0);
                yield v -> v >= a ? v : 0;
            }
            case "scaledtanh" -> {
                double a = take(alphas, nextAlpha, 1.0);
                double b = take(betas, nextBeta, 1.0);
                yield v -> a * Math.tanh(b * v);
            }
            case "hardsigmoid" -> {
                double a = take(alphas, nextAlpha, 0.2);
                double b = take(betas, nextBeta, 0.5);
                yield v -> Math.max(0, Math.min(1, a * v + b));
            }
            case "elu" -> {
                double a = take(alphas, nextAlpha, 1.0);
                yield v -> v >= 0 ? v : a * (Math.exp(v) - 1);
            }
            default -> throw ctx.fail("activation '" + name + "' is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                    + "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus");
        };
    }

    private static double take(float[] values, int[] next, double fallback) {
        return next[0] < values.length ? values[next[0]++] : fallback;
    }
}
