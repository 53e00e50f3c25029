: Kv3_1: Kv3-like fast delayed-rectifier K+ current (one gate m, no temperature dependence).
: Written by the noble project from docs/mechanisms.md (specification section 2).
: Units: v mV, t ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX Kv3_1
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik, vshift
    RANGE minf, mtau
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
    vshift = 0 (mV)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    minf (1)
    mtau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m
    ik = g*(v - ek)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
}

INITIAL {
    rates(v)
    m = minf
}

PROCEDURE rates(v (mV)) {
    minf = 1/(1 + exp(-(v - 18.7 - vshift)/9.7))
    mtau = 4/(1 + exp(-(v + 46.56 - vshift)/44.14))
}
