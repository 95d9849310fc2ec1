package dev.kiln.ir.ops;

import dev.kiln.ir.TensorType;

import java.util.List;

/** Computes the output types of a node from its input types, attributes and any constant inputs. */
@FunctionalInterface
public interface TypeInference {
    List<TensorType> infer(InferenceContext ctx);
}
