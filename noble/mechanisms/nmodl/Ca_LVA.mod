: Ca_LVA: low-voltage-activated (T-type) Ca2+ current, shifted 10 mV negative (specification section 7).
: Written by the noble project from docs/mechanisms.md. Temperature factor from celsius.
: Units: v mV, t ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX Ca_LVA
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
    celsius (degC)
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

PROCEDURE rates(v (mV)) {
    LOCAL u, qt
    qt = 2.3^((celsius - 21)/10)
    u = v + 10
    minf = 1/(1 + exp(-(u + 30)/6))
    mtau = (5 + 20/(1 + exp((u + 25)/5)))/qt
    hinf = 1/(1 + exp((u + 80)/6.4))
    htau = (20 + 50/(1 + exp((u + 40)/7)))/qt
}
