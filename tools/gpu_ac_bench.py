"""AC-Mamba's forward against a Mamba block of the same width (nbs/08_adaptive.ipynb), with the slow channel fused
(the Triton kernels: prefix sums at the updates, gather-add, the hybrid's bounds on the device) and plain (PyTorch
ops, `fused=False`), in one round-robin run; saved as JSON for nbs/08_adaptive.ipynb.

    python tools/gpu_ac_bench.py --out nbs/data/ac_gpu.json     # on a CUDA GPU: b=8, d_model=768, L=4096, fp32 (about a minute)
    python tools/gpu_ac_bench.py --profile                      # also the top GPU kernels of one slow-channel call
    python tools/gpu_ac_bench.py --tiny --out /tmp/ac_tiny.json  # tiny sizes on the CPU (kernels in Triton's interpreter)

Before timing, the fused and the plain slow channel are compared on the benchmark's own activations (forward) and at
a smaller shape (forward and backward); a mismatch stops the script. Times are the fastest of `--repeat` round-robin
runs (chapter 07's `time_many`: wall clock with a device synchronisation around each call). The target of issue 5:
AC-Mamba at a 12.5% update rate costs at most 1.15x the Mamba block."""
import argparse, json, os, platform, sys, time
import torch

if not torch.cuda.is_available(): os.environ.setdefault('TRITON_INTERPRET', '1')    # before triton is imported
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))   # the checkout's effseq first
from effseq.mamba import Mamba
from effseq.multiscale import MultiScaleMamba
from effseq.core import time_many
from effseq.adaptive import AdaptiveMamba, schedule, schedule_triton

SIZES = dict(full=dict(b=8, d_model=768, L=4096, check=dict(b=2, d_model=64, L=512)),
             tiny=dict(b=2, d_model=8, L=48, check=dict(b=1, d_model=8, L=24)))

def models(d_model, device, rate, mamba=None):
    "Mamba, MS-Mamba (k=8), AC-Mamba (threshold set later) and the hybrid (4 <= interval <= 16), sharing the fast channel."
    torch.manual_seed(0)
    mamba = mamba or Mamba(d_model, device=device)
    def like(m): m.load_state_dict(mamba.state_dict(), strict=False); return m.eval()
    return dict(mamba=mamba.eval(), ms=like(MultiScaleMamba(d_model, k=8, device=device)),
                ac=like(AdaptiveMamba(d_model, target_rate=rate, device=device)),
                hy=like(AdaptiveMamba(d_model, target_rate=rate, min_interval=4, max_interval=16, device=device)))

def set_rate(ac, xc, y_f, rate):
    "Put AC-Mamba's threshold at the gate's (1 - rate) quantile on these activations, as `ac_cost_experiment` does."
    g, _ = ac.gate_scores(xc, y_f)
    q = torch.quantile(g.float().flatten()[:2 ** 24], 1 - rate).clamp(1e-6, 1 - 1e-6)
    ac.tau_logit.data.fill_(torch.logit(q).item() - 1e-6)

def with_fused(m, fused, f):
    old = m.fused; m.fused = fused
    try: return f()
    finally: m.fused = old

def check(ms, xc, y_f, log) -> dict:
    "Fused == plain on the benchmark's activations (forward) and `schedule_triton` == `schedule` on the hybrid's gate."
    out = {}
    for name in ('ac', 'hy'):
        m = ms[name]
        a, b = (with_fused(m, fu, lambda: m._slow_channel(xc, y_f)) for fu in (True, False))
        err = ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()
        out[f'{name}_fwd_rel_err'] = err
        if not err < 1e-4: raise AssertionError(f'{name}: fused and plain slow channels differ (relative {err:.2e})')
    hard = ms['hy'].gate_scores(xc, y_f)[0] > torch.sigmoid(ms['hy'].tau_logit)
    if not torch.equal(schedule_triton(hard, 4, 16).cpu(), schedule(hard, 4, 16).cpu()):
        raise AssertionError('schedule_triton and schedule differ on the hybrid gate')
    log(f"check: fused == plain slow channel (relative error AC {out['ac_fwd_rel_err']:.1e}, hybrid {out['hy_fwd_rel_err']:.1e}); "
        "schedule_triton == schedule")
    return out

