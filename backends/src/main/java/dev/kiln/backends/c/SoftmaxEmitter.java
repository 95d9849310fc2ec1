package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Set;

/**
 * Softmax, LogSoftmax and Hardmax along one axis (the opset-13 form; older ones are rewritten at import), of
 * every float dtype and shapes static or known at run time. f32 Softmax and LogSoftmax are softmax.h's kernel
 * (whole lines per thread, float arithmetic); the rest is computed in double as the interpreter does, one line at
 * a time.
 */
final class SoftmaxEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("Softmax", "LogSoftmax", "Hardmax"); }

    @Override
    public List<String> kernels() { return List.of("softmax.h"); }

    @Override
    public String problem(Node n) { return Nodes.plainLayouts(n); }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        DType t = x.type().dtype();
        ReductionCode.sameDims(e, x, y);
        ReductionCode.Lines lines = ReductionCode.Lines.of(e, x, Nodes.axis(n, "axis", -1, x.type().rank()));
        if (t == DType.F32 && !n.op().equals("Hardmax")) {
            e.line("kiln_softmax(" + lines.outer() + ", " + lines.n() + ", " + lines.inner() + ", " + (n.op().equals("LogSoftmax") ? 1 : 0) + ", "
                    + e.ptr(x) + ", " + e.ptr(y) + ");");
            return;
        }
        String storage = CTypes.storage(t);
        e.line("const " + storage + "* xs = " + e.ptr(x) + ";");
        e.line(storage + "* ys = " + e.ptr(y) + ";");
        String load = Elements.asDouble(t, "xs[" + lines.at("k") + "]");
        String first = Elements.asDouble(t, "xs[" + lines.at("0") + "]");
        String store = "ys[" + lines.at("k") + "] = ";
        String each = "for (long k = 0; k < " + lines.n() + "; k++) ";
        lines.open(e);
        if (n.op().equals("Hardmax")) {
            // the first maximum, a NaN counting as the maximum
            e.line(each + store + Elements.fromDouble(t, "0.0") + ";");
            e.open("if (" + lines.n() + " > 0) {");
            e.line("long best = 0;");
            e.line("double top = " + first + ";");
            e.open("for (long k = 1; k < " + lines.n() + " && !isnan(top); k++) {");
            e.line("const double v = " + load + ";");
            e.open("if (v > top || isnan(v)) {");
            e.line("best = k;");
            e.line("top = v;");
            e.close("}");
            e.close("}");
            e.line("ys[" + lines.at("best") + "] = " + Elements.fromDouble(t, "1.0") + ";");
            e.close("}");
        } else {
            e.line("double mx = -INFINITY, sum = 0.0;");
            e.line(each + "{ const double v = " + load + "; if (v > mx || isnan(v)) mx = v; }");
            e.line(each + "sum += exp(" + load + " - mx);");
            if (n.op().equals("Softmax")) {
                e.line(each + store + Elements.fromDouble(t, "exp(" + load + " - mx) / sum") + ";");
            } else {
                e.line("const double lse = mx + log(sum);");
                e.line(each + store + Elements.fromDouble(t, load + " - lse") + ";");
            }
        }
        lines.close(e);
    }
}
