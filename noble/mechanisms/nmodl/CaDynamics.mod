: CaDynamics: submembrane Ca2+ shell with first-order removal (specification section 8).
: Written by the noble project from docs/mechanisms.md. Writes cai, so NEURON computes eca by Nernst.
: Units: cai mM, ica mA/cm2, depth um, decay ms; the factor 1e4 turns (mA/cm2)/((C/mol) um) into mM/ms.

NEURON {
    SUFFIX CaDynamics
    USEION ca READ ica WRITE cai
    RANGE gamma, decay, depth, minCai
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulomb)
}

PARAMETER {
    gamma = 0.05 (1)
    decay = 80 (ms)
    depth = 0.1 (um)
    minCai = 1e-4 (mM)
}

ASSIGNED {
    ica (mA/cm2)
}

STATE { cai (mM) }

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    cai' = -(10000)*(ica*gamma/(2*FARADAY*depth)) - (cai - minCai)/decay
}

INITIAL {
    cai = minCai
}