def check_grads(s, device, rate, log) -> dict:
    "Fused == plain, forward and backward, for AC-Mamba and the hybrid at a smaller shape (all parameter gradients)."
    out = {}
    x = torch.randn(s['b'], s['L'], s['d_model'], device=device)
    for name, m in models(s['d_model'], device, rate).items():
        if name not in ('ac', 'hy'): continue
        m.train()
        with torch.no_grad(): xc, _, y_f, _ = m._fast(x)
        set_rate(m, xc, y_f, rate)
        res = {}
        for fu in (True, False):
            m.zero_grad(); m.fused = fu
            y = m(x); (y.square().sum() + m.aux_loss).backward()
            res[fu] = y.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
        m.fused = None
        worst = max([((res[True][0] - res[False][0]).abs().max() / res[False][0].abs().max()).item()] +
                    [((res[True][1][n] - g).abs().max() / g.abs().max().clamp(min=1e-30)).item() for n, g in res[False][1].items()])
        out[f'{name}_grad_rel_err'] = worst
        if not worst < 1e-3: raise AssertionError(f'{name}: fused and plain gradients differ (worst relative {worst:.2e})')
    log(f"check: fused == plain forward and backward at {s} (worst relative error AC {out['ac_grad_rel_err']:.1e}, "
        f"hybrid {out['hy_grad_rel_err']:.1e})")
    return out

def profile_slow(ms, xc, y_f, device, n=5, rows=15):
    "Print the top kernels (device time) of `n` slow-channel calls of AC-Mamba, fused and plain."
    from torch.profiler import profile, ProfilerActivity
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    for fused in (True, False):
        m = ms['ac']; m.fused = fused
        m._slow_channel(xc, y_f)                                                       # warm-up (compiles)
        with profile(activities=acts) as prof:
            for _ in range(n): m._slow_channel(xc, y_f)
            if device.type == 'cuda': torch.cuda.synchronize()
        m.fused = None
        ka = prof.key_averages()
        key = 'cpu_time_total'
        if device.type == 'cuda':
            key = 'device_time_total' if hasattr(ka[0], 'device_time_total') else 'cuda_time_total'
        print(f"\n=== AC-Mamba slow channel, {'fused' if fused else 'plain'}: {n} calls, sorted by {key} ===")
        print(ka.table(sort_by=key, row_limit=rows))

