: NaV: 12-state Markov sodium channel (C1..C5, O, I1..I6) with allosteric inactivation
: (specification section 1). Written by the noble project from docs/mechanisms.md.
: Kinetics are integrated with implicit Euler (METHOD sparse). The initial state follows the published
: model's own rule: a 12x12 linear system whose I6 row is the normalisation and whose I3 row carries
: the I3->C3 rate as the coefficient of I4 (see the specification); it relaxes to the true steady state
: within about 10 ms.
: Units: v mV, t ms, rates 1/ms, gbar S/cm2, currents mA/cm2.

NEURON {
    SUFFIX NaV
    USEION na READ ena WRITE ina
    RANGE gbar, g, ina
    GLOBAL alpha0, beta0, gammao, deltao, Con, Coff, Oon, Ooff, alfac, btfac, x1, x2
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.015 (S/cm2)
    alpha0 = 400 (/ms)
    beta0 = 12 (/ms)
    gammao = 250 (/ms)
    deltao = 60 (/ms)
    Con = 0.01 (/ms)
    Coff = 40 (/ms)
    Oon = 8 (/ms)
    Ooff = 0.05 (/ms)
    alfac = 2.51 (1)
    btfac = 5.32 (1)
    x1 = 24 (mV)
    x2 = -24 (mV)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ina (mA/cm2)
    g (S/cm2)
    phi (1)
    av (/ms)
    bv (/ms)
    kgo (/ms)
    kdo (/ms)
    kin1 (/ms)
    kin2 (/ms)
    kin3 (/ms)
    kin4 (/ms)
    kin5 (/ms)
    kout1 (/ms)
    kout2 (/ms)
    kout3 (/ms)
    kout4 (/ms)
    kout5 (/ms)
    kOon (/ms)
    kOoff (/ms)
}

STATE { C1 C2 C3 C4 C5 O I1 I2 I3 I4 I5 I6 }

BREAKPOINT {
    SOLVE kin METHOD sparse
    g = gbar*O
    ina = g*(v - ena)
}

INITIAL {
    rates(v)
    SOLVE start
}

PROCEDURE rates(v (mV)) {
    phi = 2.3^((celsius - 37)/10)
    av = phi*alpha0*exp(v/x1)
    bv = phi*beta0*exp(v/x2)
    kgo = phi*gammao
    kdo = phi*deltao
    kin1 = phi*Con
    kin2 = phi*Con*alfac
    kin3 = phi*Con*alfac^2
    kin4 = phi*Con*alfac^3
    kin5 = phi*Con*alfac^4
    kout1 = phi*Coff
    kout2 = phi*Coff/btfac
    kout3 = phi*Coff/btfac^2
    kout4 = phi*Coff/btfac^3
    kout5 = phi*Coff/btfac^4
    kOon = phi*Oon
    kOoff = phi*Ooff
}

KINETIC kin {
    rates(v)
    ~ C1 <-> C2 (4*av, bv)
    ~ C2 <-> C3 (3*av, 2*bv)
    ~ C3 <-> C4 (2*av, 3*bv)
    ~ C4 <-> C5 (av, 4*bv)
    ~ C5 <-> O (kgo, kdo)
    ~ I1 <-> I2 (4*alfac*av, bv/btfac)
    ~ I2 <-> I3 (3*alfac*av, 2*bv/btfac)
    ~ I3 <-> I4 (2*alfac*av, 3*bv/btfac)
    ~ I4 <-> I5 (alfac*av, 4*bv/btfac)
    ~ I5 <-> I6 (kgo, kdo)
    ~ C1 <-> I1 (kin1, kout1)
    ~ C2 <-> I2 (kin2, kout2)
    ~ C3 <-> I3 (kin3, kout3)
    ~ C4 <-> I4 (kin4, kout4)
    ~ C5 <-> I5 (kin5, kout5)
    ~ O <-> I6 (kOon, kOoff)
}

LINEAR start {
    ~ -(4*av + kin1)*C1 + bv*C2 + kout1*I1 = 0
    ~ 4*av*C1 - (bv + 3*av + kin2)*C2 + 2*bv*C3 + kout2*I2 = 0
    ~ 3*av*C2 - (2*bv + 2*av + kin3)*C3 + 3*bv*C4 + kout3*I3 = 0
    ~ 2*av*C3 - (3*bv + av + kin4)*C4 + 4*bv*C5 + kout4*I4 = 0
    ~ av*C4 - (4*bv + kgo + kin5)*C5 + kdo*O + kout5*I5 = 0
    ~ kgo*C5 - (kdo + kOon)*O + kOoff*I6 = 0
    ~ kin1*C1 - (4*alfac*av + kout1)*I1 + (bv/btfac)*I2 = 0
    ~ kin2*C2 + 4*alfac*av*I1 - (bv/btfac + 3*alfac*av + kout2)*I2 + (2*bv/btfac)*I3 = 0
    : as published: the coefficient of I4 in this row is the I3->C3 rate, not the I4->I3 rate
    ~ kin3*C3 + 3*alfac*av*I2 - (2*bv/btfac + 2*alfac*av + kout3)*I3 + kout3*I4 = 0
    ~ kin4*C4 + 2*alfac*av*I3 - (3*bv/btfac + alfac*av + kout4)*I4 + (4*bv/btfac)*I5 = 0
    ~ kin5*C5 + alfac*av*I4 - (4*bv/btfac + kgo + kout5)*I5 + kdo*I6 = 0
    ~ C1 + C2 + C3 + C4 + C5 + O + I1 + I2 + I3 + I4 + I5 + I6 = 1
}
