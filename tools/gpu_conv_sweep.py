#!/usr/bin/env python3
"""Launch-config sweep of effseq's causal conv1d kernels (forward, backward) at the Mamba block's layouts, against
causal-conv1d's CUDA kernels in the same process (issue 14: the conv backward ran at about a quarter of the memory
bandwidth inside the model).

    PYTHONPATH=/tmp/official:$PYTHONPATH python3 tools/gpu_conv_sweep.py --out conv_sweep.json

x is the first half of in_proj's (b, 2d, L) output and dx is written into a (b, 2d, L) buffer, as `MambaInnerFn`
calls them; bf16, width 4, SiLU, bias. Every variant's outputs are compared with the default config's before it is
timed (triton.testing.do_bench medians). Achieved bandwidth counts the minimal traffic (forward: read x, write out;
backward: read x and dout, write dx)."""
import argparse, itertools, json, time
import torch
from triton.testing import do_bench
import effseq.conv as ec

def inputs(b, d, L, W=4, dtype=torch.bfloat16):
    g = torch.Generator('cuda').manual_seed(0)
    xz = torch.randn(b, 2 * d, L, device='cuda', dtype=dtype, generator=g)
    w = torch.randn(d, W, device='cuda', dtype=dtype, generator=g) * 0.3
    bias = torch.randn(d, device='cuda', dtype=dtype, generator=g) * 0.1
    dout = torch.randn(b, d, L, device='cuda', dtype=dtype, generator=g)
    return xz, w, bias, dout

def run(xz, w, bias, dout, cfg_f=None, cfg_b=None):
    d = w.shape[0]; x = xz[:, :d]
    orig = ec.conv_config
    def pick(b, D, L, W, device, backward=False):
        c = cfg_b if backward else cfg_f
        return dict(c) if c else orig(b, D, L, W, device, backward)
    ec.conv_config = pick
    try:
        dxz = torch.empty_like(xz)
        f = lambda: ec.conv1d_fwd_triton(x, w, bias, None, True)
        bwd = lambda: ec.conv1d_bwd_triton(x, w, bias, None, dout, True, dx=dxz[:, :d])
        out = f(); g = bwd()
        return out, (dxz[:, :d].clone(), g[1], g[2]), timings(f), timings(bwd)
    finally:
        ec.conv_config = orig

def warm_ms(fn, reps=40):
    """ms a call of fn with its inputs left in L2 (as in the model, where the conv reads what the kernel before it
    wrote): reps calls back to back between two events, so the host's launch time overlaps the GPU's work."""
    fn(); torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(reps): fn()
    e1.record(); torch.cuda.synchronize()
    return e0.elapsed_time(e1) / reps

def timings(fn):
    "(cold, warm) ms: do_bench's median (it clears L2 before each call) and warm_ms."
    return do_bench(fn, warmup=10, rep=50, return_mode='median'), warm_ms(fn)

def official(xz, w, bias, dout):
    try:
        from causal_conv1d.cpp_functions import causal_conv1d_fwd_function, causal_conv1d_bwd_function
    except ImportError as e:
        return dict(error=str(e))
    d = w.shape[0]; x = xz[:, :d]; dxz = torch.empty_like(xz)
    f = lambda: causal_conv1d_fwd_function(x, w, bias, None, None, None, True)
    bwd = lambda: causal_conv1d_bwd_function(x, w, bias, dout, None, None, None, dxz[:, :d], False, True)
    out = f(); bwd()
    (fc, fw), (bc, bw) = timings(f), timings(bwd)
    return dict(fwd_ms=fc, bwd_ms=bc, fwd_warm_ms=fw, bwd_warm_ms=bw, out=out, dx=dxz[:, :d].clone())

def close(p, q, tol=2e-2):
    return (p.float() - q.float()).abs().max().item() <= tol * max(1.0, q.float().abs().max().item())

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--budget', type=float, default=100, help='seconds per shape')
    a = ap.parse_args()
    res = dict(gpu=torch.cuda.get_device_name(), date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), shapes=[])
    for b, d, L in ((8, 1536, 2048), (1, 1536, 16384)):
        t0 = time.time()
        xz, w, bias, dout = inputs(b, d, L)
        E = b * d * L * 2
        out0, g0, tf0, tb0 = run(xz, w, bias, dout)
        off = official(xz, w, bias, dout)
        (tf0, tfw0), (tb0, tbw0) = tf0, tb0
        shape = dict(b=b, D=d, L=L, default=dict(fwd=ec.conv_config(b, d, L, 4, 'cuda'), bwd=ec.conv_config(b, d, L, 4, 'cuda', True),
                     fwd_ms=tf0, bwd_ms=tb0, fwd_warm_ms=tfw0, bwd_warm_ms=tbw0, fwd_GBs=2 * E / tf0 / 1e6, bwd_GBs=3 * E / tb0 / 1e6), rows=[])
        if 'out' in off:
            shape['official'] = dict(fwd_ms=off['fwd_ms'], bwd_ms=off['bwd_ms'], fwd_warm_ms=off['fwd_warm_ms'], bwd_warm_ms=off['bwd_warm_ms'],
                                     fwd_GBs=2 * E / off['fwd_ms'] / 1e6, bwd_GBs=3 * E / off['bwd_ms'] / 1e6,
                                     out_close=close(out0, off['out']), dx_close=close(g0[0], off['dx']))
        else: shape['official'] = off
        print(f"b={b} D={d} L={L}: default fwd {tf0:.4f} ms ({2 * E / tf0 / 1e6:.0f} GB/s) bwd {tb0:.4f} ms ({3 * E / tb0 / 1e6:.0f} GB/s); "
              f"official {shape['official']}", flush=True)
        for kind, BL, per, nw in itertools.chain(
                (('bwd', BL, per, nw) for BL, per, nw in itertools.product((64, 128, 256), (256, 512, 1024), (1, 2))),
                (('fwd', BL, per, nw) for BL, per, nw in itertools.product((128, 256, 512), (1024, 2048, 4096), (1, 2, 4)))):
            if time.time() - t0 > a.budget: break
            BD = max(1, min(d, per // BL))
            cfg = dict(BD=BD, BL=BL, num_warps=nw)
            try:
                if kind == 'bwd': out, g, tf, tb = run(xz, w, bias, dout, None, cfg); ok = all(close(p, q) for p, q in zip(g, g0))
                else: out, g, tf, tb = run(xz, w, bias, dout, cfg, None); ok = close(out, out0)
            except Exception as e:
                shape['rows'].append(dict(kind=kind, cfg=cfg, error=str(e)[:200])); continue
            t, tw = tb if kind == 'bwd' else tf
            shape['rows'].append(dict(kind=kind, cfg=cfg, ms=t, warm_ms=tw, ok=ok, GBs=(3 if kind == 'bwd' else 2) * E / t / 1e6))
            print(f"  {kind} BD={BD} BL={BL} warps={nw}: {t:.4f} ms cold, {tw:.4f} warm, ok={ok}", flush=True)
        for kind in ('fwd', 'bwd'):
            good = [r for r in shape['rows'] if r.get('ok') and r['kind'] == kind]
            shape[f'best_{kind}'] = min(good, key=lambda r: r['ms'] + r['warm_ms']) if good else None
            print(f"  best {kind}: {shape[f'best_{kind}']}", flush=True)
        res['shapes'].append(shape)
        json.dump(res, open(a.out, 'w'), indent=1, default=str)

if __name__ == '__main__': main()