def host_device_split(ms, xc, y_f, device, n=10) -> dict:
    """Where one slow-channel call's time goes: when the host returns from it, when the device has finished it (both
    from an idle device, best of `n`), and the device's busy time (the sum of its kernels, from the profiler)."""
    from torch.profiler import profile, ProfilerActivity
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    out = {}
    for name, m, fused in (('MS-Mamba k=8', ms['ms'], None), ('AC-Mamba fused', ms['ac'], True), ('hybrid fused', ms['hy'], True)):
        f = (lambda m=m: m._slow_channel(xc, y_f)) if fused is None else (lambda m=m: with_fused(m, True, lambda: m._slow_channel(xc, y_f)))
        f(); sync()
        best = None
        for _ in range(n):
            sync(); t0 = time.perf_counter(); f(); t1 = time.perf_counter(); sync(); t2 = time.perf_counter()
            if best is None or t2 - t0 < best[1]: best = (t1 - t0, t2 - t0)
        busy = float('nan')
        if device.type == 'cuda':
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                f(); sync()
            key = 'self_device_time_total' if hasattr(prof.events()[0], 'self_device_time_total') else 'self_cuda_time_total'
            busy = sum(getattr(e, key) for e in prof.events()) / 1e3
        out[name] = dict(host_ms=best[0] * 1e3, done_ms=best[1] * 1e3, device_busy_ms=busy)
    return out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--tiny', action='store_true', help='tiny sizes (a CPU smoke test)')
    p.add_argument('--profile', action='store_true', help="print the top kernels of AC-Mamba's slow channel")
    p.add_argument('--rate', type=float, default=0.125, help='update rate of AC-Mamba (default 0.125)')
    p.add_argument('--repeat', type=int, default=20, help='round-robin rounds (default 20)')
    p.add_argument('--out', help='write the results as JSON here')
    a = p.parse_args(argv)
    if a.tiny: a.repeat = 1                                                     # the interpreter is slow: one round
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    s = SIZES['tiny' if a.tiny else 'full']
    log = lambda msg: print(msg, flush=True)
    env = dict(device=torch.cuda.get_device_name() if device.type == 'cuda' else f'CPU ({os.cpu_count()} cores)', torch=torch.__version__,
               python=platform.python_version(), date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), dtype='float32',
               shape=dict(b=s['b'], d_model=s['d_model'], L=s['L']), rate=a.rate)
    try:
        import triton; env['triton'] = triton.__version__
    except ImportError: pass
    log(f"{env['device']}, torch {env['torch']}, triton {env.get('triton', '-')}; b={s['b']} d_model={s['d_model']} L={s['L']} fp32")
    checks = check_grads(s['check'], device, a.rate, log)
    ms = models(s['d_model'], device, a.rate)
    x = torch.randn(s['b'], s['L'], s['d_model'], device=device)
    with torch.no_grad():
        xc, _, y_f, _ = ms['ms']._fast(x)
        set_rate(ms['ac'], xc, y_f, a.rate)
        checks.update(check(ms, xc, y_f, log))
        fns = {'Mamba': lambda: ms['mamba'](x), 'MS-Mamba k=8': lambda: ms['ms'](x),
               'slow MS-Mamba k=8': lambda: ms['ms']._slow_channel(xc, y_f)}
        for name, label in (('ac', f'AC-Mamba {a.rate:.1%}'), ('hy', 'hybrid 4..16')):
            for fused, tag in ((True, 'fused'), (False, 'plain')):
                m = ms[name]
                fns[f'{label} {tag}'] = lambda m=m, fu=fused: with_fused(m, fu, lambda: m(x))
                fns[f'slow {label} {tag}'] = lambda m=m, fu=fused: with_fused(m, fu, lambda: m._slow_channel(xc, y_f))
        t = time_many(fns, repeat=a.repeat, warmup=0 if a.tiny else 2)
        rates = {}
        for name in ('ac', 'hy'): ms[name](x); rates[name] = ms[name].update_rate.item()
    xg = x.clone().requires_grad_()
    def fb(m, fused=None):
        def f():
            m.zero_grad(set_to_none=True); old = getattr(m, 'fused', None)
            if fused is not None: m.fused = fused
            try: y = m(xg); (y.square().mean() + (m.aux_loss if getattr(m, 'aux_loss', None) is not None else 0)).backward()
            finally:
                if fused is not None: m.fused = old
        return f
    for m in ms.values(): m.train()
    tb = time_many({'Mamba': fb(ms['mamba']), 'AC fused': fb(ms['ac'], True), 'AC plain': fb(ms['ac'], False)},
                   repeat=1 if a.tiny else max(3, a.repeat // 4), warmup=0 if a.tiny else 1)
    tm = t['Mamba']
    rows = []
    log(f"\n{'model':34s} {'update rate':>11s} {'forward ms':>10s} {'vs Mamba':>9s}")
    for k, v in t.items():
        if k.startswith('slow '): continue
        r = rates['ac'] if k.startswith('AC') else rates['hy'] if k.startswith('hybrid') else 0.125 if k.startswith('MS') else None
        rows.append(dict(model=k, update_rate=r, forward_ms=v * 1e3, vs_mamba=v / tm, slow_ms=t.get(f'slow {k}', float('nan')) * 1e3))
        log(f"{k:34s} {'-' if r is None else f'{r:.3f}':>11s} {v * 1e3:10.2f} {v / tm:8.2f}x")
    log(f"\n{'slow channel alone':34s} {'ms':>10s}")
    for k, v in t.items():
        if k.startswith('slow '): log(f"{k[5:]:34s} {v * 1e3:10.3f}")
    log(f"\n{'forward + backward':34s} {'ms':>10s}")
    for k, v in tb.items(): log(f"{k:34s} {v * 1e3:10.2f}   {v / tb['Mamba']:.2f}x")
    ac_key = f'AC-Mamba {a.rate:.1%} fused'
    ok = t[ac_key] / tm <= 1.15
    log(f"\ntarget: AC-Mamba at {a.rate:.1%} (fused) costs {t[ac_key] / tm:.2f}x a Mamba block (at most 1.15x): {'met' if ok else 'NOT met'}; "
        f"plain {t[f'AC-Mamba {a.rate:.1%} plain'] / tm:.2f}x; slow channel {t['slow ' + ac_key] * 1e3:.2f} ms fused, "
        f"{t[f'slow AC-Mamba {a.rate:.1%} plain'] * 1e3:.2f} ms plain, MS-Mamba's {t['slow MS-Mamba k=8'] * 1e3:.2f} ms")
    for m in ms.values(): m.eval()
    with torch.no_grad(): split = host_device_split(ms, xc, y_f, device, n=2 if a.tiny else 10)
    log(f"\n{'one slow-channel call':34s} {'host ms':>8s} {'done ms':>8s} {'device busy ms':>15s}")
    for k, v in split.items(): log(f"{k:34s} {v['host_ms']:8.2f} {v['done_ms']:8.2f} {v['device_busy_ms']:15.2f}")
    if a.profile:
        with torch.no_grad(): profile_slow(ms, xc, y_f, device, n=1 if a.tiny else 5)
    if a.out:
        res = dict(env, checks=checks, forward=rows, forward_backward_ms={k: v * 1e3 for k, v in tb.items()},
                   slow_ms={k[5:]: v * 1e3 for k, v in t.items() if k.startswith('slow ')}, slow_call=split, target_met=ok)
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, 'w') as f: json.dump(res, f, indent=1)
        log(f'wrote {a.out}')
    return 0

if __name__ == '__main__': sys.exit(main())
