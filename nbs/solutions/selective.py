"Solutions to the exercises of chapter 04 (nbs/exercises/04_selective.ipynb), and plausible wrong answers the checkers must reject."
import torch
import torch.nn.functional as F

def discretize_inputs(u, delta, A, B):
    d = delta[..., None]                                       # (b, D, L, 1)
    dA = torch.exp(d * A[:, None, :])                          # (b, D, L, N)
    dBu = d * u[..., None] * B.mT[:, None]                     # (b, D, L, N)
    return dA, dBu

def discretize_inputs_wrong(u, delta, A, B):   # ZOH's B_bar instead of Mamba's delta B
    d = delta[..., None]
    x = d * A[:, None, :]
    return torch.exp(x), torch.expm1(x) / A[:, None, :] * u[..., None] * B.mT[:, None]

def _scan(u, dt, A, B, C, D, z):
    "The state loop with delta already prepared (b, D, L)."
    b, Dm, L = u.shape
    h = u.new_zeros(b, Dm, A.shape[1])
    ys = []
    for t in range(L):
        h = torch.exp(dt[..., t, None] * A) * h + (dt[..., t] * u[..., t])[..., None] * B[:, None, :, t]   # (b, D, N)
        ys.append((h * C[:, None, :, t]).sum(-1))
    return (torch.stack(ys, -1) + D[:, None] * u) * F.silu(z)

def selective_scan(u, delta, A, B, C, D, z, delta_bias):
    return _scan(u, F.softplus(delta + delta_bias[:, None]), A, B, C, D, z)

def selective_scan_wrong(u, delta, A, B, C, D, z, delta_bias):   # the D skip forgotten
    return _scan(u, F.softplus(delta + delta_bias[:, None]), A, B, C, 0 * D, z)

def selective_scan_wrong_softplus(u, delta, A, B, C, D, z, delta_bias):   # softplus(delta) + bias, not softplus(delta + bias)
    return _scan(u, F.softplus(delta) + delta_bias[:, None], A, B, C, D, z)

def state_update(state, x, dt, A, B, C, D, z, dt_bias):
    d = F.softplus(dt + dt_bias)                                # (b, D)
    state.mul_(torch.exp(d[..., None] * A)).add_((d * x)[..., None] * B[:, None, :])   # in place
    y = (state * C[:, None, :]).sum(-1) + D * x
    return y * F.silu(z)

def state_update_wrong(state, x, dt, A, B, C, D, z, dt_bias):   # a new tensor bound to the local name: the caller's state never changes
    d = F.softplus(dt + dt_bias)
    state = torch.exp(d[..., None] * A) * state + (d * x)[..., None] * B[:, None, :]
    return ((state * C[:, None, :]).sum(-1) + D * x) * F.silu(z)
