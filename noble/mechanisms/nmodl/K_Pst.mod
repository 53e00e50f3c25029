: K_Pst: persistent K+ current, shifted 10 mV negative, fixed temperature factor (specification section 3).
: Written by the noble project from docs/mechanisms.md.
: The temperature factor is a constant 2.3^((34 - 21)/10): it does not follow celsius.
: Units: v mV, t ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX K_Pst
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
    g = gbar*m*m*h
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
    minf = 1/(1 + exp(-(u + 1)/12))
    if (u < -50) {
        mtau = (1.25 + 175.03*exp(0.026*u))/qt
    } else {
        mtau = (1.25 + 13*exp(-0.026*u))/qt
    }
    hinf = 1/(1 + exp((u + 54)/11))
    htau = (360 + (1010 + 24*(u + 55))*exp(-((u + 75)/48)^2))/qt
}
