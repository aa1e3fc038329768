"Solutions to the exercises of chapter 08 (nbs/exercises/08_adaptive.ipynb), and plausible wrong answers the checkers must reject."
import torch

def fire_now(wants, since, min_interval, max_interval):
    f = wants
    if min_interval is not None: f = f & (since >= min_interval)
    if max_interval is not None: f = f | (since >= max_interval)
    return f

def fire_now_wrong(wants, since, min_interval, max_interval):   # strict inequalities: one token late
    f = wants
    if min_interval is not None: f = f & (since > min_interval)
    if max_interval is not None: f = f | (since > max_interval)
    return f

def schedule(hard, min_interval, max_interval):
    b, L = hard.shape
    out = torch.zeros(b, L, dtype=torch.bool)
    last = torch.full((b,), -1)                        # an update 'at -1': token t is t + 1 tokens after it
    for t in range(L):
        f = fire_now(hard[:, t], t - last, min_interval, max_interval)
        out[:, t] = f
        last = torch.where(f, t, last)
    return out

def schedule_wrong(hard, min_interval, max_interval):   # a forced update does not restart the count
    b, L = hard.shape
    out = torch.zeros(b, L, dtype=torch.bool)
    last = torch.full((b,), -1)
    for t in range(L):
        f = fire_now(hard[:, t], t - last, min_interval, max_interval)
        out[:, t] = f
        last = torch.where(f & hard[:, t], t, last)
    return out

def window_means(x, fired):
    b, D, L = x.shape
    M = int(fired.sum(1).max()) if L else 0
    out = x.new_zeros(b, D, M)
    for r in range(b):
        start, j = 0, 0
        for t in range(L):
            if fired[r, t]:
                out[r, :, j] = x[r, :, start:t + 1].mean(-1); start, j = t + 1, j + 1
    return out

def window_means_wrong(x, fired):   # each window starts at the previous update instead of just after it
    b, D, L = x.shape
    M = int(fired.sum(1).max()) if L else 0
    out = x.new_zeros(b, D, M)
    for r in range(b):
        start, j = 0, 0
        for t in range(L):
            if fired[r, t]:
                out[r, :, j] = x[r, :, start:t + 1].mean(-1); start, j = t, j + 1
    return out
