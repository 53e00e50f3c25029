"""The paper's speed table (appendix E): PDE solvers against NOBLE on CPU and GPU.

* :mod:`noble.bench.timing`: batched wall-clock timing with the warm-up reported apart;
* :mod:`noble.bench.inference`: NOBLE inference variants (reference neuralop FNO, fast path, precisions,
  CUDA graphs) and their accuracy;
* :mod:`noble.bench.table`: rows, speed-ups, printing and CSV;
* :mod:`noble.bench.speed_table`: the whole table, as ``noble bench`` runs it.
"""
