: SK: small-conductance Ca2+-activated K+ current (specification section 5).
: Written by the noble project from docs/mechanisms.md. No voltage or temperature dependence.
: Units: cai mM, t ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX SK
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gbar, g, ik
    RANGE zinf
    GLOBAL zTau
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.000001 (S/cm2)
    zTau = 1 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    cai (mM)
    ik (mA/cm2)
    g (S/cm2)
    zinf (1)
}

STATE { z }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*z
    ik = g*(v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zinf - z)/zTau
}

INITIAL {
    rates(cai)
    z = zinf
}

PROCEDURE rates(ca (mM)) {
    LOCAL c
    c = ca
    if (c < 1e-7) {
        c = c + 1e-7
    }
    zinf = 1/(1 + (0.00043/c)^4.8)
}
