: Ca_HVA: high-voltage-activated Ca2+ current, ohmic with the Nernst E_Ca (specification section 6).
: Written by the noble project from docs/mechanisms.md. No temperature dependence.
: Units: v mV, t ms, rates 1/ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX Ca_HVA
    USEION ca READ eca WRITE ica
    RANGE gbar, g, ica
    RANGE minf, mtau, hinf, htau
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    g (S/cm2)
    minf (1)
    mtau (ms)
    hinf (1)
    htau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m*m*h
    ica = g*(v - eca)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
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
    LOCAL am, bm, ah, bh
    am = 0.055*efun(-27 - v, 3.8)
    bm = 0.94*exp(-(v + 75)/17)
    ah = 0.000457*exp(-(v + 13)/50)
    bh = 0.0065/(1 + exp(-(v + 15)/28))
    minf = am/(am + bm)
    mtau = 1/(am + bm)
    hinf = ah/(ah + bh)
    htau = 1/(ah + bh)
}
