"Solutions to the exercises of chapter 03 (nbs/exercises/03_scan.ipynb), and plausible wrong answers the checkers must reject."
import torch
from effseq.scan import linear_scan

def combine(left, right):
    (a1, b1), (a2, b2) = left, right
    return a1 * a2, a2 * b1 + b2

def combine_wrong(left, right):   # the right map applied first
    (a1, b1), (a2, b2) = left, right
    return a1 * a2, a1 * b2 + b1

def reverse_scan(a, b):
    if b.shape[-1] == 0: return b.clone()
    h, out = torch.zeros_like(b[..., 0]), []
    for t in reversed(range(b.shape[-1])):
        h = a[..., t] * h + b[..., t]
        out.append(h)
    return torch.stack(out[::-1], -1)

def reverse_scan_wrong(a, b):   # the forward scan
    return linear_scan(a, b)

def reverse_scan_wrong_unflipped(a, b):   # flipped in, not flipped back out
    return linear_scan(a.flip(-1), b.flip(-1))

def scan_backward(a, h, grad_h):
    a_next = torch.cat([a[..., 1:], torch.zeros_like(a[..., :1])], -1)       # a_{t+1}, 0 past the end
    g = reverse_scan(a_next, grad_h)                                           # dLoss/dh_t, all paths
    h_prev = torch.cat([torch.zeros_like(h[..., :1]), h[..., :-1]], -1)        # h_{t-1}, h_{-1} = 0
    return g * h_prev, g

def scan_backward_wrong(a, h, grad_h):   # grad_a from h_t instead of h_{t-1}
    a_next = torch.cat([a[..., 1:], torch.zeros_like(a[..., :1])], -1)
    g = reverse_scan(a_next, grad_h)
    return g * h, g
