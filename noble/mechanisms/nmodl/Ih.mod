: Ih: hyperpolarisation-activated non-specific cation current, E_h = -45 mV (specification section 9).
: Written by the noble project from docs/mechanisms.md. No temperature dependence, no ion bookkeeping.
: Units: v mV, t ms, rates 1/ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gbar, g, ihcn
    RANGE minf, mtau
    GLOBAL ehcn
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
    ehcn = -45 (mV)
}

ASSIGNED {
    v (mV)
    ihcn (mA/cm2)
    g (S/cm2)
    minf (1)
    mtau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m
    ihcn = g*(v - ehcn)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
}

INITIAL {
    rates(v)
    m = minf
}

FUNCTION efun(x, y) {
    : x/(exp(x/y) - 1), with its limit near x = 0
    if (fabs(x/y) < 1e-6) {
        efun = y*(1 - x/(2*y))
    } else {
        efun = x/(exp(x/y) - 1)
    }
}

PROCEDURE rates(v (mV)) {
    LOCAL am, bm
    am = 0.00643*efun(v + 154.9, 11.9)
    bm = 0.193*exp(v/33.1)
    minf = am/(am + bm)
    mtau = 1/(am + bm)
}
