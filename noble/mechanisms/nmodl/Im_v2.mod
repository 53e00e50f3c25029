: Im_v2: M-type (KCNQ) K+ current with Eyring-type rates (specification section 10).
: Written by the noble project from docs/mechanisms.md. Temperature factor 2.3^((celsius - 30)/10) on tau.
: Units: v mV, t ms, rates 1/ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX Im_v2
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
    RANGE minf, mtau
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
    celsius (degC)
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
    LOCAL a, b, qt
    qt = 2.3^((celsius - 30)/10)
    a = 0.007*exp(2.4*(v + 48)/26.12)
    b = 0.007*exp(-3.6*(v + 48)/26.12)
    minf = a/(a + b)
    mtau = (15 + 1/(a + b))/qt
}
