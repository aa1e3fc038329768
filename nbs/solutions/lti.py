"Solutions to the exercises of chapter 02 (nbs/exercises/02_lti.ipynb), and plausible wrong answers the checkers must reject."
import torch

def kernel(A_bar, B_bar, C, L):
    k = torch.arange(L, dtype=A_bar.dtype)
    return ((C * B_bar)[..., None] * A_bar[..., None] ** k).sum(-2)

def kernel_wrong(A_bar, B_bar, C, L):   # powers 1..L: one step late
    k = torch.arange(1, L + 1, dtype=A_bar.dtype)
    return ((C * B_bar)[..., None] * A_bar[..., None] ** k).sum(-2)

def fft_conv(u, K):
    L = u.shape[-1]
    n = 2 * L                                   # room for the full linear convolution (2L - 1 terms)
    return torch.fft.irfft(torch.fft.rfft(u, n) * torch.fft.rfft(K, n), n)[..., :L]

def fft_conv_wrong(u, K):   # no padding: a circular convolution, the tail wraps around onto the start
    L = u.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(u, L) * torch.fft.rfft(K, L), L)

def dense_kernel(A_bar, B_bar, C, L):
    Ks, v = [], B_bar
    for _ in range(L):
        Ks.append(C @ v); v = A_bar @ v
    return torch.stack(Ks)

def dense_kernel_wrong(A_bar, B_bar, C, L):   # v @ A_bar: the powers of A_bar transposed
    Ks, v = [], B_bar
    for _ in range(L):
        Ks.append(C @ v); v = v @ A_bar
    return torch.stack(Ks)
