"Solutions to the exercises of chapter 07 (nbs/exercises/07_multiscale.ipynb), and plausible wrong answers the checkers must reject."
import torch
import torch.nn.functional as F

def block_means(x, k):
    J = x.shape[-1] // k
    return x[..., :J * k].unflatten(-1, (J, k)).mean(-1)

def block_means_wrong(x, k):   # the partial block at the end averaged too
    J = -(-x.shape[-1] // k)
    return torch.stack([x[..., j * k:(j + 1) * k].mean(-1) for j in range(J)], -1) if J else x[..., :0]

def hold(y_slow, k, L):
    out = y_slow.new_zeros(*y_slow.shape[:-1], L)
    for t in range(L):
        j = (t + 1) // k - 1                           # the last update made at or before token t
        if j >= 0: out[..., t] = y_slow[..., j]
    return out

def hold_wrong(y_slow, k, L):   # the update seen from the start of its block: k-1 tokens before it is made
    held = y_slow.repeat_interleave(k, dim=-1)
    held = torch.cat([held, held[..., -1:].expand(*held.shape[:-1], max(0, L - held.shape[-1]))], -1) if held.shape[-1] else y_slow.new_zeros(*y_slow.shape[:-1], L)
    return held[..., :L]

def slow_channel(m, xc, y_f):
    k, L = m.k, xc.shape[-1]
    if L // k == 0: return y_f
    v = block_means(xc, k)                             # (b, D, J)
    s = y_f[..., k - 1::k][..., :v.shape[-1]]          # the fast output at each block's last token
    return y_f + hold(m._slow_scan(v, s), k, L)

def slow_channel_wrong(m, xc, y_f):   # the conditioning taken at block starts
    k, L = m.k, xc.shape[-1]
    if L // k == 0: return y_f
    v = block_means(xc, k)
    s = y_f[..., 0::k][..., :v.shape[-1]]
    return y_f + hold(m._slow_scan(v, s), k, L)
