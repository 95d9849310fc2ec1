/*
 * Kiln CPU kernels: how ScatterElements and ScatterND combine an update with the element it lands on. Floats
 * combine as doubles, max and min as the reference takes them: a NaN on either side wins, and +0 is above -0.
 */

static inline double kiln_scatter_max(double a, double b) {
    if (a != a) return a;
    if (a == 0.0 && b == 0.0 && signbit(a)) return b;
    return a >= b ? a : b;
}

static inline double kiln_scatter_min(double a, double b) {
    if (a != a) return a;
    if (a == 0.0 && b == 0.0 && signbit(b)) return b;
    return a <= b ? a : b;
}
