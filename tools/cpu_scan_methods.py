"""The CPU selective scan (`selective_scan_torch`) with each of chapter 03's scan methods, on the shapes the course trains
on the CPU: forward + backward and forward alone, on one and on two threads. Writes nbs/data/cpu_scan_methods.json (chapter 04 reads it
to check the default rule, `SEQUENTIAL_MIN_WIDTH`).

    python3 tools/cpu_scan_methods.py [--out nbs/data/cpu_scan_methods.json]

Run it on an otherwise idle machine: the numbers are wall-clock medians of a few repeats."""
import argparse, json, os, platform, sys, time
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)
import torch
from effseq.core import time_fn
from effseq.selective import selective_scan_torch

SHAPES = [(64, 128, 49, 16), (32, 128, 256, 16), (8, 128, 1024, 16), (2, 64, 4096, 16), (16, 64, 256, 4), (2, 16, 1024, 16),
          (1, 32, 16384, 16), (4, 256, 512, 16)]
METHODS = ('chunked', 'sequential', 'blelloch')

def med(f, n): return time_fn(f, warmup=1, repeat=n) * 1e3   # median of n runs after one warm-up, ms

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(ROOT, 'nbs', 'data', 'cpu_scan_methods.json'))
    ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args()
    rows = []
    for threads, (b, D, L, N) in [(t, s) for t in (1, 2) for s in SHAPES]:
        torch.set_num_threads(threads)
        g = torch.Generator().manual_seed(0)
        r = lambda *s: torch.randn(*s, generator=g)
        u, delta, z = [r(b, D, L).requires_grad_() for _ in range(3)]
        A = (-torch.rand(D, N, generator=g) - 0.5).requires_grad_()
        B, C = r(b, N, L).requires_grad_(), r(b, N, L).requires_grad_()
        Dv, db = r(D).requires_grad_(), r(D).requires_grad_()
        row = dict(threads=threads, b=b, D=D, L=L, N=N, width=b * D * N)
        for m in METHODS:
            call = lambda: selective_scan_torch(u, delta, A, B, C, Dv, z=z, delta_bias=db, delta_softplus=True, method=m)
            row[f'{m}_fwd_bwd_ms'] = med(lambda: call().sum().backward(), a.repeat)
            with torch.no_grad(): row[f'{m}_fwd_ms'] = med(call, a.repeat)
        rows.append(row); print(row, flush=True)
    out = dict(what='selective_scan_torch on the CPU, one and two threads: forward + backward (sum of y) and forward under no_grad; '
                    'z, delta_bias and softplus on; medians of --repeat runs after one warm-up',
               cpu=platform.processor() or platform.machine(), torch=torch.__version__, cores=os.cpu_count(),
               date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), rows=rows)
    with open(a.out, 'w') as f: json.dump(out, f, indent=1)
    print('wrote', a.out)

if __name__ == '__main__':
    main()
