"Solutions to the exercises of chapter 05 (nbs/exercises/05_mamba.ipynb), and plausible wrong answers the checkers must reject."
import torch
import torch.nn.functional as F
from effseq.conv import causal_conv1d_update_ref
from effseq.selective import selective_state_update_ref

def inverse_softplus(x):
    return x + torch.log(-torch.expm1(-x))        # log(e^x - 1) = x + log(1 - e^-x), no overflow, no cancellation

def inverse_softplus_wrong(x):   # the formula as written: cancels for tiny x, overflows for large x in float32
    return torch.log(torch.exp(x) - 1)

def _step(m, hidden_states, conv_state, ssm_state, D):
    x, z = m.in_proj(hidden_states[:, 0]).chunk(2, dim=-1)                              # (b, d_inner) each
    x = causal_conv1d_update_ref(x, conv_state, m.conv1d.weight[:, 0], m.conv1d.bias, activation='silu')
    dt, B, C = m.x_proj(x).split([m.dt_rank, m.d_state, m.d_state], dim=-1)
    dt = F.linear(dt, m.dt_proj.weight)                                                  # bias added with the softplus
    y = selective_state_update_ref(ssm_state, x, dt, -torch.exp(m.A_log), B, C, D, z, m.dt_proj.bias, dt_softplus=True)
    return m.out_proj(y)[:, None]

def mamba_step(m, hidden_states, conv_state, ssm_state):
    return _step(m, hidden_states, conv_state, ssm_state, m.D)

def mamba_step_wrong(m, hidden_states, conv_state, ssm_state):   # the D skip left out
    return _step(m, hidden_states, conv_state, ssm_state, None)
