#!/usr/bin/env python3
"""Packed sequences on the GPU: selective_scan_fn with seq_idx against chapter 04's float64 path (forward, last state,
every gradient; fp32 and bf16; several segments), and a Mamba block's fused path packed == each sequence alone.

    python3 tools/gpu_packed_check.py --out packed_check.json
"""
import argparse, json, torch
from effseq.selective import make_scan_inputs, selective_scan_torch, scan_grads
from effseq.triton_scan import selective_scan_fn
from effseq.mamba import Mamba

def rel(a, b): return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-6)).item()

def scan_case(b, D, N, L, dtype, cuts):
    a = make_scan_inputs(b=b, D=D, N=N, L=L, dtype=dtype, device='cuda', with_h0=True)
    ids = torch.zeros(b, L, dtype=torch.int32, device='cuda')
    for c in cuts: ids[:, c:] += 1
    dout, dlast = torch.randn(b, D, L, device='cuda', dtype=dtype), torch.randn(b, D, N, device='cuda')
    g = scan_grads(lambda **k: selective_scan_fn(**k, seq_idx=ids), a, dout, dlast)
    a64 = {k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in a.items()}
    r = scan_grads(lambda **k: selective_scan_torch(**k, seq_idx=ids), a64, dout.double(), dlast.double())
    y = selective_scan_fn(**a, seq_idx=ids, return_last_state=True)
    y64 = selective_scan_torch(**a64, seq_idx=ids, return_last_state=True)
    errs = dict(y=rel(y[0], y64[0]), last=rel(y[1], y64[1]), **{f'd{k}': rel(g[k], r[k]) for k in g})
    tol = 1e-3 if dtype == torch.float32 else 5e-2
    return dict(shape=(b, D, N, L), dtype=str(dtype), cuts=list(cuts), errs=errs, ok=all(e < tol for e in errs.values()))

def block_case(lens, dtype=torch.float32):
    torch.manual_seed(0)
    blk = Mamba(d_model=256, d_state=16, layer_idx=0, device='cuda')
    assert blk._fused()
    xs = [torch.randn(1, n, 256, device='cuda') for n in lens]
    cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()])
    blk.zero_grad(); y = blk(torch.cat(xs, 1), cu_seqlens=cu); (y * y).sum().backward()
    gp = {k: p.grad.clone() for k, p in blk.named_parameters()}
    blk.zero_grad(); ys = [blk(x) for x in xs]; sum((v * v).sum() for v in ys).backward()
    errs = dict(y=rel(y, torch.cat(ys, 1)), **{k: rel(gp[k], p.grad) for k, p in blk.named_parameters()})
    return dict(lens=list(lens), errs=errs, ok=all(e < 1e-3 for e in errs.values()))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--out', required=True); a = ap.parse_args()
    res = dict(gpu=torch.cuda.get_device_name(), scan=[], block=[])
    for dt in (torch.float32, torch.bfloat16):
        res['scan'].append(scan_case(2, 256, 16, 4096, dt, (1, 511, 512, 1500, 2048, 4095)))
        res['scan'].append(scan_case(1, 192, 16, 20000, dt, (3000, 3001, 8192, 17000)))   # b = 1: segments
    res['block'].append(block_case((300, 1, 1000, 747)))
    for r in res['scan'] + res['block']: print(r['ok'], r.get('shape', r.get('lens')), r.get('dtype', ''), max(r['errs'].values()))
    res['ok'] = all(r['ok'] for r in res['scan'] + res['block'])
    json.dump(res, open(a.out, 'w'), indent=1)
