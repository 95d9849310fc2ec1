package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;

/**
 * Shape and data movement: views (the same bytes under another shape), Concat (inputs the memory plan put in
 * place copy nothing), and Transpose and Slice as strided copies.
 */
final class ShapeEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Concat", "Transpose", "Slice"); }

    @Override
    public List<String> kernels() { return List.of(); }

    @Override
    public String problem(Node n) {
        if (CCodeGenerator.VIEWS.contains(n.op())) {
            for (Value v : n.outputs()) {
                if (v.type().dtype() != DType.F32) return " (" + v.type().dtype() + ")";
                if (!v.type().shape().isStatic()) return " (symbolic shape " + v.type().shape() + ")";
                if (!dev.kiln.ir.Layouts.isPlain(v.type().layout())) return " (layout " + v.type().layout() + ")";
            }
            return null;
        }
        String types = Nodes.staticF32(n, i -> n.op().equals("Slice") && i > 0, n.op().equals("Concat"));
        if (types != null) return types;
        if (n.op().equals("Slice")) {
            for (int i = 1; i < n.inputs().size(); i++) {
                if (n.input(i) != null && Nodes.constantLongs(n, i) == null) return " (starts, ends, axes or steps that are not integer constants)";
            }
        }
        return null;
    }

    @Override
    public void emit(Node n, Emission e) {
        switch (n.op()) {
            case "Concat" -> emitConcat(n, e);
            case "Transpose" -> emitTranspose(n, e);
            case "Slice" -> emitSlice(n, e);
            default -> emitView(n, e);
        }
    }

    private static void emitView(Node n, Emission e) {
        String in = e.ptr(n.input(0));
        String out = e.ptr(n.output(0));
        if (!in.equals(out)) e.line("memcpy(" + out + ", " + in + ", " + count(n.output(0)) * n.output(0).type().dtype().byteSize() + ");");
    }

    private static void emitConcat(Node n, Emission e) {
        Value y = n.output(0);
        long[] ys = dims(y);
        int axis = Nodes.axis(n, "axis", 0, ys.length);
        long outer = Nodes.product(ys, 0, axis);
        long inner = Nodes.product(ys, axis + 1, ys.length);
        long offset = 0;
        for (Value in : n.inputs()) {
            long chunk = dims(in)[axis] * inner;
            MemoryPlan.Slot slot = e.plan().slot(in.name());
            boolean inPlace = slot != null && slot.reuse() == MemoryPlan.Reuse.PART && slot.source().equals(y.name());
            if (chunk > 0 && !inPlace) {
                e.line("for (long o = 0; o < " + outer + "L; o++) memcpy(" + e.ptr(y) + " + o * " + (ys[axis] * inner) + "L + " + offset + "L, "
                        + e.ptr(in) + " + o * " + chunk + "L, " + (chunk * 4) + ");");
            }
            offset += chunk;
        }
    }

    private static void emitTranspose(Node n, Emission e) {
        long[] xs = dims(n.input(0));
        long[] perm = new long[xs.length];
        for (int d = 0; d < perm.length; d++) perm[d] = perm.length - 1 - d;
        if (n.attribute("perm") instanceof dev.kiln.ir.Attribute.Ints p && p.values().length == xs.length) perm = p.values();
        long[] inStrides = Nodes.strides(xs);
        long[] steps = new long[xs.length];
        for (int d = 0; d < xs.length; d++) steps[d] = inStrides[(int) perm[d]];
        emitStridedCopy(n, e, 0, steps);
    }

    private static void emitSlice(Node n, Emission e) {
        long[] xs = dims(n.input(0));
        long[] starts = Nodes.constantLongs(n, 1);
        long[] ends = Nodes.constantLongs(n, 2);
        long[] axes = n.inputs().size() > 3 && n.input(3) != null ? Nodes.constantLongs(n, 3) : null;
        long[] stepsIn = n.inputs().size() > 4 && n.input(4) != null ? Nodes.constantLongs(n, 4) : null;
        if (starts == null || ends == null) throw new IllegalArgumentException("node " + n.name() + ": backend c takes Slice starts and ends as integer constants");
        long[] begin = new long[xs.length];
        long[] step = new long[xs.length];
        Arrays.fill(step, 1);
        for (int i = 0; i < starts.length; i++) {
            int axis = (int) (axes == null ? i : (axes[i] < 0 ? axes[i] + xs.length : axes[i]));
            long st = stepsIn == null ? 1 : stepsIn[i];
            long dim = xs[axis];
            long b = starts[i] < 0 ? starts[i] + dim : starts[i];
            b = st > 0 ? Math.max(0, Math.min(b, dim)) : Math.max(0, Math.min(b, dim - 1));
            begin[axis] = b;
            step[axis] = st;
        }
        long[] inStrides = Nodes.strides(xs);
        long base = 0;
        long[] steps = new long[xs.length];
        for (int d = 0; d < xs.length; d++) {
            base += begin[d] * inStrides[d];
            steps[d] = step[d] * inStrides[d];
        }
        emitStridedCopy(n, e, base, steps);
    }

    /** y[i] = x[base + sum_d coordinate_d(i) * steps[d]]: a strided view copied out (Transpose, Slice). */
    private static void emitStridedCopy(Node n, Emission e, long base, long[] steps) {
        long[] ys = dims(n.output(0));
        if (count(n.output(0)) == 0) return;
        // loops over the output's dims, size-1 dims dropped and neighbours merged where the input steps over them as one
        List<long[]> loops = new ArrayList<>(); // {size, input step}
        for (int d = 0; d < ys.length; d++) {
            if (ys[d] == 1) continue;
            long[] last = loops.isEmpty() ? null : loops.get(loops.size() - 1);
            if (last != null && last[1] == steps[d] * ys[d]) {
                last[0] *= ys[d];
                last[1] = steps[d];
            } else {
                loops.add(new long[] {ys[d], steps[d]});
            }
        }
        if (loops.isEmpty()) loops.add(new long[] {1, 1});
        e.line("float* dst = " + e.ptr(n.output(0)) + ";");
        StringBuilder src = new StringBuilder(e.ptr(n.input(0)) + " + " + base + "L");
        String indent = "";
        for (int d = 0; d < loops.size() - 1; d++) {
            e.line(indent + "for (long i" + d + " = 0; i" + d + " < " + loops.get(d)[0] + "L; i" + d + "++)");
            src.append(" + i").append(d).append(" * ").append(loops.get(d)[1]).append('L');
            indent += "    ";
        }
        long[] inner = loops.get(loops.size() - 1);
        if (inner[1] == 1) {
            e.line(indent + "memcpy(dst, " + src + ", " + inner[0] * 4 + "), dst += " + inner[0] + "L;");
        } else {
            e.line(indent + "for (long i = 0; i < " + inner[0] + "L; i++) *dst++ = (" + src + ")[i * " + inner[1] + "L];");
        }
    }
}
