package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Attribute.Kind;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code LayoutTransform(X) {src_layout, dst_layout, channels}}: X, in {@code src_layout}, moved to
 * {@code dst_layout} over the same logical dims (NCHW to NHWC, NCHW to NCHW16c, ...; see
 * {@link Layouts}). Blocked dims are padded with zeros. {@code channels}, when positive, is the true
 * size of dim C: channels from there on (a blocked source's padding) are dropped, or zeroed when the
 * result is blocked too. A plain input may be unlabelled; a plain result is.
 */
final class LayoutOps {
    private LayoutOps() {}

    static List<OpSpec> specs() {
        return List.of(OpSpec.builder("LayoutTransform").requiredAttr("src_layout", Kind.STRING)
                .requiredAttr("dst_layout", Kind.STRING).attr("channels", Kind.INT, Attribute.of(0L))
                .infer(LayoutOps::inferTransform).build());
    }

    private static List<TensorType> inferTransform(InferenceContext ctx) {
        TensorType x = ctx.input(0);
        Layout src = layout(ctx, "src_layout");
        Layout dst = layout(ctx, "dst_layout");
        try {
            if (!Layouts.logical(src).equals(Layouts.logical(dst))) {
                throw ctx.fail("src_layout " + src + " and dst_layout " + dst + " have different dims");
            }
            Layout have = x.layout();
            boolean fits = have.equals(src) || (Layouts.isPlain(src) && (have.isAny() || have.equals(Layouts.logical(src))));
            if (!fits) throw ctx.fail("input is in layout " + (have.isAny() ? "(none)" : have) + ", not src_layout " + src);
            Shape logical = Layouts.logicalShape(x.shape(), src);
            long channels = ctx.intAttr("channels");
            if (channels < 0) throw ctx.fail("channels must not be negative, got " + channels);
            if (channels > 0) logical = withChannels(ctx, logical, Layouts.logical(src), channels);
            Layout out = Layouts.isPlain(dst) ? Layout.ANY : dst;
            return List.of(new TensorType(x.dtype(), Layouts.physicalShape(logical, dst), out));
        } catch (IllegalArgumentException e) {
            throw ctx.fail(e.getMessage());
        }
    }

    private static Layout layout(InferenceContext ctx, String attr) {
        String name = ctx.stringAttr(attr);
        try {
            Layout l = Layout.of(name);
            Layouts.check(l);
            return l;
        } catch (IllegalArgumentException e) {
            throw ctx.fail(attr + ": " + e.getMessage());
        }
    }

    private static Shape withChannels(InferenceContext ctx, Shape logical, Layout dims, long channels) {
        int c = dims.name().indexOf('C');
        if (c < 0) throw ctx.fail("channels is set but " + dims + " has no dim C");
        Dim have = logical.dim(c);
        if (have.isStatic() && channels > have.size()) throw ctx.fail("channels " + channels + " exceeds the input's " + have);
        List<Dim> out = new ArrayList<>(logical.dims());
        out.set(c, Dim.of(channels));
        return new Shape(out);
    }
}
