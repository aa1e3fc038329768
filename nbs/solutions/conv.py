"Solutions to the exercises of chapter 04b (nbs/exercises/04b_conv.ipynb), and plausible wrong answers the checkers must reject."
import torch
import torch.nn.functional as F

def causal_conv(x, weight, bias):
    W, L = weight.shape[1], x.shape[-1]
    xe = F.pad(x, (W - 1, 0))                                        # zeros before the start
    pre = sum(weight[:, k, None] * xe[..., k:k + L] for k in range(W)) + bias[:, None]
    return F.silu(pre)

def causal_conv_wrong(x, weight, bias):   # the taps in the other order: w_0 multiplies x_t
    return causal_conv(x, weight.flip(-1), bias)

def conv_update(x, conv_state, weight, bias):
    conv_state.copy_(torch.cat([conv_state[..., 1:], x[..., None]], -1))    # shift left, x enters at the end
    W = weight.shape[1]
    return F.silu((conv_state[..., -W:] * weight).sum(-1) + bias)

def conv_update_wrong(x, conv_state, weight, bias):   # the output from the state before x was shifted in
    W = weight.shape[1]
    out = F.silu((conv_state[..., -W:] * weight).sum(-1) + bias)
    conv_state.copy_(torch.cat([conv_state[..., 1:], x[..., None]], -1))
    return out
