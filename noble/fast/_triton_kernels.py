"""Triton kernels of :mod:`noble.fast.fused` (imported only when that path runs: Triton is optional).

Shapes are channel-first ``(batch, channels, time)``; every program handles ``BT`` time points of one batch
element with all channels in registers, padded to the power-of-two tile sizes ``tl.dot`` needs (zero weights
on the padding). ``MODE``: 0 IEEE fp32 dots, 1 TF32 dots. The dots are tiny (24 x 24 x tile): the kernels are
bound by memory traffic, so bf16 storage gains what bf16 can gain here without bf16 dot operands.
"""
import triton
import triton.language as tl


@triton.jit
def gelu(x):
    """Exact (erf) GELU, as torch.nn.functional.gelu."""
    return 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))


@triton.jit
def dot(w, x, MODE: tl.constexpr):
    """``w @ x`` in the precision ``MODE`` (see the module docstring)."""
    if MODE == 1:
        return tl.dot(w, x, input_precision="tf32")
    else:
        return tl.dot(w, x, input_precision="ieee")


@triton.jit
def layer_kernel(s_ptr, h_ptr, out_ptr, ws_ptr, bs_ptr, w0_ptr, b0_ptr, w1_ptr, b1_ptr, g_ptr, N,
                 C: tl.constexpr, CM: tl.constexpr, CP: tl.constexpr, CMP: tl.constexpr,
                 BT: tl.constexpr, ACT: tl.constexpr, MODE: tl.constexpr):
    """Everything pointwise of one Fourier layer: skip, spectral bias, GELU, channel MLP, soft gating."""
    t = tl.program_id(0) * BT + tl.arange(0, BT)
    base = tl.program_id(1).to(tl.int64) * C * N
    c = tl.arange(0, CP)
    j = tl.arange(0, CMP)
    cm = c < C
    jm = j < CM
    mask = cm[:, None] & (t < N)[None, :]
    offs = base + c[:, None] * N + t[None, :]
    h = tl.load(h_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    s = tl.load(s_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ws = tl.load(ws_ptr + c[:, None] * C + c[None, :], mask=cm[:, None] & cm[None, :], other=0.0)
    bs = tl.load(bs_ptr + c, mask=cm, other=0.0)
    a = s + dot(ws, h, MODE) + bs[:, None]
    if ACT:
        a = gelu(a)
    w0 = tl.load(w0_ptr + j[:, None] * C + c[None, :], mask=jm[:, None] & cm[None, :], other=0.0)
    b0 = tl.load(b0_ptr + j, mask=jm, other=0.0)
    u = gelu(dot(w0, a, MODE) + b0[:, None])
    w1 = tl.load(w1_ptr + c[:, None] * CM + j[None, :], mask=cm[:, None] & jm[None, :], other=0.0)
    b1 = tl.load(b1_ptr + c, mask=cm, other=0.0)
    g = tl.load(g_ptr + c, mask=cm, other=0.0)
    y = dot(w1, u, MODE) + b1[:, None] + g[:, None] * h
    if ACT:
        y = gelu(y)
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def mlp_kernel(x_ptr, out_ptr, w0_ptr, b0_ptr, wg_ptr, w1_ptr, b1_ptr, N, inv_n,
               CI: tl.constexpr, CH: tl.constexpr, CO: tl.constexpr, CIP: tl.constexpr,
               CHP: tl.constexpr, COP: tl.constexpr, W0_STRIDE: tl.constexpr, BT: tl.constexpr,
               GRID: tl.constexpr, MODE: tl.constexpr):
    """A 2-layer channel MLP with GELU (lifting, with the grid channel, or projection)."""
    t = tl.program_id(0) * BT + tl.arange(0, BT)
    b = tl.program_id(1).to(tl.int64)
    i = tl.arange(0, CIP)
    k = tl.arange(0, CHP)
    o = tl.arange(0, COP)
    tm = t < N
    x = tl.load(x_ptr + b * CI * N + i[:, None] * N + t[None, :], mask=(i < CI)[:, None] & tm[None, :],
                other=0.0).to(tl.float32)
    w0 = tl.load(w0_ptr + k[:, None] * W0_STRIDE + i[None, :], mask=(k < CH)[:, None] & (i < CI)[None, :],
                 other=0.0)
    b0 = tl.load(b0_ptr + k, mask=k < CH, other=0.0)
    hid = dot(w0, x, MODE) + b0[:, None]
    if GRID:  # neuralop's grid channel, t / N, enters through the last input column of w0
        wg = tl.load(wg_ptr + k * W0_STRIDE, mask=k < CH, other=0.0)
        hid += wg[:, None] * (t.to(tl.float32) * inv_n)[None, :]
    hid = gelu(hid)
    w1 = tl.load(w1_ptr + o[:, None] * CH + k[None, :], mask=(o < CO)[:, None] & (k < CH)[None, :], other=0.0)
    b1 = tl.load(b1_ptr + o, mask=o < CO, other=0.0)
    y = dot(w1, hid, MODE) + b1[:, None]
    tl.store(out_ptr + b * CO * N + o[:, None] * N + t[None, :], y.to(out_ptr.dtype.element_ty),
             mask=(o < CO)[:, None] & tm[None, :])


@triton.jit
def gelu_grad(x):
    """Derivative of the exact GELU."""
    return 0.5 * (1.0 + tl.math.erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * tl.exp(-0.5 * x * x)


@triton.jit
def layer_backward_kernel(s_ptr, h_ptr, go_ptr, ds_ptr, dh_ptr, part_ptr, ws_ptr, bs_ptr, w0_ptr, b0_ptr,
                          w1_ptr, b1_ptr, g_ptr, N, C: tl.constexpr, CM: tl.constexpr, CP: tl.constexpr,
                          CMP: tl.constexpr, BT: tl.constexpr, ACT: tl.constexpr, MODE: tl.constexpr):
    """Gradients of :func:`layer_kernel`: recomputes the tile, writes d(s) and d(h), and this program's
    partial weight gradients as one row of ``part`` (dWs, dbs, dW0, db0, dW1, db1, dg; padded layout)."""
    pid_t = tl.program_id(0)
    t = pid_t * BT + tl.arange(0, BT)
    base = tl.program_id(1).to(tl.int64) * C * N
    c = tl.arange(0, CP)
    j = tl.arange(0, CMP)
    cm = c < C
    jm = j < CM
    tm = t < N
    mask = cm[:, None] & tm[None, :]
    offs = base + c[:, None] * N + t[None, :]
    h = tl.load(h_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    s = tl.load(s_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    go = tl.load(go_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ws = tl.load(ws_ptr + c[:, None] * C + c[None, :], mask=cm[:, None] & cm[None, :], other=0.0)
    bs = tl.load(bs_ptr + c, mask=cm, other=0.0)
    w0 = tl.load(w0_ptr + j[:, None] * C + c[None, :], mask=jm[:, None] & cm[None, :], other=0.0)
    b0 = tl.load(b0_ptr + j, mask=jm, other=0.0)
    w1 = tl.load(w1_ptr + c[:, None] * CM + j[None, :], mask=cm[:, None] & jm[None, :], other=0.0)
    b1 = tl.load(b1_ptr + c, mask=cm, other=0.0)
    g = tl.load(g_ptr + c, mask=cm, other=0.0)
    valid = tm[None, :].to(tl.float32)  # padded time points must not add to the weight gradients
    # forward, recomputed
    a_pre = s + dot(ws, h, MODE) + bs[:, None]
    a = a_pre
    if ACT:
        a = gelu(a_pre)
    a = a * valid
    u_pre = dot(w0, a, MODE) + b0[:, None]
    u = gelu(u_pre) * valid
    # backward
    dy = go
    if ACT:
        y_pre = dot(w1, u, MODE) + b1[:, None] + g[:, None] * h
        dy = go * gelu_grad(y_pre)
    dy = dy * valid
    dw1 = dot(dy, tl.trans(u), MODE)
    db1 = tl.sum(dy, axis=1)
    dg = tl.sum(dy * h, axis=1)
    du_pre = dot(tl.trans(w1), dy, MODE) * gelu_grad(u_pre) * valid
    dw0 = dot(du_pre, tl.trans(a), MODE)
    db0 = tl.sum(du_pre, axis=1)
    da_pre = dot(tl.trans(w0), du_pre, MODE)
    if ACT:
        da_pre = da_pre * gelu_grad(a_pre)
    da_pre = da_pre * valid
    dws = dot(da_pre, tl.trans(h), MODE)
    dbs = tl.sum(da_pre, axis=1)
    dh = dot(tl.trans(ws), da_pre, MODE) + g[:, None] * dy
    tl.store(ds_ptr + offs, da_pre.to(ds_ptr.dtype.element_ty), mask=mask)
    tl.store(dh_ptr + offs, dh.to(dh_ptr.dtype.element_ty), mask=mask)
    # partial weight gradients of this program:
    # [dWs CPxCP | dbs CP | dW0 CMPxCP | db0 CMP | dW1 CPxCMP | db1 CP | dg CP]
    row = part_ptr + (tl.program_id(1).to(tl.int64) * tl.num_programs(0) + pid_t) * (
        CP * CP + 3 * CP + 2 * CMP * CP + CMP)
    tl.store(row + c[:, None] * CP + c[None, :], dws)
    o = CP * CP
    tl.store(row + o + c, dbs)
    o += CP
    tl.store(row + o + j[:, None] * CP + c[None, :], dw0)
    o += CMP * CP
    tl.store(row + o + j, db0)
    o += CMP
    tl.store(row + o + c[:, None] * CMP + j[None, :], dw1)
    o += CP * CMP
    tl.store(row + o + c, db1)
    o += CP
    tl.store(row + o + c, dg)
