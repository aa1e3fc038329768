#!/usr/bin/env python3
"""The scan kernels' launch configs at short sequences, inside the Mamba block's training path (issue 14).

    PYTHONPATH=/tmp/official:$PWD python3 tools/gpu_short_scan.py --out $OUT/short_scan_gpu.json [--shape 128,768,205 ...]
    PYTHONPATH=/tmp/official:$PWD python3 tools/gpu_short_scan.py --grid rule --shape 400,768,64 ... --step-shape 128,768,205 --out ...

Found by 09b (a VLM's Mamba LM at L = 1 + 196 + question ~ 205) and the step profile: at that length effseq's scan
forward takes 2.2x and its backward 1.65x the official kernels' time inside a training step, where at L = 2048 they
are level. This measures, on the block's own tensors (captured from one `mamba_inner_fn` call under bf16 autocast,
so strides and dtypes are the model's):
1. the training forward (tile states stored every TB steps) under a grid of (TB, BL, BD, warps);
2. the backward under a grid of (TB = BL, BD, nsub, warps), from tile states stored at its TB;
3. for the best (forward, backward) pair, chapter 04a's default and its two rules (below and above SHORT_L): the whole training step of a
   Mamba LM at 09b's size (d_model D/2, 12 layers, vocab 64), effseq with that pair against mamba_ssm, timed in
   alternation (tools/gpu_mamba_e2e.py's `interleaved`).
Kernel times are triton.testing.do_bench medians; nothing here asserts a speed."""
import argparse, json, os, sys, time, itertools
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_mamba_e2e as e2e   # noqa: E402


