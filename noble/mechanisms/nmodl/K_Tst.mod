: K_Tst: transient (A-type) K+ current, shifted 10 mV negative, fixed temperature factor (specification
: section 4). Written by the noble project from docs/mechanisms.md.
: The temperature factor is a constant 2.3^((34 - 21)/10): it does not follow celsius.
: Units: v mV, t ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX K_Tst
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
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
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    minf (1)
    mtau (ms)
    hinf (1)
    htau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m*m*m*m*h
    ik = g*(v - ek)
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
    qt = 2.3^((34 - 21)/10)
    u = v + 10
    minf = 1/(1 + exp(-u/19))
    mtau = (0.34 + 0.92*exp(-((u + 71)/59)^2))/qt
    hinf = 1/(1 + exp((u + 66)/10))
    htau = (8 + 49*exp(-((u + 73)/23)^2))/qt
}
