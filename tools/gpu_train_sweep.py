#!/usr/bin/env python3
"""Launch-parameter sweep of the training scan (forward that stores tile states + state-loop backward) at the
Mamba block's own layouts, against the official kernel in the same process.

    PYTHONPATH=/tmp/official:$PYTHONPATH python3 tools/gpu_train_sweep.py --out sweep.json

For each shape: the default configs, then forward variants (BL, warps, stages) at the default tile length,
then backward variants (tile length BL, BD, nsub, warps, stages) each with its matching forward; every
variant's gradients are checked against the default's before it is timed.
"""
import argparse, itertools, json, time
import torch
from triton.testing import do_bench
from effseq.triton_scan import scan_config, scan_fwd_triton, scan_bwd_triton, _train_configs

def inputs(b, d, N, L, R=48, dtype=torch.bfloat16, dev='cuda'):
    g = torch.Generator(dev).manual_seed(0)
    r = lambda *s: torch.randn(*s, device=dev, dtype=dtype, generator=g)
    xz = r(b, 2 * d, L)                                             # in_proj's output, (b, 2d, L)
    u, z = torch.nn.functional.silu(xz[:, :d]).contiguous(), xz[:, d:]
    x_dbl = r(b, R + 2 * N, L)
    delta = (r(b, d, L) * 0.5 - 2)
    A = -torch.rand(d, N, device=dev).add(0.5)
    D, dtb = torch.rand(d, device=dev), torch.rand(d, device=dev) * 0.1
    return dict(u=u, delta=delta, A=A, B=x_dbl[:, R:R + N], C=x_dbl[:, R + N:], D=D, z=z, delta_bias=dtb), r(b, d, L)

def fwd_bwd(x, dout, fw, bw):
    y, _, tiles = scan_fwd_triton(x['u'], x['delta'], x['A'], x['B'], x['C'], x['D'], x['z'], x['delta_bias'], True, None, True, fw)
    g = scan_bwd_triton(x['u'], x['delta'], x['A'], x['B'], x['C'], x['D'], x['z'], x['delta_bias'], True, None, tiles, dout, None, bw)
    return y, tiles, g

def timed(x, dout, fw, bw):
    t_f = do_bench(lambda: scan_fwd_triton(x['u'], x['delta'], x['A'], x['B'], x['C'], x['D'], x['z'], x['delta_bias'], True, None, True, fw), warmup=10, rep=60)
    _, tiles, _ = fwd_bwd(x, dout, fw, bw)
    t_b = do_bench(lambda: scan_bwd_triton(x['u'], x['delta'], x['A'], x['B'], x['C'], x['D'], x['z'], x['delta_bias'], True, None, tiles, dout, None, bw), warmup=10, rep=60)
    return t_f, t_b

def official(x, dout):
    try:
        import selective_scan_cuda
    except ImportError:
        return None
    # as mamba_ssm's autograd function calls it: B, C with a group axis, the forward's pre-gate output kept
    args = (x['u'], x['delta'], x['A'], x['B'][:, None], x['C'][:, None], x['D'], x['z'], x['delta_bias'], True)
    f = lambda: selective_scan_cuda.fwd(*args)
    out, xs, *rest = f()
    t_f = do_bench(f, warmup=10, rep=60)
    u, delta, A, B, C, D, z, dtb, sp = args
    bwd = lambda: selective_scan_cuda.bwd(u, delta, A, B, C, D, z, dtb, dout, xs, out, None, sp, False)
    t_b = do_bench(bwd, warmup=10, rep=60)
    return t_f, t_b

def close(a, b):
    return all((p is None and q is None) or ((p.float() - q.float()).abs().max().item()
               <= 2e-2 * max(1.0, q.float().abs().max().item())) for p, q in zip(a, b))

def sweep(b, d, N, L, budget_s):
    t0 = time.time()
    x, dout = inputs(b, d, N, L)
    fw0, bw0 = _train_configs(b, d, N, L, d, 'cuda')
    _, _, g0 = fwd_bwd(x, dout, fw0, bw0)
    rows = []
    def add(kind, fw, bw):
        try:
            _, _, g = fwd_bwd(x, dout, fw, bw)
            ok = close(g, g0)
            tf, tb = timed(x, dout, fw, bw)
        except Exception as e:
            rows.append(dict(kind=kind, fw=vars(fw), bw=vars(bw), error=str(e)[:200])); return
        rows.append(dict(kind=kind, fw=vars(fw), bw=vars(bw), ok=ok, fwd_ms=tf, bwd_ms=tb, total_ms=tf + tb))
        print(f"  {kind:8s} fw BL={fw.BL} w={fw.num_warps} st={fw.stages} | bw BL={bw.BL} BD={bw.BD} nsub={bw.nsub} "
              f"w={bw.num_warps} st={bw.stages} seg={bw.n_seg}: {tf:.3f} + {tb:.3f} = {tf + tb:.3f} ms ok={ok}", flush=True)
    add('default', fw0, bw0)
    off = official(x, dout)
    if off: print(f"  official: {off[0]:.3f} + {off[1]:.3f} = {sum(off):.3f} ms", flush=True)
    for BL, w, st in itertools.product((256, 512, 1024), (1, 2, 4), (1, 2, 3)):
        if time.time() - t0 > budget_s / 2: break
        if (BL, w, st) == (fw0.BL, fw0.num_warps, fw0.stages): continue
        add('fwd', scan_config(b, d, N, L, d, 'cuda', tiles=True, TB=bw0.BL, BL=BL, num_warps=w, stages=st), bw0)
    for TB, BD, nsub, w, st in itertools.product((32, 64, 128), (2, 4, 8), (1, 2, 3, 4), (1, 2), (2, 3)):
        if time.time() - t0 > budget_s: break
        if BD * nsub > 16 or (TB, BD, nsub, w, st) == (bw0.BL, bw0.BD, bw0.nsub, bw0.num_warps, bw0.stages): continue
        bw = scan_config(b, d, N, L, d, 'cuda', kernel='state_loop_bwd', BL=TB, BD=BD, nsub=nsub, num_warps=w, stages=st)
        add('bwd', scan_config(b, d, N, L, d, 'cuda', tiles=True, TB=bw.BL), bw)
    good = [r for r in rows if r.get('ok')]
    best = min(good, key=lambda r: r['total_ms']) if good else None
    return dict(shape=dict(b=b, D=d, N=N, L=L), official_ms=off, rows=rows, best=best)

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--budget', type=float, default=100, help='seconds per shape')
    a = ap.parse_args()
    res = dict(gpu=torch.cuda.get_device_name(), shapes=[])
    for shp in ((8, 1536, 16, 2048), (1, 1536, 16, 16384)):
        print(shp, flush=True)
        res['shapes'].append(sweep(*shp, a.budget))
        bst = res['shapes'][-1]['best']
        if bst: print(f"  best: {bst['kind']} {bst['total_ms']:.3f} ms", flush=True)
        json.dump(res, open(a.out, 'w'), indent=1)
