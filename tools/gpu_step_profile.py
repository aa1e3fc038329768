#!/usr/bin/env python3
"""Where a training step's GPU time goes: effseq's Mamba LM against mamba_ssm's, same weights, one process (issue 14).

    PYTHONPATH=/tmp/official:$PYTHONPATH python3 tools/gpu_step_profile.py --out profile.json [--shape 1,16384 --shape 8,2048]
    python3 tools/gpu_step_profile.py --out short.json --dims d_model=384,n_layer=12,vocab=64 --shape 128,205   # 09b's Mamba LM

For each (b, L): both models' training steps (as tools/gpu_mamba_e2e.py runs them: bf16 autocast, fp32 weights,
AdamW) warmed up, then `--steps` steps each under torch.profiler; the CUDA time of every kernel per step, summed by
kernel name and by a coarse category (scan forward/backward, conv, norm, GEMM, the rest), both models side by side."""
import argparse, json, os, re, sys, time
from collections import defaultdict
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_mamba_e2e as e2e   # noqa: E402

CATS = [('scan_bwd', r'bwd_state_loop|selective_scan_bwd'), ('scan_fwd', r'fwd_state_loop|selective_scan_fwd|_fwd_.*scan'),
        ('conv_bwd', r'conv.*bwd|causal_conv1d_bwd|conv1d_channellast_bwd|_bwd_kernel$'),
        ('conv_fwd', r'conv.*fwd|causal_conv1d_fwd|_fwd_kernel$'),
        ('norm', r'layer_norm|rms|_norm|LayerNorm'), ('gemm', r'gemm|sm90_xmma|cutlass|nvjet|Kernel2|ampere|sgemm|cublas'),
        ('cross_entropy', r'log_softmax|nll_loss|softmax'), ('adamw', r'multi_tensor_apply|adam'),
        ('reduce', r'reduce_kernel'), ('copy_cast', r'copy|cast|direct_copy|unrolled_elementwise_kernel.*copy')]

def category(name):
    for c, pat in CATS:
        if re.search(pat, name, re.I): return c
    return 'elementwise_other'

def profile_steps(step, steps):
    from torch.profiler import profile, ProfilerActivity
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps): step()
        torch.cuda.synchronize()
    per = defaultdict(float); count = defaultdict(int)
    for ev in prof.key_averages():
        t = getattr(ev, 'device_time_total', None)
        if t is None: t = ev.cuda_time_total
        if t > 0: per[ev.key] += t / 1e3 / steps; count[ev.key] += ev.count // steps
    return per, count

