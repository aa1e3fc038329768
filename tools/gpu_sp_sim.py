"""One-GPU simulation of the sequence-parallel selective scan (issue 18, chapter 11): the ranks' chunks run one after
another on one GPU through the same local functions that `effseq.parallel.selective_scan_sp` calls on each rank; each
part is timed, checked against the one-pass scan of the whole sequence, and the time on R GPUs is projected.

    python3 tools/gpu_sp_sim.py --out nbs/data/sp_sim_gpu.json          # H200: L = 2^20, b = 1, D = 1536, N = 16, bf16 and fp32
    python3 tools/gpu_sp_sim.py --cpu-smoke --out /tmp/sp_sim_smoke.json    # tiny sizes on the CPU (a test of this script)
    python3 tools/gpu_sp_sim.py --cpu-smoke --scan-backend triton --out /tmp/s.json    # the same through the Triton interpreter

Parts timed on every rank's chunk (median of triton.testing.do_bench; CUDA tensors, effseq's Triton kernels):
- forward: `local` the chunk's scan from a zero state with its end state (selective_scan_fn, return_last_state);
  `decay` the chunk's total decay exp(A sum dt) (segment sums of dt, the fused kernel's first pass); `compose` the
  carries of R ranks (effseq.parallel.compose_carries); `fixup` the linear correction of the outputs for the incoming
  state (fused Triton kernel, rank > 0; it skips the segments where exp(A cum) has underflowed to 0, and
  `fixup_live_fraction` records the share it did not skip), or instead `rescan` the chunk from its incoming state.
- backward: `adjoint` the gradient carry of the rank's own outputs (fix-up transposed); `grad_compose`; `local_bwd` the
  chunk's scan recomputed from its true incoming state and its backward (autograd.grad of selective_scan_fn).
Communication is not measured (one GPU): each of the two all_gathers (forward, backward) is modelled as
alpha + (R-1) * 2 * b * D * N * 4 bytes / beta, with --alpha-us and --beta-gbs (defaults: 20 us, 150 GB/s).
Projection for R GPUs: fwd = max over ranks (local + decay + fixup) + compose + comm; fwd_rescan likewise with rescan;
train = fwd + max over ranks (adjoint + local_bwd) + grad_compose + comm; speed-up = the one-GPU scan of the whole
sequence (forward; forward + backward) / that. Self-check: outputs, last state and du, ddelta, dB, dA, dD assembled
from the chunks against the whole-sequence scan, within a tolerance per dtype; exit status 1 if any check fails."""
import argparse, glob, hashlib, json, math, os, platform, subprocess, sys, time
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)                                                        # the checkout's effseq first

SIZES = dict(full=dict(b=1, D=1536, N=16, L=2 ** 20, Rs=(2, 4, 8), dtypes=('bfloat16', 'float32')),
             smoke=dict(b=1, D=4, N=4, L=64, Rs=(2, 4), dtypes=('float32',)))
TOL = dict(float32=2e-3, bfloat16=3e-2)                                           # max abs error / max abs value

def log(*a): print(*a, flush=True)

