#!/usr/bin/env python3
"""Host (Python) time of one training step of effseq's Mamba LM against mamba_ssm's: is the step launch-bound?

    PYTHONPATH=/tmp/official:$PYTHONPATH python3 tools/gpu_host_profile.py --out host.json [--b 8 --L 2048]

For each model: the GPU time of a block of steps run back to back, the host time to enqueue them (the clock when the
last call returns, before synchronising), and cProfile's top functions over those steps (own time and cumulative)."""
import argparse, cProfile, io, json, os, pstats, sys, time
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_mamba_e2e as e2e   # noqa: E402

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True); p.add_argument('--b', type=int, default=8); p.add_argument('--L', type=int, default=2048)
    p.add_argument('--steps', type=int, default=4)
    p.add_argument('--memo-flip', action='store_true', help="an experiment, not the shipped code: memoise the backward's flip check by the launch's shapes, strides, dtypes and alignments, and time effseq again")
    a = p.parse_args()
    device = torch.device('cuda'); s = e2e.SIZES['full']
    libs = dict(effseq=e2e.effseq_lib())
    off, _ = e2e.import_official()
    if off: libs['mamba_ssm'] = off
    sd = e2e.reference_state_dict(s, libs, device)
    res = dict(gpu=torch.cuda.get_device_name(), b=a.b, L=a.L, steps=a.steps, effseq=e2e.git_state(), models={})
    for name, lib in libs.items():
        step, _ = e2e.make_trainer(lib, s, sd, device, a.b, a.L)
        for _ in range(3): step()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(a.steps): step()
        t_host = time.perf_counter() - t0
        torch.cuda.synchronize(); t_all = time.perf_counter() - t0
        pr = cProfile.Profile(); torch.cuda.synchronize()
        pr.enable()
        for _ in range(a.steps): step()
        pr.disable(); torch.cuda.synchronize()
        buf = io.StringIO(); st = pstats.Stats(pr, stream=buf)
        st.sort_stats('tottime').print_stats(35); st.sort_stats('cumulative').print_stats(45)
        res['models'][name] = dict(host_ms_per_step=t_host / a.steps * 1e3, wall_ms_per_step=t_all / a.steps * 1e3, cprofile=buf.getvalue()[-30000:])
        print(f"{name}: host {t_host / a.steps * 1e3:.1f} ms a step to enqueue, wall {t_all / a.steps * 1e3:.1f} ms", flush=True)
        print(buf.getvalue()[:12000], flush=True)
        del step; e2e.free(device)
    if a.memo_flip:
        import effseq.scan_grad as sg
        check, memo = sg._state_loop_bwd_flip, {}
        def key_of(v):
            if torch.is_tensor(v): return (v.dtype, tuple(v.shape), v.stride(), v.data_ptr() % 16 == 0)
            if isinstance(v, int) and not isinstance(v, bool): return (v == 1, v % 16 == 0, -2**31 <= v < 2**31)
            return v
        def memo_flip(kernel, grid, args, flags, itemsize):
            k = (id(kernel), grid, tuple(key_of(v) for v in args), tuple(sorted(flags.items())), itemsize)
            if k not in memo: memo[k] = check(kernel, grid, args, flags, itemsize)
            return memo[k]
        sg._state_loop_bwd_flip = memo_flip
        step, _ = e2e.make_trainer(libs['effseq'], s, sd, device, a.b, a.L)
        for _ in range(3): step()
        torch.cuda.synchronize(); t0 = time.perf_counter()
        for _ in range(a.steps): step()
        t_host = time.perf_counter() - t0; torch.cuda.synchronize(); t_all = time.perf_counter() - t0
        res['effseq_memo_flip'] = dict(host_ms_per_step=t_host / a.steps * 1e3, wall_ms_per_step=t_all / a.steps * 1e3, memo_entries=len(memo))
        print(f"effseq with the flip check memoised: host {t_host / a.steps * 1e3:.1f} ms a step, wall {t_all / a.steps * 1e3:.1f} ms", flush=True)
        sg._state_loop_bwd_flip = check
    json.dump(res, open(a.out, 'w'), indent=1)

if __name__ == '__main__': main()
