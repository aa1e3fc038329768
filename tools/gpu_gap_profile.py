#!/usr/bin/env python3
"""Where a training step of effseq's Mamba LM leaves the GPU idle, against mamba_ssm's (issue 14).

    PYTHONPATH=/tmp/official:$PYTHONPATH python3 tools/gpu_gap_profile.py --out gaps.json [--b 8 --L 2048]

For each model, after warm-up:
- syncs: the host synchronisations one step makes (torch.cuda.set_sync_debug_mode, with the Python line of each);
- host: the time to enqueue a block of steps at a tiny input (b=1, L=64: the GPU finishes long before the host),
  which is the step's pure launch cost, and the same at (b, L);
- gaps: a torch.profiler trace of a block of steps at (b, L): kernels per step, GPU busy time (the union of kernel
  intervals), idle time, and the largest idle gaps with the kernels on either side and the host ops launched in them;
- ops: the number of calls of each aten op per step (the host's work list)."""
import argparse, collections, json, os, sys, time, traceback, warnings
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_mamba_e2e as e2e   # noqa: E402

def host_ms(step, n):
    "Host ms per step to enqueue n steps, and the wall ms per step once they have run."
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for _ in range(n): step()
    t1 = time.perf_counter(); torch.cuda.synchronize(); t2 = time.perf_counter()
    return (t1 - t0) / n * 1e3, (t2 - t0) / n * 1e3

def syncs(step):
    "The host synchronisations of one step, each with the innermost frames outside torch."
    found = []
    def show(message, category, filename, lineno, file=None, line=None):
        if 'synchroniz' not in str(message): return
        st = [f'{os.path.basename(f.filename)}:{f.lineno} {f.name}' for f in traceback.extract_stack()[:-1]
              if '/torch/' not in f.filename and 'warnings' not in f.filename]
        found.append(dict(message=str(message)[:200], where=st[-4:]))
    old = warnings.showwarning; warnings.showwarning = show
    torch.cuda.set_sync_debug_mode(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('always'); warnings.showwarning = show
            step()
    finally:
        torch.cuda.set_sync_debug_mode(0); warnings.showwarning = old
    torch.cuda.synchronize()
    return found

def gaps(step, n, top=25):
    "Profile n steps: kernels, busy and idle GPU time per step, the largest gaps and what the host launched in them."
    from torch.profiler import profile, ProfilerActivity
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(n): step()
        torch.cuda.synchronize()
    ev = prof.events()
    kern = sorted([(e.time_range.start, e.time_range.end, e.name) for e in ev if e.device_type == torch.autograd.DeviceType.CUDA],
                  key=lambda t: t[0])
    cpu = [e for e in ev if e.device_type == torch.autograd.DeviceType.CPU]
    top_level = lambda e: e.name.startswith('aten::') and (e.cpu_parent is None or not e.cpu_parent.name.startswith('aten::'))
    ops = collections.Counter(e.name for e in cpu if top_level(e))
    busy, idle, gl, cur_s, cur_e = 0.0, 0.0, [], None, None
    for i, (s, t, name) in enumerate(kern):
        if cur_e is None: cur_s, cur_e = s, t; continue
        if s > cur_e:
            busy += cur_e - cur_s; idle += s - cur_e
            gl.append((s - cur_e, cur_e, s, kern[i - 1][2][:90], name[:90]))
            cur_s = s
        cur_e = max(cur_e, t)
    if cur_e is not None: busy += cur_e - cur_s
    gl.sort(reverse=True)
    sizes = collections.Counter()
    for g in gl: sizes['<5us' if g[0] < 5 else '5-20us' if g[0] < 20 else '20-100us' if g[0] < 100 else '>=100us'] += g[0]
    def launched_in(a, b):
        c = collections.Counter(e.name for e in cpu if a - 50 <= e.time_range.start <= b and e.cpu_parent is not None
                                and not e.cpu_parent.name.startswith('aten::') and not e.name.startswith('cuda'))
        return c.most_common(6)
    return dict(kernels_per_step=len(kern) / n, busy_ms_per_step=busy / n / 1e3, idle_ms_per_step=idle / n / 1e3,
                span_ms_per_step=(kern[-1][1] - kern[0][0]) / n / 1e3 if kern else None,
                idle_ms_per_step_by_gap_size={k: v / n / 1e3 for k, v in sizes.items()},
                top_gaps=[dict(us=round(g[0], 1), after=g[3], before=g[4], host_ops_meanwhile=launched_in(g[1], g[2])) for g in gl[:top]],
                aten_ops_per_step={k: v / n for k, v in ops.most_common(40)}, aten_ops_total_per_step=sum(ops.values()) / n)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True); p.add_argument('--b', type=int, default=8); p.add_argument('--L', type=int, default=2048)
    p.add_argument('--steps', type=int, default=4); p.add_argument('--models', default='effseq,mamba_ssm')
    a = p.parse_args()
    device = torch.device('cuda'); s = e2e.SIZES['full']
    libs = dict(effseq=e2e.effseq_lib())
    off, why = e2e.import_official()
    if off: libs['mamba_ssm'] = off
    else: print('mamba_ssm not importable:', why)
    libs = {k: v for k, v in libs.items() if k in a.models.split(',')}
    sd = e2e.reference_state_dict(s, libs, device)
    res = dict(gpu=torch.cuda.get_device_name(), b=a.b, L=a.L, steps=a.steps, effseq=e2e.git_state(), models={})
    for name, lib in libs.items():
        r = res['models'][name] = {}
        step, _ = e2e.make_trainer(lib, s, sd, device, 1, 64)
        for _ in range(3): step()
        r['host_tiny_ms'], r['wall_tiny_ms'] = host_ms(step, 2 * a.steps)
        r['syncs_tiny'] = syncs(step)
        del step; e2e.free(device)
        step, _ = e2e.make_trainer(lib, s, sd, device, a.b, a.L)
        for _ in range(3): step()
        r['syncs'] = syncs(step)
        r['host_ms'], r['wall_ms'] = host_ms(step, a.steps)
        r['gaps'] = gaps(step, a.steps)
        del step; e2e.free(device)
        g = r['gaps']
        print(f"{name}: tiny host {r['host_tiny_ms']:.1f} ms (wall {r['wall_tiny_ms']:.1f}); b={a.b} L={a.L}: host {r['host_ms']:.1f} wall {r['wall_ms']:.1f}; "
              f"{g['kernels_per_step']:.0f} kernels, busy {g['busy_ms_per_step']:.1f} idle {g['idle_ms_per_step']:.1f} ms a step, "
              f"{g['aten_ops_total_per_step']:.0f} aten ops; syncs {len(r['syncs'])}", flush=True)
        print('  idle by gap size', g['idle_ms_per_step_by_gap_size'])
        for x in r['syncs'][:5]: print('  sync', x)
        for x in g['top_gaps'][:12]: print('  gap', x)
        print('  ops', list(g['aten_ops_per_step'].items())[:25], flush=True)
    json.dump(res, open(a.out, 'w'), indent=1)

if __name__ == '__main__': main()
