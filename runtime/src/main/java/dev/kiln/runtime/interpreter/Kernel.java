package dev.kiln.runtime.interpreter;

import dev.kiln.runtime.Tensor;

import java.util.List;

/** The reference implementation of one op: computes a node's outputs from its inputs. */
@FunctionalInterface
interface Kernel {
    List<Tensor> run(KernelContext ctx);
}
