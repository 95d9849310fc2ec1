package dev.kiln.ir;

/** The type of a value: element type, shape and layout. Prints as {@code f32[1,3,224,224]@NCHW}. */
public record TensorType(DType dtype, Shape shape, Layout layout) {
    public TensorType {
        if (dtype == null || shape == null || layout == null) throw new NullPointerException("incomplete tensor type");
    }

    public static TensorType of(DType dtype, long... dims) {
        return new TensorType(dtype, Shape.of(dims), Layout.ANY);
    }

    public static TensorType of(DType dtype, Shape shape) {
        return new TensorType(dtype, shape, Layout.ANY);
    }

    public TensorType withShape(Shape s) { return new TensorType(dtype, s, layout); }

    public TensorType withDType(DType d) { return new TensorType(d, shape, layout); }

    public TensorType withLayout(Layout l) { return new TensorType(dtype, shape, l); }

    public int rank() { return shape.rank(); }

    @Override
    public String toString() {
        return dtype.irName() + shape + (layout.isAny() ? "" : "@" + layout);
    }
}