def capture(D, b, L, device):
    "One mamba_inner_fn call at (b, D, L) with random weights: the scan forward's and backward's arguments as the block passes them (per-sequence rows)."
    import effseq.mamba as em
    s = dict(e2e.SIZES['full']); s.update(d_model=D // 2, n_layer=1, vocab=64)
    sd = e2e.reference_state_dict(s, dict(effseq=e2e.effseq_lib()), device)
    args = e2e.inner_args(s, sd, device, b, L)
    got, f0, b0 = {}, em.scan_fwd_triton, em.scan_bwd_triton
    def fwd(*a, **k): got['fwd'] = (a, k); return f0(*a, **k)
    def bwd(*a, **k): got['bwd'] = (a, k); return b0(*a, **k)
    em.scan_fwd_triton, em.scan_bwd_triton = fwd, bwd
    keep, em._flat_scan = em._flat_scan, (lambda *q: False)   # the (b, D, L) rows as the block would pass them without the flat layout
    try:
        leaves = {k: v.detach().requires_grad_() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in args.items()}
        with torch.autocast('cuda', torch.bfloat16): out = em.mamba_inner_fn(**leaves)
        out.backward(torch.randn_like(out))
    finally:
        em.scan_fwd_triton, em.scan_bwd_triton, em._flat_scan = f0, b0, keep
    return got, args


# the launch configs chapter 04a's scan_config chooses below and above SHORT_L (as asks: what the grid passes to it)
LONG = dict(fwd=dict(TB=64, BD=1, num_warps=1), bwd=dict(BL=64, BD=4, nsub=None))
SHORT = dict(fwd=dict(TB=128, BD=2, num_warps=1), bwd=dict(BL=128, BD=2, nsub=None))


def grids(kind, quick):
    "(forward asks, backward asks): 'full', the sweep that found the short-sequence configs; 'rule', the two rules and neighbours."
    if kind == 'rule':
        f = [LONG['fwd'], SHORT['fwd'], dict(TB=128, BD=1, num_warps=1), dict(TB=64, BD=2, num_warps=1), dict(TB=64, BL=128, BD=2, num_warps=1)]
        b = [LONG['bwd'], SHORT['bwd'], dict(BL=64, BD=4, nsub=1), dict(BL=128, BD=4, nsub=None), dict(BL=64, BD=2, nsub=None)]
        return f, b
    TBs = (32, 64) if quick else (32, 64, 128)
    f = [dict(TB=tb, BL=bl, BD=bd, num_warps=w) for tb, bl, bd, w in itertools.product(TBs, (256,), (1, 2, 4), (1, 2))]
    f += [dict(TB=64, BL=128, BD=bd, num_warps=1) for bd in (1, 2)]
    b = [dict(BL=tb, BD=bd, nsub=ns) for tb, bd, ns in itertools.product(TBs, (2, 4, 8), (None, 1))]
    b += [dict(BL=128, BD=bd, nsub=None, num_warps=2) for bd in (4, 8)]
    return (f[:4], b[:4]) if quick else (f, b)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--shape', action='append', help='b,D,L (default 128,768,205 and 256,768,205)')
    p.add_argument('--grid', choices=('full', 'rule'), default='full', help="'rule': scan_config's long and short rules and their neighbours")
    p.add_argument('--step-shape', action='append', help='b,D,L shapes (of --shape) whose training step is timed (default: all)')
    p.add_argument('--step-layers', type=int, default=12)
    p.add_argument('--wait-official', default=None, help="a build log (tools/build_official.sh's, run in the background): wait for "
                   "its final 'rc=' line before the first use of mamba_ssm, then import it")
    p.add_argument('--quick', action='store_true', help='a small grid (a smoke test of the tool)')
    a = p.parse_args()
    from triton.testing import do_bench
    from effseq.scan_forward import scan_config, scan_fwd_triton, SHORT_L
    from effseq.scan_grad import scan_bwd_triton
    import effseq.mamba as em
    device = torch.device('cuda')
    parse = lambda ss: [tuple(int(v) for v in s.split(',')) for s in ss]
    shapes = parse(a.shape or ['128,768,205', '256,768,205'])
    step_shapes = parse(a.step_shape) if a.step_shape else shapes
    fgrid, bgrid = grids(a.grid, a.quick)
    off, why = (None, 'not built yet') if a.wait_official else e2e.import_official()
    res = dict(gpu=torch.cuda.get_device_name(), date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), effseq=e2e.git_state(),
               baseline=off['version'] if off else f'not importable: {why}', grid=a.grid, SHORT_L=SHORT_L,
               rules=dict(long=LONG, short=SHORT), shapes=[])
    save = lambda: json.dump(res, open(a.out, 'w'), indent=1, default=str)
    t_start = time.perf_counter()
    captured = {}
    # 1. effseq's grids at every shape (the official kernels build meanwhile)
    for b, D, L in shapes:
        N = 16
        got, iargs = capture(D, b, L, device)
        fa, fk = got['fwd']; ba, bk = got['bwd']
        u = fa[0]
        captured[(b, D, L)] = fa
        entry = dict(b=b, D=D, N=N, L=L, u_stride=list(u.stride()), dtype=str(u.dtype), fwd=[], bwd=[])
        d_fw, d_bw = em._train_configs(b, D, N, L, D, device)
        entry['default'] = dict(fwd=dict(vars(d_fw)), bwd=dict(vars(d_bw)))
        def cfg_f(c): return scan_config(b, D, N, L, D, device, tiles=True, **c)
        def cfg_b(c): return scan_config(b, D, N, L, D, device, kernel='state_loop_bwd', **{k: v for k, v in c.items() if v is not None})
        def time_fwd(cfg):
            return do_bench(lambda: scan_fwd_triton(*fa[:10], True, cfg, *fa[12:], **fk), warmup=10, rep=60, return_mode='median')
        tiles_at = {}
        def time_bwd(cfg):
            if cfg.BL not in tiles_at:
                tiles_at[cfg.BL] = scan_fwd_triton(*fa[:10], True, cfg_f(dict(TB=cfg.BL)), *fa[12:], **fk)[2]
            bargs = list(ba); bargs[10], bargs[13] = tiles_at[cfg.BL], cfg   # (tiles, config: as mamba.py passes them)
            return do_bench(lambda: scan_bwd_triton(*bargs, **bk), warmup=10, rep=60, return_mode='median')
        for kind, grid, default, make, timer in (('fwd', fgrid, d_fw, cfg_f, time_fwd), ('bwd', bgrid, d_bw, cfg_b, time_bwd)):
            for c in [None] + grid:   # the default config first, then the grid
                cfg = default if c is None else make(c)
                r = dict(ask=c or 'default', cfg=dict(vars(cfg)))
                try: r['ms'] = timer(cfg)
                except Exception as e: r['error'] = f'{type(e).__name__}: {str(e)[:200]}'
                entry[kind].append(r); print(f"b={b} L={L} {kind} {r['ask']}: {r.get('ms', r.get('error'))}", flush=True)
        del tiles_at, got, ba, bk; e2e.free(device)
        # the best pair at each TB (the forward must store tiles at the backward's BL), and each rule's pair
        ok_f = [r for r in entry['fwd'] if 'ms' in r]; ok_b = [r for r in entry['bwd'] if 'ms' in r]
        pairs = []
        for tb in sorted({r['cfg']['BL'] for r in ok_b}):
            fs = [r for r in ok_f if r['cfg']['TB'] == tb]; bs = [r for r in ok_b if r['cfg']['BL'] == tb]
            if fs and bs:
                f, bb = min(fs, key=lambda r: r['ms']), min(bs, key=lambda r: r['ms'])
                pairs.append(dict(TB=tb, fwd=f, bwd=bb, ms=f['ms'] + bb['ms']))
        entry['pairs'] = sorted(pairs, key=lambda r: r['ms'])
        pick = lambda kind, ask: next((r['ms'] for r in entry[kind][1:] if r['ask'] == ask and 'ms' in r), None)
        entry['rule_ms'] = {n: (lambda f_, b_: f_ + b_ if f_ is not None and b_ is not None else None)(pick('fwd', q['fwd']), pick('bwd', q['bwd']))
                            for n, q in (('long', LONG), ('short', SHORT))}
        dflt = sum(r['ms'] for r in (entry['fwd'][0], entry['bwd'][0]) if 'ms' in r)
        entry['default_ms'] = dflt
        print(f"b={b} L={L}: default fwd+bwd {dflt:.3f} ms; rules {entry['rule_ms']}; best pairs "
              + ', '.join(f"TB {q['TB']}: {q['ms']:.3f}" for q in entry['pairs']), flush=True)
        res['shapes'].append(entry); save()
    # 2. the official kernels on the same (contiguous) scan inputs, for scale
    if a.wait_official and off is None:   # the official build ran beside the grids above
        t_w = time.perf_counter()
        while time.perf_counter() - t_w < 300 and 'rc=' not in (open(a.wait_official).read() if os.path.exists(a.wait_official) else ''):
            time.sleep(2)
        import importlib; sys.path_importer_cache.clear(); importlib.invalidate_caches()   # (its folder did not exist at start-up)
        off, why = e2e.import_official(); res['baseline'] = off['version'] if off else f'not importable: {why}'
        print(f"official build waited for {time.perf_counter() - t_w:.0f} s: {res['baseline']}", flush=True)
    if off is not None:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as off_scan
        for entry in res['shapes']:
            fa = captured[(entry['b'], entry['D'], entry['L'])]
            sa = dict(u=fa[0], delta=fa[1], A=fa[2], B=fa[3], C=fa[4], D=fa[5], z=fa[6], delta_bias=fa[7], delta_softplus=fa[8])
            sa = {k: (v.contiguous() if torch.is_tensor(v) else v) for k, v in sa.items()}
            entry['official_scan_fwd_ms'] = e2e.scan_bench(off_scan, sa, False, device)
            entry['official_scan_fwd_bwd_ms'] = e2e.scan_bench(off_scan, sa, True, device)
            print(f"b={entry['b']} L={entry['L']} official fwd {entry['official_scan_fwd_ms']:.3f}, fwd+bwd {entry['official_scan_fwd_bwd_ms']:.3f} ms", flush=True)
        save()
    del captured; e2e.free(device)
    # 3. the training step of 09b's Mamba LM: effseq (its default, each rule, the best pair) against mamba_ssm, in alternation
    for entry in res['shapes']:
        b, D, L = entry['b'], entry['D'], entry['L']
        if (b, D, L) not in step_shapes: continue
        s = dict(e2e.SIZES['full']); s.update(d_model=D // 2, n_layer=a.step_layers, vocab=64)
        libs = dict(effseq=e2e.effseq_lib())
        if off is not None: libs['mamba_ssm'] = off
        sd = e2e.reference_state_dict(s, libs, device)
        best = entry['pairs'][0] if entry['pairs'] else None
        asks = {'effseq_' + n: q for n, q in (('long_rule', LONG), ('short_rule', SHORT))}
        if best is not None: asks['effseq_best'] = dict(fwd=best['fwd']['ask'], bwd=best['bwd']['ask'])
        orig = em._train_configs
        def patched_for(q):
            def patched(b_, D_, N_, L_, cpg, dev):
                return (scan_config(b_, D_, N_, L_, cpg, dev, tiles=True, **q['fwd']),
                        scan_config(b_, D_, N_, L_, cpg, dev, kernel='state_loop_bwd', **{k: v for k, v in q['bwd'].items() if v is not None}))
            return patched
        def trainer(lib, q):
            def mk():
                step = e2e.make_trainer(lib, s, sd, device, b, L)[0]
                def run():
                    em._train_configs = patched_for(q) if q else orig
                    try:
                        for _ in range(3): step()
                    finally: em._train_configs = orig
                return run
            return mk
        makers = {'effseq_default': trainer(libs['effseq'], None)}
        makers.update({n: trainer(libs['effseq'], q) for n, q in asks.items() if isinstance(q['fwd'], dict) and isinstance(q['bwd'], dict)})
        if off is not None: makers['mamba_ssm'] = trainer(off, None)
        try:
            r = e2e.interleaved(makers, device, 1, 8)
            entry['train_step_ms'] = {n: v['ms'] / 3 for n, v in r.items()}
            entry['train_step'] = dict(d_model=D // 2, n_layer=a.step_layers, vocab=64, b=b, L=L, dtype='bf16 autocast, fp32 weights',
                                       asks={n: q for n, q in asks.items()})
        except Exception as e:
            entry['train_step_error'] = f'{type(e).__name__}: {str(e)[:300]}'
        print(f"b={b} L={L} train step ms: {entry.get('train_step_ms', entry.get('train_step_error'))}", flush=True)
        save(); e2e.free(device)
    res['seconds'] = time.perf_counter() - t_start
    save()


if __name__ == '__main__': main()