def copies_by_shape(step, steps):
    "Device time per step of the aten ops that copy or cast (copy_, to, contiguous, clone, sum), by their input shapes."
    from torch.profiler import profile, ProfilerActivity
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        for _ in range(steps): step()
        torch.cuda.synchronize()
    rows = []
    for ev in prof.key_averages(group_by_input_shape=True):
        if ev.key not in ('aten::copy_', 'aten::sum', 'aten::contiguous', 'aten::clone', 'aten::_to_copy', 'aten::add_', 'aten::fill_', 'aten::zero_'): continue
        t = getattr(ev, 'self_device_time_total', None)
        if t is None: t = ev.self_cuda_time_total
        if t > 0: rows.append(dict(op=ev.key, shapes=str(ev.input_shapes)[:200], ms=t / 1e3 / steps, calls=ev.count // steps))
    return sorted(rows, key=lambda r: -r['ms'])[:25]

CONV_AB = [((16, 256, 4), (4, 256, 4)), ((16, 128, 1), (1, 256, 1)), ((16, 128, 2), (2, 256, 1)), ((2, 512, 1), (2, 128, 1)),
           ((4, 512, 4), (4, 256, 2)), ((8, 256, 1), (4, 64, 1)), ((16, 128, 4), (8, 128, 2)), ((8, 512, 4), (4, 128, 2)),
           ((32, 128, 4), (4, 128, 1)), ((16, 256, 8), (2, 512, 2))]

def conv_ab(s, lib, sd, device, b, L, steps):
    "In-model CUDA time per step of effseq's conv kernels under each (forward, backward) launch config of CONV_AB."
    import effseq.conv as ec
    orig, out = ec.conv_config, []
    for fw, bw in CONV_AB:
        pick = lambda b_, D, L_, W, dev, backward=False, fw=fw, bw=bw: dict(zip(('BD', 'BL', 'num_warps'), bw if backward else fw))
        ec.conv_config = pick
        try:
            step, _ = e2e.make_trainer(lib, s, sd, device, b, L)
            for _ in range(3): step()
            per, _ = profile_steps(step, steps)
            r = dict(fwd=fw, bwd=bw, conv_fwd_ms=per.get('_fwd_kernel', 0.0), conv_bwd_ms=per.get('_bwd_kernel', 0.0), total_ms=sum(per.values()))
        except Exception as e:
            r = dict(fwd=fw, bwd=bw, error=str(e)[:200])
        finally:
            ec.conv_config = orig
        out.append(r); print(f"   conv A/B b={b} L={L}: {r}", flush=True)
        del step; e2e.free(device)
    return out

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True)
    p.add_argument('--shape', action='append', help='b,L (repeatable; default 8,2048 and 1,16384)')
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--conv-ab', action='store_true', help="only the in-model A/B of effseq's conv launch configs")
    p.add_argument('--dims', default=None, help="model sizes replacing Mamba-130M's, e.g. d_model=384,n_layer=12,vocab=64 "
                   "(09b's Mamba LM; profile it with --shape 128,205)")
    a = p.parse_args()
    shapes = [tuple(int(v) for v in s.split(',')) for s in (a.shape or ['8,2048', '1,16384'])]
    device = torch.device('cuda')
    s = dict(e2e.SIZES['full'])
    if a.dims: s.update({k: int(v) for k, v in (kv.split('=') for kv in a.dims.split(','))})
    libs = dict(effseq=e2e.effseq_lib())
    off, why = e2e.import_official()
    if off: libs['mamba_ssm'] = off
    else: print('mamba_ssm not importable:', why)
    sd = e2e.reference_state_dict(s, libs, device)
    res = dict(dims={k: s[k] for k in ('d_model', 'n_layer', 'vocab')}, gpu=torch.cuda.get_device_name(), baseline=off['version'] if off else None, date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
               effseq=e2e.git_state(), steps=a.steps, shapes=[])
    for b, L in shapes:
        entry = dict(b=b, L=L, models={})
        if a.conv_ab:
            entry['conv_ab'] = conv_ab(s, libs['effseq'], sd, device, b, L, a.steps)
            res['shapes'].append(entry); json.dump(res, open(a.out, 'w'), indent=1); continue
        for name, lib in libs.items():
            step, _ = e2e.make_trainer(lib, s, sd, device, b, L)
            for _ in range(3): step()
            per, count = profile_steps(step, a.steps)
            cats = defaultdict(float)
            for k, v in per.items(): cats[category(k)] += v
            top = sorted(per.items(), key=lambda kv: -kv[1])[:40]
            entry['models'][name] = dict(total_ms=sum(per.values()), categories=dict(sorted(cats.items(), key=lambda kv: -kv[1])),
                                         top=[dict(kernel=k[:160], ms=v, calls=count[k], category=category(k)) for k, v in top])
            if name == 'effseq': entry['models'][name]['copies'] = copies_by_shape(step, 1)
            del step; e2e.free(device)
            m = entry['models'][name]
            print(f"b={b} L={L} {name}: {m['total_ms']:.1f} ms of kernels a step; " +
                  ', '.join(f'{c} {v:.1f}' for c, v in m['categories'].items()), flush=True)
            for r in m['top'][:25]: print(f"   {r['ms']:7.2f} ms {r['calls']:4d}x [{r['category']}] {r['kernel'][:110]}")
            for r in m.get('copies', []): print(f"   copy-like {r['ms']:7.2f} ms {r['calls']:4d}x {r['op']} {r['shapes']}")
        res['shapes'].append(entry)
        json.dump(res, open(a.out, 'w'), indent=1)

if __name__ == '__main__': main()