def make_inputs(b, D, N, L, dtype, device, seed=0):
    "Mamba-like scan arguments drawn on the device (A = -(1..N), dt in [1e-3, 0.1] after softplus)."
    g = torch.Generator(device).manual_seed(seed)
    r = lambda *s, dt=dtype: torch.randn(*s, device=device, dtype=dt, generator=g)
    dt = torch.exp(torch.rand(D, device=device, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    return dict(u=r(b, D, L), delta=r(b, D, L) * 0.5, A=-torch.arange(1, N + 1, device=device, dtype=torch.float32).repeat(D, 1),
                B=r(b, N, L), C=r(b, N, L), D=r(D, dt=torch.float32), z=r(b, D, L),
                delta_bias=dt + torch.log(-torch.expm1(-dt)), delta_softplus=True)

def chunk(a, s, e):
    "The time steps s..e of the scan arguments, as contiguous copies (what a rank holds)."
    timed = ('u', 'delta', 'z', 'B', 'C')
    return {k: (v[..., s:e].contiguous() if k in timed else v) for k, v in a.items()}

def bench_fn(device, warmup_ms, rep_ms):
    if device.type == 'cuda':
        import triton.testing
        return lambda fn: float(triton.testing.do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode='median'))
    from effseq.core import time_fn
    return lambda fn: time_fn(fn, warmup=1, repeat=2) * 1e3

def live_fraction(A, sg, BD=16):
    "The share of the fused fix-up's programs (16 channels x one segment) that do work: the others start where exp(A cum) is 0."
    from effseq.parallel import _DEAD
    carry = sg.cumsum(-1) - sg                                                     # (b, D, n_seg): dt before each segment
    x = (A[None, :, None, :] * carry[..., None]).amax(-1)                          # (b, D, n_seg)
    b, D, n = x.shape
    x = torch.nn.functional.pad(x, (0, 0, 0, (-D) % BD), value=-math.inf).view(b, -1, BD, n).amax(2)
    return (x > _DEAD).float().mean().item()

def rel_err(x, ref):
    x, ref = x.float(), ref.float()
    return ((x - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()

def run_dtype(s, dtype_name, device, bench, backend, alpha_us, beta_gbs):
    from effseq.triton_scan import selective_scan_fn
    from effseq.selective import _prepare_delta
    from effseq.parallel import (_local_scan, _fused_ok, _fused_fixup, chunk_decay, compose_carries, compose_grad_carries,
                                 state_fixup, state_fixup_adjoint)
    dtype = getattr(torch, dtype_name)
    b, D, N, L = s['b'], s['D'], s['N'], s['L']
    a = make_inputs(b, D, N, L, dtype, device)
    sp = a.pop('delta_softplus')
    g = torch.Generator(device).manual_seed(1)
    dy = torch.randn(b, D, L, device=device, dtype=dtype, generator=g)
    dlast = torch.randn(b, D, N, device=device, dtype=torch.float32, generator=g)
    scan = lambda c, h0=None: _local_scan(c['u'], c['delta'], c['A'], c['B'], c['C'], c['D'], c['z'], c['delta_bias'], sp, h0, backend)
    names = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')
    def fwd_bwd(c, h0, dyc, g_end):
        leaves = {k: c[k].detach().requires_grad_() for k in names}
        y, last = scan(leaves, h0)
        return dict(zip(names, torch.autograd.grad([y, last], list(leaves.values()), [dyc, g_end])))
    fused = _fused_ok(a['u'], backend)
    def sums_of(c):                                                               # the chunk's total dt (b, D) [and segment sums]
        if fused:
            sg = _fused_fixup(c['delta'], c['delta_bias'], sp, c['A'], c['C'], c['z'])[1]
            return sg.sum(-1), sg
        return _prepare_delta(c['delta'], c['delta_bias'], sp, torch.float32).sum(-1), None
    def fix_into(c, y, h_in, sg):                                                 # y corrected for h_in (in place when fused)
        if fused: return _fused_fixup(c['delta'], c['delta_bias'], sp, c['A'], c['C'], c['z'], y=y, h_in=h_in, sums=sg)[0]
        dt = _prepare_delta(c['delta'], c['delta_bias'], sp, torch.float32)
        return (y.float() + state_fixup(dt, c['A'], c['C'], c['z'], h_in)).to(y.dtype)
    def adjoint(c, dyc):
        if fused: return _fused_fixup(c['delta'], c['delta_bias'], sp, c['A'], c['C'], c['z'], dy=dyc)[0]
        return state_fixup_adjoint(_prepare_delta(c['delta'], c['delta_bias'], sp, torch.float32), c['A'], c['C'], c['z'], dyc)

    t0 = time.perf_counter()
    out = dict(dtype=dtype_name, fused_fixup=fused)
    out['full_fwd_ms'] = bench(lambda: scan(a))
    out['full_fwd_bwd_ms'] = bench(lambda: fwd_bwd(a, None, dy, dlast))
    y_full, last_full = scan(a)
    gfull = fwd_bwd(a, None, dy, dlast)
    log(f"{dtype_name}: whole sequence fwd {out['full_fwd_ms']:.2f} ms, fwd+bwd {out['full_fwd_bwd_ms']:.2f} ms")
    pair_bytes = 2 * b * D * N * 4
    rows, checks = [], {}
    for R in s['Rs']:
        Lc = L // R
        row = dict(R=R, L_local=Lc, **{k: [] for k in ('local_ms', 'decay_ms', 'fixup_ms', 'rescan_ms', 'adjoint_ms', 'local_bwd_ms')})
        P, S, ys, sgs = [], [], [], []
        for r in range(R):                                                        # 1. every rank's local scan and decay
            c = chunk(a, r * Lc, (r + 1) * Lc)
            row['local_ms'].append(bench(lambda: scan(c)))
            row['decay_ms'].append(bench(lambda: sums_of(c)))
            y, Sr = scan(c); tot, sg = sums_of(c)
            P.append(torch.exp(tot[..., None] * c['A'])); S.append(Sr); ys.append(y); sgs.append(sg)
            del c
        P, S = torch.stack(P), torch.stack(S)
        row['compose_ms'] = bench(lambda: compose_carries(P, S))
        H_in, last = compose_carries(P, S)
        err = dict(last=rel_err(last, last_full), y=0.0, du=0.0, ddelta=0.0, dB=0.0, dA=0.0, dD=0.0)
        E0 = []
        for r in range(R):                                                        # 2. fix-up; the backward's first part
            c = chunk(a, r * Lc, (r + 1) * Lc)
            dyc = dy[..., r * Lc:(r + 1) * Lc].contiguous()
            if r > 0:
                buf = ys[r].clone()
                row['fixup_ms'].append(bench(lambda: fix_into(c, buf, H_in[r], sgs[r])))
                row['rescan_ms'].append(bench(lambda: scan(c, H_in[r])))
                ys[r] = fix_into(c, ys[r], H_in[r], sgs[r]); del buf
                if sgs[r] is not None: row.setdefault('fixup_live_fraction', []).append(live_fraction(c['A'], sgs[r]))
                row['adjoint_ms'].append(bench(lambda: adjoint(c, dyc)))
                E0.append(adjoint(c, dyc))
            else:
                row['fixup_ms'].append(0.0); row['rescan_ms'].append(0.0); row['adjoint_ms'].append(0.0)
                E0.append(torch.zeros_like(last))
            err['y'] = max(err['y'], rel_err(ys[r], y_full[..., r * Lc:(r + 1) * Lc]))
            del c
        E0 = torch.stack(E0)
        row['grad_compose_ms'] = bench(lambda: compose_grad_carries(P, E0, dlast))
        G = compose_grad_carries(P, E0, dlast)
        gsum = dict(A=0, D=0)
        for r in range(R):                                                        # 3. the local backward from the true state
            c = chunk(a, r * Lc, (r + 1) * Lc)
            dyc = dy[..., r * Lc:(r + 1) * Lc].contiguous()
            h = H_in[r] if r > 0 else None
            row['local_bwd_ms'].append(bench(lambda: fwd_bwd(c, h, dyc, G[r])))
            gr = fwd_bwd(c, h, dyc, G[r])
            sl = slice(r * Lc, (r + 1) * Lc)
            for k, full in (('du', gfull['u']), ('ddelta', gfull['delta']), ('dB', gfull['B'])):
                err[k] = max(err[k], rel_err(gr[k[1:]], full[..., sl]))
            for k in gsum: gsum[k] = gsum[k] + gr[k].float()
            del c, gr
        err['dA'], err['dD'] = rel_err(gsum['A'], gfull['A']), rel_err(gsum['D'], gfull['D'])
        comm = (alpha_us * 1e-3 + (R - 1) * pair_bytes / (beta_gbs * 1e9) * 1e3)   # ms per all_gather
        mx = lambda *ks: max(sum(row[k][r] for k in ks) for r in range(R))
        row.update(bytes_received_per_rank=(R - 1) * pair_bytes, comm_ms_model=comm,
                   fwd_ms=mx('local_ms', 'decay_ms', 'fixup_ms') + row['compose_ms'] + comm,
                   fwd_rescan_ms=mx('local_ms', 'decay_ms', 'rescan_ms') + row['compose_ms'] + comm)
        row['bwd_ms'] = mx('adjoint_ms', 'local_bwd_ms') + row['grad_compose_ms'] + comm
        row['train_ms'] = row['fwd_ms'] + row['bwd_ms']
        row.update(speedup_fwd=out['full_fwd_ms'] / row['fwd_ms'], speedup_fwd_rescan=out['full_fwd_ms'] / row['fwd_rescan_ms'],
                   speedup_train=out['full_fwd_bwd_ms'] / row['train_ms'], errors=err,
                   ok=all(v <= TOL[dtype_name] for v in err.values()))
        log(f"  R={R}: fwd {row['fwd_ms']:.2f} ms ({row['speedup_fwd']:.2f}x; rescan {row['speedup_fwd_rescan']:.2f}x), "
            f"train {row['train_ms']:.2f} ms ({row['speedup_train']:.2f}x); max rel err {max(err.values()):.1e} {'ok' if row['ok'] else 'FAIL'}")
        rows.append(row)
        del P, S, ys, E0, G
    out.update(by_R=rows, seconds=time.perf_counter() - t0, ok=all(r['ok'] for r in rows), tolerance=TOL[dtype_name])
    return out

def git_state():
    "The commit (if git can say) and a SHA-256 over effseq/*.py, which names the code that ran even where .git is stale."
    h = hashlib.sha256()
    for f in sorted(glob.glob(os.path.join(ROOT, 'effseq', '*.py'))):
        h.update(os.path.basename(f).encode()); h.update(open(f, 'rb').read())
    out = dict(effseq_sources_sha256=h.hexdigest())
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        if head: out['commit'] = head
    except Exception: pass
    return out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write (nbs/data/sp_sim_gpu.json)')
    p.add_argument('--cpu-smoke', action='store_true', help='tiny sizes on the CPU (PyTorch scan backend): a test of this script')
    p.add_argument('--alpha-us', type=float, default=20.0, help='modelled latency of one all_gather (us)')
    p.add_argument('--beta-gbs', type=float, default=150.0, help='modelled all_gather bandwidth per rank (GB/s)')
    p.add_argument('--warmup-ms', type=int, default=5); p.add_argument('--rep-ms', type=int, default=40)
    p.add_argument('--scan-backend', choices=('torch', 'triton'), default=None,
                   help="the local scan's backend (default: triton on the GPU, torch for --cpu-smoke; triton there runs in the interpreter)")
    a = p.parse_args(argv)
    device = torch.device('cpu' if a.cpu_smoke else 'cuda')
    if device.type == 'cuda' and not torch.cuda.is_available(): sys.exit("no CUDA device: run with --cpu-smoke for the CPU smoke test")
    s = SIZES['smoke' if a.cpu_smoke else 'full']
    import effseq.parallel                                                      # first: without a GPU it picks the Triton interpreter
    backend = a.scan_backend or ('torch' if a.cpu_smoke else 'triton')
    t0 = time.perf_counter()
    res = dict(what='one-GPU simulation of selective_scan_sp (tools/gpu_sp_sim.py)', cpu_smoke=a.cpu_smoke,
               device=torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or 'cpu',
               torch=torch.__version__, cuda=torch.version.cuda, date=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
               shape=dict(b=s['b'], D=s['D'], N=s['N'], L=s['L']), scan_backend=backend,
               comm_model=dict(alpha_us=a.alpha_us, beta_GBps=a.beta_gbs), **git_state())
    try:
        import triton; res['triton'] = triton.__version__
    except ImportError: pass
    bench = bench_fn(device, a.warmup_ms, a.rep_ms)
    res['runs'] = []
    for dt in s['dtypes']:
        res['runs'].append(run_dtype(s, dt, device, bench, backend, a.alpha_us, a.beta_gbs))
        if device.type == 'cuda': res['runs'][-1]['peak_GiB'] = torch.cuda.max_memory_allocated() / 2 ** 30; torch.cuda.empty_cache()
    res['ok'] = all(r['ok'] for r in res['runs'])
    res['seconds'] = time.perf_counter() - t0
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, 'w') as f: json.dump(res, f, indent=1)
    log(f"wrote {a.out} in {res['seconds']:.1f} s; checks {'passed' if res['ok'] else 'FAILED'}")
    return 0 if res['ok'] else 1

if __name__ == '__main__': sys.exit(main())
