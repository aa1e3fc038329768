"""The causal conv with packed sequences (`seq_idx`) on the GPU: the Triton kernels against the float64 reference, and what
`seq_idx` costs (issue 16, chapter 04b).

    python3 tools/gpu_conv_varlen.py --out /tmp/conv_varlen_gpu.json
    python3 tools/gpu_conv_varlen.py --cpu-smoke --out /tmp/conv_varlen_cpu.json     # tiny shapes, Triton's interpreter

Checks (a failure is printed, recorded in the JSON, and makes the exit status 1):
- kernels: `conv1d_fwd_triton` / `conv1d_bwd_triton` with seq_idx against `causal_conv1d_ref` / `causal_conv1d_bwd_ref` in
  float64 on the same rounded inputs; x in float32, float16 and bfloat16 (float32 weight and bias for the 16-bit ones,
  as under autocast), widths 2, 3, 4, with and without bias, initial states and SiLU, x a channel slice of a (b, 2D, L)
  tensor; random packings (sequence lengths 1 to 300, some rows ending in padding), tolerances as chapter 04b's sweep.
- packed == alone: `causal_conv1d_fn` with autograd on a packed batch against each sequence run alone (float32):
  outputs, final states, dx, dweight, dbias, dinitial_states.
Timing (triton.testing.do_bench medians, ms): at (b, D, L) = (8, 1536, 2048), bf16 x a channel slice of (b, 2D, L),
float32 weight and bias, W = 4, SiLU: the forward and backward kernels without seq_idx and with it (mean sequence
length about 170, a third of the sequences 1 to 3 tokens), and forward + backward through `causal_conv1d_fn` and autograd, both ways. The JSON has every row.
"""
import argparse, itertools, json, os, platform, sys, time, traceback

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)                                          # the checkout's effseq first

TOL = dict(float32=(1e-5, 1e-5), float16=(2e-3, 2e-3), bfloat16=(1.6e-2, 1.6e-2))   # chapter 04b's SWEEP_TOL

def log(*a): print(*a, flush=True)

