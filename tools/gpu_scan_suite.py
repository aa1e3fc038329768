"""Run the selective-scan GPU suite of nbs/04a_triton_scan_bench.ipynb and save it as JSON (needs a CUDA GPU).

    python tools/gpu_scan_suite.py --out nbs/data/selective_scan_gpu.json

Correctness sweeps run in one process per dtype, beside one that compares the backward's two flips (Triton compiles
in parallel); the long-sequence, compile/AMP tests and the benchmark then run alone on the GPU. mamba_ssm's CUDA
extension is compared when `import selective_scan_cuda` works (build it locally; it is never vendored)."""
import argparse, json, os, subprocess, sys, tempfile
import torch

def _official():
    try:
        import selective_scan_cuda
        return selective_scan_cuda
    except ImportError:
        return None

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True)
    p.add_argument('--reuse', help='take the sweep and long-sequence results from this earlier JSON instead of rerunning them')
    p.add_argument('--sweep-dtype', help=argparse.SUPPRESS)     # internal: one dtype's sweep, JSON to --out
    p.add_argument('--flip-test', action='store_true', help=argparse.SUPPRESS)   # internal: the flip test, JSON to --out
    a = p.parse_args()
    from effseq.triton_scan_bench import gpu_test_sweep, gpu_long_tests, gpu_compile_amp_test, gpu_flip_test, benchmark_scan
    import triton
    if a.flip_test:
        open(a.out, 'w').write(json.dumps(gpu_flip_test(), default=str)); return
    if a.sweep_dtype:
        rows = gpu_test_sweep(dtypes=(getattr(torch, a.sweep_dtype),), official=_official())
        open(a.out, 'w').write(json.dumps(rows, default=str)); return
    if a.reuse:
        result = json.load(open(a.reuse)); sweep = result['sweep']
        save = lambda: open(a.out, 'w').write(json.dumps(result, indent=1, default=str))
    else:
        result, sweep, save = _sweep_and_long(a)
    result['compile_amp'] = gpu_compile_amp_test(); print(result['compile_amp'], flush=True); save()
    result['bench'] = benchmark_scan(official=_official())
    save()
    if not all(r['ok'] for r in sweep): sys.exit('some sweep cases are outside tolerance')

def _sweep_and_long(a):
    from effseq.triton_scan_bench import gpu_long_tests
    import triton
    tmp = tempfile.mkdtemp()
    procs = {dt: subprocess.Popen([sys.executable, __file__, '--out', f'{tmp}/{dt}.json', '--sweep-dtype', dt])
             for dt in ('float32', 'float16', 'bfloat16')}
    flip_proc = subprocess.Popen([sys.executable, __file__, '--out', f'{tmp}/flip.json', '--flip-test'])
    if any(pr.wait() for pr in [*procs.values(), flip_proc]): sys.exit('a sweep or flip-test process failed')
    sweep = [r for dt in procs for r in json.load(open(f'{tmp}/{dt}.json'))]
    print(f"sweep: {sum(r['ok'] for r in sweep)} of {len(sweep)} within tolerance", flush=True)
    for r in sweep:
        if not r['ok']: print('outside tolerance:', r, flush=True)
    result = dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__,
                  official='compared' if _official() else 'not importable', sweep=sweep)
    save = lambda: open(a.out, 'w').write(json.dumps(result, indent=1, default=str))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True); save()
    result['flip'] = json.load(open(f'{tmp}/flip.json')); print(result['flip'], flush=True); save()
    if result['flip']['within tolerance'] != result['flip']['cases']: sys.exit("the backward's PTX flip and tl.flip disagree")
    result['long'] = gpu_long_tests(); print(result['long'], flush=True); save()
    return result, sweep, save

if __name__ == '__main__': main()
