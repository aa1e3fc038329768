#!/usr/bin/env python3
"""Why the scan is slow at L = 205 and fast at L = 256 (issue 14): row alignment.

    PYTHONPATH=$PWD python3 tools/gpu_align_scan.py --out $OUT/align_scan_gpu.json [--shape 128,768,205 ...]

tools/gpu_short_scan.py's rule check (nbs/data/short_rule_gpu.json) found effseq's scan forward + backward at
b=128, L=205 2.6x slower than at b=100, L=256 for about the same b L, where the official kernel is 1.55x slower.
In the block's token-major layout a (b, D, L) tensor has strides (L, b L, 1), so with L = 205 a sequence's row
starts at an address Triton cannot prove 16-byte aligned, and its loads and stores along time are not vectorised.
This times, on the block's own scan tensors (captured as tools/gpu_short_scan.py does), the training forward (tile
states stored) and the backward with chapter 04a's default configs, in three layouts of the same numbers:
- 'model':   as the block passes them (strides (L, b L, 1));
- 'padded':  each row padded to a multiple of 16 steps (strides (Lp, b Lp, 1)): what an aligned block would pass;
- 'flat':    each channel's b L tokens as one packed sequence of b L steps (b = 1, seq_idx marking the starts),
             rows of b L (aligned when b L is a multiple of 16), segments as for a long sequence.
and checks that every layout gives the same y, tile states at each sequence's tile grid are not compared (the flat
layout's tiles fall elsewhere), and the same gradients."""
import argparse, json, os, sys, time
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_mamba_e2e as e2e      # noqa: E402
from gpu_short_scan import capture   # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--shape', action='append', help='b,D,L (default 128,768,205 and 256,768,205 and 100,768,256)')
    p.add_argument('--step', action='store_true', help="then the training step of 09b's Mamba LM (d_model D/2, 12 layers, vocab 64) at "
                   "each shape: effseq as it is (the flat layout where it applies), effseq with it off, mamba_ssm; in alternation")
    p.add_argument('--wait-official', default=None, help="tools/build_official.sh's log (run in the background): wait for 'rc=' before the steps")
    p.add_argument('--cpu-check', action='store_true', help="tiny random inputs through Triton's interpreter: the layouts agree (no timing)")
    a = p.parse_args()
    if a.cpu_check: os.environ['TRITON_INTERPRET'] = '1'
    from triton.testing import do_bench
    from effseq.scan_forward import scan_config, scan_fwd_triton
    from effseq.scan_grad import scan_bwd_triton
    from effseq.mamba import _train_configs
    device = torch.device('cpu' if a.cpu_check else 'cuda')
    shapes = [tuple(int(v) for v in s.split(',')) for s in (a.shape or (['3,8,21'] if a.cpu_check else ['128,768,205', '256,768,205', '100,768,256']))]
    bench = (lambda f: float('nan')) if a.cpu_check else (lambda f: do_bench(f, warmup=10, rep=60, return_mode='median'))
    res = dict(gpu='cpu (interpreter)' if a.cpu_check else torch.cuda.get_device_name(), date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), effseq=e2e.git_state(), shapes=[])
    for b, D, L in shapes:
        N = 16
        if a.cpu_check:   # random inputs in the block's token-major layout
            tm = lambda k, s=1.0: (torch.randn(k, b, L) * s).transpose(0, 1)
            u, delta, z, dy, B, C = tm(D), tm(D, 0.5), tm(D), tm(D), tm(N), tm(N)
            A, Dv, dtb, sp = -torch.rand(D, N) - 0.5, torch.randn(D), torch.randn(D) * 0.1, True
            got = None
        else:
            got, _ = capture(D, b, L, device)
            fa, ba = got['fwd'][0], got['bwd'][0]
            u, delta, A, B, C, Dv, z, dtb, sp = fa[:9]
            dy = ba[11]
        Lp = -(-L // 16) * 16
        def pad(X):   # (b, k, L) token-major -> the same numbers with rows of Lp steps, strides (Lp, b Lp, 1)
            buf = X.new_zeros(X.shape[1], b, Lp); buf[..., :L] = X.transpose(0, 1)
            return buf.transpose(0, 1)[..., :L]
        def flat(X):  # (b, k, L) token-major -> (1, k, b L)
            assert X.stride(0) == L and X.stride(1) == b * L and X.stride(2) == 1
            return X.transpose(0, 1).reshape(1, X.shape[1], b * L)
        seq = torch.arange(b, device=device, dtype=torch.int32).repeat_interleave(L)[None]
        layouts = dict(model=(lambda X: X, b, L, None), padded=(pad, b, L, None), flat=(flat, 1, b * L, seq))
        entry = dict(b=b, D=D, N=N, L=L, Lp=Lp, layouts={})
        outs = {}
        for name, (f, bb, LL, sidx) in layouts.items():
            uu, dd, BB, CC, zz, gg = (f(X) for X in (u, delta, B, C, z, dy))
            fw, bw = _train_configs(bb, D, N, LL, D, device)
            run_f = lambda: scan_fwd_triton(uu, dd, A, BB, CC, Dv, zz, dtb, sp, None, True, fw, sidx)
            y, _, tiles = run_f()
            like = lambda: torch.empty_strided(uu.shape, uu.stride(), dtype=uu.dtype, device=device)
            bufs = (like(), like(), like()); yz = like()
            bc = (torch.empty_like(BB), torch.empty_like(CC))
            gradlike = torch.empty_strided(uu.shape, uu.stride(), dtype=gg.dtype, device=device); gradlike.copy_(gg)
            run_b = lambda: scan_bwd_triton(uu, dd, A, BB, CC, Dv, zz, dtb, sp, None, tiles, gradlike, None, bw,
                                            grads_out=bufs, out_z=yz, seq_idx=sidx, bc_out=bc)
            g = run_b()
            r = dict(fwd_cfg=dict(vars(fw)), bwd_cfg=dict(vars(bw)), strides=list(uu.stride()))
            r['fwd_ms'] = bench(run_f)
            r['bwd_ms'] = bench(run_b)
            back = (lambda X: X.reshape(X.shape[1], b, L).transpose(0, 1)) if name == 'flat' else (lambda X: X)
            outs[name] = dict(y=back(y).float(), du=back(bufs[0]).float(), ddelta=back(bufs[1]).float(), dz=back(bufs[2]).float(),
                              dB=back(bc[0]).float(), dC=back(bc[1]).float(), dA=g[2].float(), dD=g[5].float())
            entry['layouts'][name] = r
            print(f"b={b} L={L} {name}: fwd {r['fwd_ms']:.3f} bwd {r['bwd_ms']:.3f} ms (fwd {fw.BD}x{fw.BL} n_seg {fw.n_seg}, bwd {bw.BD}x{bw.BL} nsub {bw.nsub} n_seg {bw.n_seg})", flush=True)
            del run_f, run_b, g, bufs, yz, bc, tiles
        for name in ('padded', 'flat'):   # the same numbers in every layout (relative to the largest magnitude)
            entry['layouts'][name]['max_rel_diff_vs_model'] = {
                k: ((outs[name][k] - v).abs().max() / v.abs().max().clamp_min(1e-30)).item() for k, v in outs['model'].items()}
            print(name, entry['layouts'][name]['max_rel_diff_vs_model'], flush=True)
        res['shapes'].append(entry); json.dump(res, open(a.out, 'w'), indent=1, default=str)
        del outs, got; e2e.free(device)
        if a.cpu_check:
            worst = max(v for n in ('padded', 'flat') for v in entry['layouts'][n]['max_rel_diff_vs_model'].values())
            assert worst < 1e-5, f'layouts disagree: {worst}'
    if a.step:
        import effseq.mamba as em
        if a.wait_official:
            t_w = time.perf_counter()
            while time.perf_counter() - t_w < 300 and 'rc=' not in (open(a.wait_official).read() if os.path.exists(a.wait_official) else ''):
                time.sleep(2)
            import importlib; sys.path_importer_cache.clear(); importlib.invalidate_caches()
        off, why = e2e.import_official(); res['baseline'] = off['version'] if off else f'not importable: {why}'
        for entry in res['shapes']:
            b, D, L = entry['b'], entry['D'], entry['L']
            s_ = dict(e2e.SIZES['full']); s_.update(d_model=D // 2, n_layer=12, vocab=64)
            libs = dict(effseq=e2e.effseq_lib())
            if off is not None: libs['mamba_ssm'] = off
            sd = e2e.reference_state_dict(s_, libs, device)
            keep = em._flat_scan
            def trainer(lib, flat_off=False):
                def mk():
                    step = e2e.make_trainer(lib, s_, sd, device, b, L)[0]
                    def run():
                        if flat_off: em._flat_scan = lambda *q: False
                        try:
                            for _ in range(3): step()
                        finally: em._flat_scan = keep
                    return run
                return mk
            makers = {'effseq': trainer(libs['effseq']), 'effseq_rows': trainer(libs['effseq'], True)}
            if off is not None: makers['mamba_ssm'] = trainer(off)
            r = e2e.interleaved(makers, device, 1, 8)
            entry['train_step_ms'] = {n: v['ms'] / 3 for n, v in r.items()}
            entry['train_step'] = dict(d_model=D // 2, n_layer=12, vocab=64, b=b, L=L, dtype='bf16 autocast, fp32 weights',
                                       flat=em._flat_scan(b, L, None))
            print(f"b={b} L={L} train step ms: {entry['train_step_ms']}", flush=True)
            json.dump(res, open(a.out, 'w'), indent=1, default=str); e2e.free(device)


if __name__ == '__main__': main()
