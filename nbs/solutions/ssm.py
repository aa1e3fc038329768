"Solutions to the exercises of chapter 01 (nbs/exercises/01_ssm.ipynb), and plausible wrong answers the checkers must reject."
import torch

def bilinear(A, B, delta):
    x = delta * A
    return (1 + x / 2) / (1 - x / 2), delta * B / (1 - x / 2)

def bilinear_wrong(A, B, delta):   # Euler's B_bar: the denominator forgotten
    x = delta * A
    return (1 + x / 2) / (1 - x / 2), delta * B + 0 * x

def zoh(A, B, delta):
    x = delta * A
    safe = torch.where(x == 0, torch.ones_like(x), x)
    phi = torch.where(x == 0, torch.ones_like(x), torch.expm1(safe) / safe)   # (e^x - 1)/x, 1 at x = 0
    return torch.exp(x), delta * phi * B

def zoh_wrong(A, B, delta):   # the textbook formula as written: NaN at A = 0, inaccurate for tiny |A delta|
    x = delta * A
    return torch.exp(x), (torch.exp(x) - 1) / A * B

def zoh_wrong_mamba(A, B, delta):   # Mamba's simplification, not ZOH
    x = delta * A
    return torch.exp(x), delta * B + 0 * x

def recurrence(A_bar, B_bar, C, u):
    x = torch.zeros(*u.shape[:-1], A_bar.shape[-1], dtype=u.dtype)
    ys = []
    for t in range(u.shape[-1]):
        x = A_bar * x + B_bar * u[..., t, None]
        ys.append((C * x).sum(-1))
    return torch.stack(ys, -1) if ys else u.new_zeros(u.shape)

def recurrence_wrong(A_bar, B_bar, C, u):   # y_t read from the state before the update
    x = torch.zeros(*u.shape[:-1], A_bar.shape[-1], dtype=u.dtype)
    ys = []
    for t in range(u.shape[-1]):
        ys.append((C * x).sum(-1))
        x = A_bar * x + B_bar * u[..., t, None]
    return torch.stack(ys, -1) if ys else u.new_zeros(u.shape)