def packing(b, L, gen, max_len, pad_rows=()):
    "seq_idx (b, L) int32: each row cut into sequences of random lengths 1..max_len; rows in pad_rows end in padding (-1)."
    import torch
    s = torch.full((b, L), -1, dtype=torch.int32)
    for r in range(b):
        end = L - (int(torch.randint(1, 40, (1,), generator=gen)) if r in pad_rows else 0)
        pos, i = 0, 0
        while pos < end:
            n = min(end - pos, int(torch.randint(1, max_len + 1, (1,), generator=gen)) if i % 3 else int(torch.randint(1, 4, (1,), generator=gen)))
            s[r, pos:pos + n] = i; pos += n; i += 1
    return s

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--cpu-smoke', action='store_true', help="tiny shapes on the CPU through Triton's interpreter, float32/16 only")
    a = p.parse_args()
    if a.cpu_smoke: os.environ['TRITON_INTERPRET'] = '1'          # before triton is imported
    import torch
    import effseq.conv as C
    from effseq.conv import causal_conv1d_fn, causal_conv1d_ref, causal_conv1d_bwd_ref, conv1d_fwd_triton, conv1d_bwd_triton
    dev = 'cpu' if a.cpu_smoke else 'cuda'
    if dev == 'cuda' and not torch.cuda.is_available(): sys.exit('no CUDA device: run with --cpu-smoke for the CPU test')
    t_start = time.perf_counter()
    res = dict(gpu=torch.cuda.get_device_name() if dev == 'cuda' else f'CPU ({platform.machine()}), Triton interpreter',
               torch=torch.__version__, triton=C.triton.__version__, date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
               cpu_smoke=a.cpu_smoke, checks=[], timing=[], failures=[])
    save = lambda: json.dump(res, open(a.out, 'w'), indent=1)
    gen = torch.Generator().manual_seed(0)
    rnd = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)

    def err(got, ref):
        "max |got - ref|, ref in float64 on the CPU."
        return (got.double().cpu() - ref).abs().max().item() if got.numel() else 0.0

    def check(name, got, ref, rtol, atol, row):
        e = err(got, ref)
        bound = (atol + rtol * ref.abs()).cpu()
        ok = bool(((got.double().cpu() - ref).abs() <= bound).all()) if got.numel() else True
        row[f'{name}_max_abs_err'] = e
        if not ok: row.setdefault('failed', []).append(name)
        return ok

    # ---------------------------------------------------------------- kernels vs the float64 reference
    dtypes = [torch.float32, torch.float16] + ([torch.bfloat16] if dev == 'cuda' else [])
    b, D, L, max_len = (3, 8, 150, 40) if a.cpu_smoke else (4, 256, 2048, 300)
    cases = list(itertools.product((2, 3, 4), [(True, True, True), (False, False, True), (True, True, False), (False, True, False)]))
    if a.cpu_smoke: cases = cases[::3]
    for dtype in dtypes:
        rtol, atol = TOL[str(dtype).split('.')[1]]
        wdtype = torch.float32
        for W, (bias, with_h, silu) in cases:
            seq = packing(b, L, gen, max_len, pad_rows=(1,)).to(dev)
            xs = rnd(b, 2 * D, L).to(dev, dtype)[:, :D]                              # a channel slice
            w, bb = (rnd(D, W) / W ** 0.5).to(dev, wdtype), rnd(D).to(dev, wdtype) if bias else None
            h = rnd(b, D, W - 1).to(dev, dtype) if with_h else None
            dout = rnd(b, 2 * D, L).to(dev, dtype)[:, D:]
            f64 = lambda t: t.double().cpu() if t is not None else None
            act = 'silu' if silu else None
            row = dict(what='kernels vs float64 reference', dtype=str(dtype).split('.')[1], W=W, bias=bias, initial_states=with_h,
                       silu=silu, b=b, D=D, L=L, n_sequences=int((seq.max(1).values + 1).sum()))
            try:
                ok = check('out', conv1d_fwd_triton(xs, w, bb, h, silu, seq_idx=seq),
                           causal_conv1d_ref(f64(xs), f64(w), f64(bb), f64(h), activation=act, seq_idx=seq.cpu()), rtol, atol, row)
                got = conv1d_bwd_triton(xs, w, bb, h, dout, silu, seq_idx=seq)
                ref = causal_conv1d_bwd_ref(f64(xs), f64(w), f64(bb), f64(h), f64(dout), act, seq_idx=seq.cpu())
                for name, g, r in zip(('dx', 'dweight', 'dbias', 'dinitial_states'), got, ref):
                    if r is None: continue
                    sc = max(1.0, r.abs().max().item()) if name in ('dweight', 'dbias') else 1.0    # sums over b L steps
                    ok &= check(name, g, r, rtol, atol * sc, row)
            except Exception as e:
                ok = False; row['error'] = f'{type(e).__name__}: {e}'; traceback.print_exc()
            row['ok'] = ok
            res['checks'].append(row); save()
            if not ok: res['failures'].append(row)
        log(f"{str(dtype).split('.')[1]}: {sum(r['ok'] for r in res['checks'] if r['dtype'] == str(dtype).split('.')[1])} of {len(cases)} kernel cases within tolerance")

    # ---------------------------------------------------------------- packed == each sequence alone, through autograd
    def grads(x, w, bb, h, seq, dout, dfin):
        leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, w, bb, h)]
        y, fin = causal_conv1d_fn(leaves[0], leaves[1], leaves[2], seq, leaves[3], True, activation='silu', backend='triton')
        gs = torch.autograd.grad((y, fin), [t for t in leaves if t is not None], (dout, dfin))
        return y.detach(), fin.detach(), gs
    pb, pD, pL, W = (2, 8, 40, 4) if a.cpu_smoke else (3, 64, 600, 4)
    rows_len = [[5, 1, 17, 2, pL - 25], [pL - 7 - 3, 7]] + ([[1] * 8 + [pL - 8]] if pb > 2 else [])
    seq = torch.full((pb, pL), -1, dtype=torch.int32)
    for r, lens in enumerate(rows_len):
        for i, (end, n) in enumerate(zip(itertools.accumulate(lens), lens)): seq[r, end - n:end] = i
    seq = seq.to(dev)
    x, w, bb, h = rnd(pb, pD, pL).to(dev, torch.float32), (rnd(pD, W) / 2).to(dev, torch.float32), rnd(pD).to(dev, torch.float32), rnd(pb, pD, W - 1).to(dev, torch.float32)
    dout, dfin = rnd(pb, pD, pL).to(dev, torch.float32), rnd(pb, pD, W - 1).to(dev, torch.float32)
    y, fin, (gx, gw, gb, gh) = grads(x, w, bb, h, seq, dout, dfin)
    worst, sw, sb = 0.0, torch.zeros_like(gw), torch.zeros_like(gb)
    for r, lens in enumerate(rows_len):
        for i, (end, n) in enumerate(zip(itertools.accumulate(lens), lens)):
            t, last = slice(end - n, end), i == len(lens) - 1 and end == pL
            ya, fa, ga = grads(x[r:r + 1, :, t], w, bb, h[r:r + 1] if i == 0 else None, None, dout[r:r + 1, :, t],
                               dfin[r:r + 1] if last else torch.zeros_like(dfin[r:r + 1]))
            worst = max(worst, err(y[r:r + 1, :, t], ya.double().cpu()), err(gx[r:r + 1, :, t], ga[0].double().cpu()))
            if i == 0: worst = max(worst, err(gh[r:r + 1], ga[3].double().cpu()))
            if last: worst = max(worst, err(fin[r:r + 1], fa.double().cpu()))
            sw += ga[1]; sb += ga[2]
        if end < pL: worst = max(worst, y[r, :, end:].abs().max().item(), gx[r, :, end:].abs().max().item(), fin[r].abs().max().item())
    worst_p = max(err(gw, sw.double().cpu()) / max(1.0, sw.abs().max().item()), err(gb, sb.double().cpu()) / max(1.0, sb.abs().max().item()))
    row = dict(what='packed == each sequence alone (causal_conv1d_fn + autograd, float32)', b=pb, D=pD, L=pL, W=W, rows=rows_len,
               max_abs_diff_out_dx_dh_final=worst, max_rel_diff_dweight_dbias=worst_p, ok=worst <= 1e-5 and worst_p <= 1e-5)
    res['checks'].append(row); save()
    if not row['ok']: res['failures'].append(row)
    log(f"packed == alone: max diff {worst:.2e} (out, dx, dh, final states), {worst_p:.2e} (dweight, dbias, relative): {'ok' if row['ok'] else 'FAILED'}")

    # ---------------------------------------------------------------- timing with and without seq_idx
    tb, tD, tL = (2, 16, 256) if a.cpu_smoke else (8, 1536, 2048)
    if dev == 'cuda':
        from triton.testing import do_bench
        ms = lambda f: do_bench(f, warmup=25, rep=200, return_mode='median')
        tdt = torch.bfloat16
    else:
        def ms(f, n=2):
            f(); t0 = time.perf_counter()
            for _ in range(n): f()
            return (time.perf_counter() - t0) / n * 1e3
        tdt = torch.float32
    xz = torch.randn(tb, 2 * tD, tL, device=dev, dtype=tdt)
    xs = xz[:, :tD]
    w, bb = torch.randn(tD, 4, device=dev) / 2, torch.randn(tD, device=dev)
    dy = torch.randn(tb, tD, tL, device=dev, dtype=tdt)
    seq = packing(tb, tL, gen, 511 if not a.cpu_smoke else 60).to(dev)      # lengths 1..511, one in three 1..3 long
    n_seq = int((seq.max(1).values + 1).sum())
    for name, s in (('no seq_idx', None), ('seq_idx', seq)):
        row = dict(b=tb, D=tD, L=tL, dtype=str(tdt).split('.')[1], W=4, silu=True, seq_idx=name, n_sequences=n_seq if s is not None else tb,
                   mean_length=tb * tL / (n_seq if s is not None else tb))
        row['fwd_kernel_ms'] = ms(lambda: conv1d_fwd_triton(xs, w, bb, None, True, seq_idx=s))
        row['bwd_kernel_ms'] = ms(lambda: conv1d_bwd_triton(xs, w, bb, None, dy, True, seq_idx=s))
        xl, wl, bl = xs.detach().requires_grad_(), w.clone().requires_grad_(), bb.clone().requires_grad_()
        def fwd_bwd():
            with torch.autocast(dev, dtype=tdt, enabled=dev == 'cuda'):
                y = causal_conv1d_fn(xl, wl, bl, s, activation='silu', backend='triton')
            torch.autograd.grad(y, (xl, wl, bl), dy)
        row['fn_fwd_bwd_ms'] = ms(fwd_bwd)
        row['fwd_GBps'] = 2 * tb * tD * tL * xz.element_size() / row['fwd_kernel_ms'] / 1e6
        res['timing'].append(row); save()
    t0, t1 = res['timing'][-2:]
    for k in ('fwd_kernel_ms', 'bwd_kernel_ms', 'fn_fwd_bwd_ms'): t1[f'{k}_ratio_to_no_seq_idx'] = t1[k] / t0[k]
    log(f"timing at {(tb, tD, tL)} {str(tdt).split('.')[1]}, W=4, SiLU (ms, without / with seq_idx, {n_seq} sequences):")
    for k in ('fwd_kernel_ms', 'bwd_kernel_ms', 'fn_fwd_bwd_ms'): log(f"  {k:14} {t0[k]:8.3f} {t1[k]:8.3f}  x{t1[k] / t0[k]:.2f}")
    res['seconds'] = time.perf_counter() - t_start
    res['ok'] = not res['failures']
    save()
    log(f"{'all checks passed' if res['ok'] else str(len(res['failures'])) + ' FAILED'} in {res['seconds']:.0f} s; wrote {a.out}")
    sys.exit(0 if res['ok'] else 1)

if __name__ == '__main__':
    main()
