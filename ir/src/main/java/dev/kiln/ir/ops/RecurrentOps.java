package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Attribute.Kind;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * One-layer recurrent networks: RNN, GRU and LSTM. Every output is optional; a node declares as
 * many of Y, Y_h (and Y_c for LSTM) as it uses, in that order.
 */
final class RecurrentOps {
    private RecurrentOps() {}

    private static final Set<DType> FLOATS = Set.of(DType.F32, DType.F16, DType.BF16, DType.F64);

    static List<OpSpec> specs() {
        return List.of(
                common(OpSpec.builder("RNN").inputs(3, 6).outputs(0, 2), 1)
                        .attr("activations", Kind.STRINGS, new Attribute.Strs(List.of("Tanh", "Tanh")))
                        .build(),
                common(OpSpec.builder("GRU").inputs(3, 6).outputs(0, 2), 3)
                        .attr("activations", Kind.STRINGS, null)
                        .attr("linear_before_reset", Kind.INT, new Attribute.Int(0))
                        .build(),
                common(OpSpec.builder("LSTM").inputs(3, 8).outputs(0, 3), 4)
                        .attr("activations", Kind.STRINGS, null)
                        .attr("input_forget", Kind.INT, new Attribute.Int(0))
                        .build());
    }

    /** The attributes all three share, and the inference of Y, Y_h and Y_c. */
    private static OpSpec.Builder common(OpSpec.Builder b, int gates) {
        return b.attr("activation_alpha", Kind.FLOATS, null)
                .attr("activation_beta", Kind.FLOATS, null)
                .attr("clip", Kind.FLOAT, null)
                .attr("direction", Kind.STRING, new Attribute.Str("forward"))
                .attr("hidden_size", Kind.INT, null)
                .attr("layout", Kind.INT, new Attribute.Int(0))
                .infer(ctx -> infer(ctx, gates));
    }

    private static List<TensorType> infer(InferenceContext ctx, int gates) {
        DType t = ctx.dtype(0);
        if (!FLOATS.contains(t)) throw ctx.fail("X has type " + t + "; expected a floating-point type");
        for (int i = 1; i < ctx.inputCount(); i++) {
            if (i != 4 && ctx.hasInput(i) && ctx.dtype(i) != t) {
                throw ctx.fail("input " + i + " has type " + ctx.dtype(i) + " but X has " + t);
            }
        }
        if (ctx.hasInput(4) && ctx.dtype(4) != DType.I32) throw ctx.fail("sequence_lens must be i32, got " + ctx.dtype(4));
        Shape x = ctx.shape(0);
        Shape w = ctx.shape(1);
        Shape r = ctx.shape(2);
        if (x.rank() != 3) throw ctx.fail("X must be 3-D, got " + x);
        if (w.rank() != 3 || r.rank() != 3) throw ctx.fail("W and R must be 3-D, got " + w + " and " + r);
        String direction = ctx.stringAttr("direction");
        int directions = switch (direction) {
            case "forward", "reverse" -> 1;
            case "bidirectional" -> 2;
            default -> throw ctx.fail("direction '" + direction + "' is not forward, reverse or bidirectional");
        };
        if (w.dim(0).isStatic() && w.dim(0).size() != directions) {
            throw ctx.fail("W has " + w.dim(0).size() + " directions but direction is " + direction);
        }
        Dim hidden = ctx.hasAttr("hidden_size") ? Dim.of(ctx.intAttr("hidden_size")) : r.dim(2);
        if (hidden.isStatic() && w.dim(1).isStatic() && w.dim(1).size() != gates * hidden.size()) {
            throw ctx.fail("W has " + w.dim(1).size() + " rows; expected " + gates + " x hidden_size " + hidden.size());
        }
        long layout = ctx.intAttr("layout");
        if (layout != 0 && layout != 1) throw ctx.fail("layout " + layout + " is not 0 or 1");
        Dim seq = x.dim(layout == 0 ? 0 : 1);
        Dim batch = x.dim(layout == 0 ? 1 : 0);
        Dim dirs = Dim.of(directions);
        List<TensorType> out = new ArrayList<>();
        for (int i = 0; i < ctx.outputCount(); i++) {
            List<Dim> dims;
            if (i == 0) {
                dims = layout == 0 ? List.of(seq, dirs, batch, hidden) : List.of(batch, seq, dirs, hidden);
            } else {
                dims = layout == 0 ? List.of(dirs, batch, hidden) : List.of(batch, dirs, hidden);
            }
            out.add(TensorType.of(t, new Shape(dims)));
        }
        return out;
    }
}
