package dev.kiln.runtime.interpreter;

/** Scalar functions that java.lang.Math lacks, accurate to a few ulps in double precision. */
final class ElementwiseFunctions {
    private static final double TWO_OVER_SQRT_PI = 2.0 / Math.sqrt(Math.PI);
    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double SQRT_TWO_OVER_PI = Math.sqrt(2.0 / Math.PI);
    private static final double LN2 = Math.log(2.0);
    /** 1 / (2n + 1), so that the erf series multiplies instead of dividing. */
    private static final double[] INVERSE_ODD = new double[64];

    static {
        for (int n = 0; n < INVERSE_ODD.length; n++) INVERSE_ODD[n] = 1.0 / (2 * n + 1);
    }

    private ElementwiseFunctions() {}

    static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double a = Math.abs(x);
        double r = a < 3.0 ? erfSeries(a) : 1.0 - erfcContinuedFraction(a);
        return Math.copySign(r, x);
    }

    /** 1 - erf(a) for a >= 0, without the cancellation of computing it from erf for large a. */
    private static double erfc(double a) {
        return a < 3.0 ? 1.0 - erfSeries(a) : erfcContinuedFraction(a);
    }

    /**
     * erf(a) = 2/sqrt(pi) exp(-a^2) sum_n (2a^2)^n a / (1*3*...*(2n+1)): positive terms, no
     * cancellation; below a = 3 the terms fall under 1e-17 of the sum within 50 steps.
     */
    private static double erfSeries(double a) {
        double term = a;
        double sum = a;
        double twoA2 = 2.0 * a * a;
        for (int n = 1; n < INVERSE_ODD.length && term > sum * 1e-17; n++) {
            term *= twoA2 * INVERSE_ODD[n];
            sum += term;
        }
        return TWO_OVER_SQRT_PI * Math.exp(-a * a) * sum;
    }

    /** erfc(a) for a >= 3 by the continued fraction exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))). */
    private static double erfcContinuedFraction(double a) {
        if (a > 27.0) return 0.0;
        double t = a;
        for (int k = 60; k >= 1; k--) t = a + (k * 0.5) / t;
        return Math.exp(-a * a) / Math.sqrt(Math.PI) / t;
    }

    /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), through erfc for negative x to keep its small values accurate. */
    static double gelu(double x) {
        double z = x * SQRT_HALF;
        return x >= 0 ? 0.5 * x * (1.0 + erf(z)) : 0.5 * x * erfc(-z);
    }

    static double geluTanh(double x) {
        return 0.5 * x * (1.0 + Math.tanh(SQRT_TWO_OVER_PI * (x + 0.044715 * x * x * x)));
    }

    static double sigmoid(double x) {
        if (x >= 0) return 1.0 / (1.0 + Math.exp(-x));
        double e = Math.exp(x);
        return e / (1.0 + e);
    }

    /** log(1 + e^x) without overflow. */
    static double softplus(double x) {
        return Math.max(x, 0.0) + Math.log1p(Math.exp(-Math.abs(x)));
    }

    static double asinh(double x) {
        double a = Math.abs(x);
        double r;
        if (a > 1e150) r = Math.log(a) + LN2;
        else r = Math.log1p(a + a * a / (1.0 + Math.sqrt(1.0 + a * a)));
        return Math.copySign(r, x);
    }

    static double acosh(double x) {
        if (!(x >= 1.0)) return Double.NaN;
        if (x > 1e150) return Math.log(x) + LN2;
        double t = x - 1.0;
        return Math.log1p(t + Math.sqrt(2.0 * t + t * t));
    }

    static double atanh(double x) {
        return 0.5 * Math.log1p(2.0 * x / (1.0 - x));
    }
}
