package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.LayoutRule;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * LayoutTransform, and the layouts of layout-sensitive ops: the reference kernels compute on plain
 * tensors, so a SENSITIVE or RESAMPLE op whose inputs are in other layouts (NHWC, NCHW16c, OIHW8i8o, ...)
 * gets them moved to plain first and its output 0 moved to input 0's layout after.
 */
final class LayoutKernels {
    private LayoutKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("LayoutTransform", LayoutKernels::layoutTransform);
    }

    /** Wraps the kernel of every SENSITIVE and RESAMPLE op in the table so that it accepts its inputs in any layout. */
    static void acceptLayouts(Map<String, Kernel> table) {
        for (Map.Entry<String, Kernel> e : table.entrySet()) {
            if (!OpRegistry.contains(e.getKey())) continue;
            LayoutRule rule = OpRegistry.spec(e.getKey()).layoutRule();
            if (rule != LayoutRule.SENSITIVE && rule != LayoutRule.RESAMPLE) continue;
            Kernel plain = e.getValue();
            e.setValue(ctx -> inPlainLayouts(ctx, plain));
        }
    }

    private static List<Tensor> inPlainLayouts(KernelContext ctx, Kernel plain) {
        Node node = ctx.node();
        List<Tensor> inputs = new ArrayList<>(ctx.inputCount());
        boolean moved = false;
        for (int i = 0; i < ctx.inputCount(); i++) {
            Value v = node.input(i);
            Tensor t = ctx.optionalInput(i);
            if (t != null && !Layouts.isPlain(v.type().layout())) {
                Layout l = v.type().layout();
                t = move(t, l, Layouts.logical(l), null);
                moved = true;
            }
            inputs.add(t);
        }
        if (!moved) return plain.run(ctx);
        List<Tensor> out = new ArrayList<>(plain.run(new KernelContext(node, inputs)));
        Layout activation = node.input(0).type().layout();
        if (!Layouts.isPlain(activation)) out.set(0, move(out.get(0), Layouts.logical(activation), activation, null));
        return out;
    }

    private static List<Tensor> layoutTransform(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Layout src = Layout.of(ctx.stringAttr("src_layout"));
        Layout dst = Layout.of(ctx.stringAttr("dst_layout"));
        long[] logical = Layouts.logicalSizes(x.shape(), src);
        long channels = ctx.intAttr("channels");
        if (channels > 0) logical[Layouts.logical(src).name().indexOf('C')] = channels;
        return List.of(move(x, src, dst, logical));
    }

    /** The tensor in another layout of the same dims; {@code logical}: the sizes to keep (null: all). */
    private static Tensor move(Tensor t, Layout from, Layout to, long[] logical) {
        long[] sizes = logical != null ? logical : Layouts.logicalSizes(t.shape(), from);
        return Tensor.wrap(t.dtype(), Layouts.physicalSizes(sizes, to),
                Layouts.transform(t.data(), t.dtype().byteSize(), t.shape(), from, to, sizes));
    }
}
