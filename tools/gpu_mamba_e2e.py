"""effseq's Mamba LM end to end against mamba_ssm's (with causal-conv1d), same weights, same GPU, one process (issue 14).

    bash tools/build_official.sh .gpu/sdist /tmp/official                                 # the baseline, built there
    (or, from pieces packed by an earlier call: bash tools/build_official.sh --unpack .gpu/official .gpu/sdist /tmp/official)
    PYTHONPATH=/tmp/official python3 tools/gpu_mamba_e2e.py --out nbs/data/mamba_e2e_gpu.json
    ... --only train,prefill          # parts: train, prefill, generate, scan (the fp32 logits check always runs)
    ... --only generate --merge       # rerun a part, keep the other rows of an existing --out file
    TRITON_INTERPRET=1 python tools/gpu_mamba_e2e.py --tiny --out /tmp/e2e_tiny.json    # CPU smoke test, effseq only

Mamba-130M (d_model 768, 24 layers, vocab 50277) is built by effseq with seed 0, and its state_dict is loaded strictly
(same keys by design) into mamba_ssm's `MambaLMHeadModel`; the fp32 logits of both must agree (max abs difference
within 1e-3 of the largest logit) or the run stops. Each measurement then holds one model alone on the GPU (built
afresh from that state dict, freed after), so each peak memory is that model's own. Timings:
- train: forward + cross-entropy + backward + AdamW step, fp32 weights under bf16 autocast. Peak memory
  (max_memory_allocated over a few steps: weights, grads, AdamW state, activations) with each model alone on the GPU
  (`*_alone_ms` is the median of those steps); the row's time comes from `train_rounds` rounds with both models
  resident, timed in alternation (CUDA events), so both see the same clocks: each round runs `train_block` steps of
  one model back to back (no synchronisation between them, as a training loop runs) and counts a step as 1/block.
- prefill: bf16 weights, inference_mode, logits of the last token only (num_last_tokens=1); peak alone, time
  interleaved as for training.
- generate: bf16 weights, greedy (top_k=1), prompt 128 + 256 new tokens; the whole generate call (wall clock between
  synchronisations) after one warm-up call that also captures the CUDA graph; mamba_ssm with cg=True, effseq with
  cg=True when its generate takes `cg` (else eager, recorded); the greedy tokens of both are compared.
- scan_model_layout / scan_contiguous: the arguments effseq's Mamba block passes to its scan (captured during a
  training forward at b=8, L=2048 under autocast), timed with effseq's `selective_scan_fn` and mamba_ssm's, forward
  and forward+backward (triton.testing.do_bench medians), as passed and as contiguous copies. These rows time the scan
  function alone with autograd around it; the block trains through mamba_inner_fn, whose backward calls the scan's
  backward kernel directly with the block's buffers: that is the next row.
- inner_fn: each library's mamba_inner_fn (the block's fused path: conv, x_proj, dt_proj, scan, gate, out_proj) on layer
  0's weights, xz in in_proj's token-major layout, bf16 autocast, forward and forward+backward.
speedup = mamba_ssm_ms / effseq_ms (> 1: effseq is faster)."""
import argparse, gc, inspect, json, os, platform, statistics, subprocess, sys, time, traceback
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import sources_sha256   # noqa: E402
sys.path.insert(0, ROOT)                                                        # the checkout's effseq first

SIZES = dict(
    full=dict(d_model=768, n_layer=24, vocab=50277, check=(2, 256), train=((8, 2048), (1, 16384)), train_warmup=2,
              train_steps=4, train_rounds=10, train_block=4, prefill=((8, 2048), (1, 32768)), prefill_warmup=2, prefill_reps=5, prefill_rounds=20, prompt=128, n_new=256,
              gen_batches=(1, 16, 64), gen_reps=3, gen_reps_eager=1, gen_eager_warmup_new=4, scan=(8, 2048)),
    tiny=dict(d_model=64, n_layer=2, vocab=256, check=(2, 32), train=((2, 32),), train_warmup=1, train_steps=2, train_rounds=2, train_block=2,
              prefill=((2, 32),), prefill_warmup=1, prefill_reps=2, prefill_rounds=2, prompt=8, n_new=8, gen_batches=(1, 2), gen_reps=1,
              gen_reps_eager=1, gen_eager_warmup_new=2, scan=(2, 32)))
PARTS = ('train', 'prefill', 'generate', 'scan')
MODELS = ('effseq', 'mamba_ssm')
GiB = 2 ** 30

def log(*a): print(*a, flush=True)

# ---------------------------------------------------------------- the two libraries
def import_official():
    "mamba_ssm's model, config and scan, with what its fast path found (None and the reason if not importable)."
    try:
        import mamba_ssm, causal_conv1d
        from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
        from mamba_ssm.models.config_mamba import MambaConfig
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn, mamba_inner_fn
        import mamba_ssm.modules.mamba_simple as ms
        import mamba_ssm.models.mixer_seq_simple as mss
    except ImportError as e:
        return None, f'{type(e).__name__}: {e}'
    fast = {n: getattr(ms, n, None) is not None for n in ('causal_conv1d_fn', 'causal_conv1d_update', 'selective_state_update', 'RMSNorm')}
    fast['layer_norm_fn (fused add+norm)'] = getattr(mss, 'layer_norm_fn', None) is not None
    files = {}
    for m in ('selective_scan_cuda', 'causal_conv1d_cuda'):
        try: files[m] = getattr(__import__(m), '__file__', None)
        except ImportError as e: files[m] = f'not importable: {e}'
    return dict(LM=MambaLMHeadModel, Config=MambaConfig, scan=selective_scan_fn, inner=mamba_inner_fn, fast=fast, files=files, file=mamba_ssm.__file__,
                version=f"mamba_ssm {mamba_ssm.__version__} + causal_conv1d {getattr(causal_conv1d, '__version__', '?')}"), None

def effseq_lib():
    import effseq.mamba as em
    from effseq.triton_scan import selective_scan_fn
    return dict(LM=em.MambaLMHeadModel, Config=em.MambaConfig, scan=selective_scan_fn, inner=em.mamba_inner_fn)

def build(lib, s, sd, device, dtype):
    "lib's MambaLMHeadModel of size s on device in dtype, with the state dict sd loaded strictly."
    model = lib['LM'](lib['Config'](d_model=s['d_model'], n_layer=s['n_layer'], vocab_size=s['vocab']), device=device, dtype=dtype)
    model.load_state_dict(sd, strict=True)
    return model

def reference_state_dict(s, libs, device):
    "The weights every model of a run loads: effseq's Mamba LM of size s built with seed 0, copied to the CPU."
    torch.manual_seed(0)
    ref = libs['effseq']['LM'](libs['effseq']['Config'](d_model=s['d_model'], n_layer=s['n_layer'], vocab_size=s['vocab']), device=device)
    sd = {k: v.detach().to('cpu', copy=True) for k, v in ref.state_dict().items()}
    del ref; free(device)
    return sd

def free(device):
    gc.collect()
    if device.type == 'cuda': torch.cuda.synchronize(); torch.cuda.empty_cache()

def resident(device): return torch.cuda.memory_allocated() / GiB if device.type == 'cuda' else None

def peak_reset(device):
    if device.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()

def peak(device): return torch.cuda.max_memory_allocated() / GiB if device.type == 'cuda' else None

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()

def timed_ms(fn, device):
    "Time of one call of fn: CUDA events on the GPU, perf_counter on the CPU."
    if device.type == 'cuda':
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record(); fn(); e1.record(); torch.cuda.synchronize()
        return e0.elapsed_time(e1)
    t0 = time.perf_counter(); fn()
    return (time.perf_counter() - t0) * 1e3

def ids(b, L, vocab, seed, device):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (b, L), generator=g).to(device)

def attempt(row, fn, device):
    "Run fn(); an exception is recorded in row['error'] (the run goes on)."
    try: return fn()
    except Exception as e:
        row['error'] = f'{type(e).__name__}: {str(e)[:400]}'
        log(f'  ERROR {row["error"]}'); traceback.print_exc()
        if isinstance(e, torch.OutOfMemoryError) and device.type == 'cuda': row['peak_at_error_GiB'] = peak(device)
    finally: free(device)

# ---------------------------------------------------------------- the check
def check_logits(s, libs, sd, device):
    "fp32 logits of both models on one short input: max abs difference, relative to the largest logit."
    b, L = s['check']
    x = ids(b, L, s['vocab'], 1, device)
    out = {}
    for name, lib in libs.items():
        model = build(lib, s, sd, device, torch.float32).eval()
        with torch.no_grad(): out[name] = model(x).logits.float()
        del model; free(device)
    r = dict(b=b, L=L, logits_max_abs=out['effseq'].abs().max().item())
    if 'mamba_ssm' in out:
        d = (out['effseq'] - out['mamba_ssm']).abs().max().item()
        r.update(max_abs_diff=d, rel_diff=d / out['mamba_ssm'].abs().max().item(),
                 argmax_agree=(out['effseq'].argmax(-1) == out['mamba_ssm'].argmax(-1)).float().mean().item())
        r['ok'] = r['rel_diff'] <= 1e-3
    return r

# ---------------------------------------------------------------- training, prefill, generation
def make_trainer(lib, s, sd, device, b, L):
    "A training step of lib's model (forward + cross-entropy + backward + AdamW) and its list of losses."
    model = build(lib, s, sd, device, torch.float32).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    x = ids(b, L + 1, s['vocab'], 2, device)
    cuda = device.type == 'cuda'
    losses = []
    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(x[:, :-1]).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        losses.append(loss.detach())
    return step, losses

def train_one(lib, s, sd, device, b, L):
    "Peak GiB over a few steps of this model alone, the median of those steps, the first loss, and what was resident before."
    res0 = resident(device)
    step, losses = make_trainer(lib, s, sd, device, b, L)
    for _ in range(s['train_warmup']): step()
    peak_reset(device)
    times = [timed_ms(step, device) for _ in range(s['train_steps'])]
    out = dict(ms=statistics.median(times), times_ms=times, peak=peak(device), loss0=losses[0].item(), resident_before_GiB=res0)
    del step, losses
    return out

def interleaved(makers, device, warmup, rounds):
    """Median ms of each callable, timed in alternation: every round runs each once, the order reversed every other
    round, so both see the same clocks, temperature and neighbours (a sequential timing drifted by 5-10% between
    the two models' turns on the H200). makers: name -> () -> callable; all are built before any is timed."""
    fns = {n: mk() for n, mk in makers.items()}
    for _ in range(warmup):
        for f in fns.values(): f()
    times = {n: [] for n in fns}
    names = list(fns)
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]): times[n].append(timed_ms(fns[n], device))
    del fns
    return {n: dict(ms=statistics.median(t), times_ms=t) for n, t in times.items()}

def prefill_fn(lib, s, sd, device, dtype, b, L):
    model = build(lib, s, sd, device, dtype).eval()
    x = ids(b, L, s['vocab'], 3, device)
    def f():
        with torch.inference_mode(): model(x, num_last_tokens=1)
    return f

def prefill_one(lib, s, sd, device, dtype, b, L):
    res0 = resident(device)
    model = build(lib, s, sd, device, dtype).eval()
    x = ids(b, L, s['vocab'], 3, device)
    with torch.inference_mode():
        f = lambda: model(x, num_last_tokens=1)
        for _ in range(s['prefill_warmup']): f()
        peak_reset(device)
        times = [timed_ms(f, device) for _ in range(s['prefill_reps'])]
        last = model(x, num_last_tokens=1).logits
    out = dict(ms=statistics.median(times), times_ms=times, peak=peak(device), resident_before_GiB=res0,
               logits_shape=list(last.shape))
    del model, x, last
    return out

def bench_train(s, libs, sd, device, rows, save):
    for b, L in s['train']:
        row = dict(bench='train', b=b, L=L, dtype='bf16 autocast, fp32 weights' if device.type == 'cuda' else 'fp32')
        for name, lib in libs.items():
            log(f'train {name} b={b} L={L}, alone (peak memory)')
            r = attempt(row, lambda: train_one(lib, s, sd, device, b, L), device)
            if r:
                row.update({f'{name}_alone_ms': r['ms'], f'{name}_peak_GiB': r['peak'], f'{name}_alone_times_ms': r['times_ms'],
                            f'{name}_loss0': r['loss0'], f'{name}_resident_before_GiB': r['resident_before_GiB']})
                log(f"  {r['ms']:.2f} ms/step, peak {r['peak'] if r['peak'] is None else round(r['peak'], 2)} GiB, loss {r['loss0']:.4f}")
        log(f'train b={b} L={L}, interleaved ({s["train_rounds"]} rounds)')
        k = s['train_block']
        def block(lib):
            step = make_trainer(lib, s, sd, device, b, L)[0]
            def run():
                for _ in range(k): step()
            return run
        makers = {n: (lambda lib=lib: block(lib)) for n, lib in libs.items()}
        r = attempt(row, lambda: interleaved(makers, device, 1, s['train_rounds']), device)
        if r:
            row['train_block'] = k
            for n, v in r.items():
                row.update({f'{n}_ms': v['ms'] / k, f'{n}_times_ms': [t / k for t in v['times_ms']]}); log(f"  {n} {v['ms'] / k:.2f} ms/step")
        finish(row, rows, save)

def bench_prefill(s, libs, sd, device, dtype, rows, save):
    for b, L in s['prefill']:
        row = dict(bench='prefill', b=b, L=L, dtype=str(dtype).replace('torch.', ''), num_last_tokens=1)
        for name, lib in libs.items():
            log(f'prefill {name} b={b} L={L}, alone (peak memory)')
            r = attempt(row, lambda: prefill_one(lib, s, sd, device, dtype, b, L), device)
            if r:
                row.update({f'{name}_alone_ms': r['ms'], f'{name}_peak_GiB': r['peak'], f'{name}_alone_times_ms': r['times_ms']})
                log(f"  {r['ms']:.2f} ms")
        log(f'prefill b={b} L={L}, interleaved ({s["prefill_rounds"]} rounds)')
        makers = {n: (lambda lib=lib: prefill_fn(lib, s, sd, device, dtype, b, L)) for n, lib in libs.items()}
        r = attempt(row, lambda: interleaved(makers, device, s['prefill_warmup'], s['prefill_rounds']), device)
        if r:
            for n, v in r.items():
                row.update({f'{n}_ms': v['ms'], f'{n}_times_ms': v['times_ms']}); log(f"  {n} {v['ms']:.2f} ms")
        finish(row, rows, save)

def _drop_graphs(model):
    model.__dict__.pop('_decode_graph', None)                                   # effseq's captured decode step
    if hasattr(model, '_decoding_cache'): model._decoding_cache = None          # mamba_ssm's

def bench_generate(s, libs, sd, device, dtype, rows, save):
    Lp, n_new, batches = s['prompt'], s['n_new'], s['gen_batches']
    T = Lp + n_new
    seqs = {}                                                                   # (name, b) -> generated tokens (cpu)
    grow = {b: dict(bench='generate', b=b, L=Lp, n_new=n_new, dtype=str(dtype).replace('torch.', ''), greedy=True) for b in batches}
    for name, lib in libs.items():
        model = build(lib, s, sd, device, dtype).eval()
        takes_cg = 'cg' in inspect.signature(model.generate).parameters
        want_cg = device.type == 'cuda' and (takes_cg or name == 'mamba_ssm')
        for b in batches:
            row = grow[b]
            log(f'generate {name} b={b} prompt {Lp} + {n_new} new')
            x = ids(b, Lp, s['vocab'], 10 + b, device)
            cg = want_cg
            def gen(max_length, cg):
                kw = dict(cg=True) if cg else (dict(cg=False) if takes_cg or name == 'mamba_ssm' else {})
                return model.generate(x, max_length=max_length, top_k=1, **kw)
            def run():
                nonlocal cg
                peak_reset(device)
                try:
                    gen(T if cg else Lp + s['gen_eager_warmup_new'], cg)          # warm-up (+ graph capture)
                except Exception as e:
                    if not cg: raise
                    row[f'{name}_cg_error'] = f'{type(e).__name__}: {str(e)[:300]}'
                    log(f'  cg=True failed ({row[f"{name}_cg_error"]}); falling back to cg=False'); traceback.print_exc()
                    _drop_graphs(model); free(device); cg = False
                    gen(Lp + s['gen_eager_warmup_new'], cg)
                times, out = [], None
                for _ in range(s['gen_reps'] if cg else s['gen_reps_eager']):
                    sync(device); t0 = time.perf_counter()
                    out = gen(T, cg)
                    sync(device); times.append((time.perf_counter() - t0) * 1e3)
                return dict(ms=statistics.median(times), times_ms=times, out=out[:, Lp:].cpu(), peak=peak(device))
            r = attempt(row, run, device)
            row[f'{name}_cg'] = cg
            if name == 'effseq' and not takes_cg: row['effseq_cg_note'] = "effseq's generate takes no `cg`: eager decoding"
            if r:
                n = r['out'].shape[1]
                row.update({f'{name}_ms': r['ms'], f'{name}_times_ms': r['times_ms'], f'{name}_tok_s': b * n / (r['ms'] / 1e3),
                            f'{name}_peak_GiB': r['peak'], f'{name}_new_tokens': n})
                seqs[name, b] = r['out']
                log(f"  {r['ms']:.1f} ms, {b * n / (r['ms'] / 1e3):.0f} tok/s (cg={cg})")
            _drop_graphs(model); free(device)
        del model; free(device)
    for b in batches:
        row = grow[b]
        if ('effseq', b) in seqs and ('mamba_ssm', b) in seqs:
            e, o = seqs['effseq', b], seqs['mamba_ssm', b]
            if e.shape == o.shape:
                same = (e == o)
                first = [int(r.logical_not().nonzero()[0]) if not r.all() else r.numel() for r in same]   # first divergence per row
                row.update(match_tokens=min(first), match_tokens_per_seq=first if b <= 16 else None,
                           identical_seqs=sum(f == e.shape[1] for f in first), tokens_equal_frac=same.float().mean().item())
            else: row['match_note'] = f'different lengths {tuple(e.shape)} vs {tuple(o.shape)}'
        finish(row, rows, save)

# ---------------------------------------------------------------- the scan at the block's layouts
SCAN_ARGS = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias', 'delta_softplus')

class _Captured(Exception): pass

def capture_scan_args(s, lib, sd, device):
    """The arguments of the first scan call that effseq's Mamba block makes in a training forward (autocast on the GPU).
    `selective_scan_fn` and `scan_fwd_triton` are wrapped, for the forward only, wherever an effseq module holds them
    (effseq.mamba first of all: the fused block calls scan_fwd_triton, the plain one selective_scan_fn)."""
    mods = [m for n, m in sorted(sys.modules.items()) if m is not None and (n == 'effseq' or n.startswith('effseq.'))]
    targets = [(m, n) for m in mods for n in ('scan_fwd_triton', 'selective_scan_fn') if callable(getattr(m, n, None))]
    orig, got = [(m, n, getattr(m, n)) for m, n in targets], {}
    def wrap(where, f):
        sig = inspect.signature(f)
        def w(*a, **k):
            ba = sig.bind(*a, **k); ba.apply_defaults()
            got.update(fn=where, args={k: (v.detach() if torch.is_tensor(v) else v) for k, v in ba.arguments.items()})
            raise _Captured
        return w
    b, L = s['scan']
    model = build(lib, s, sd, device, torch.float32).train()
    x = ids(b, L, s['vocab'], 4, device)
    try:
        for m, n, f in orig: setattr(m, n, wrap(f'{m.__name__}.{n}', f))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == 'cuda'):
            model(x)
    except _Captured: pass
    finally:
        for m, n, f in orig: setattr(m, n, f)
    del model
    if not got: raise RuntimeError(f'no call of {[f"{m.__name__}.{n}" for m, n in targets]} seen in the forward: the block calls another scan entry point')
    missing = [k for k in SCAN_ARGS if k not in got['args']]
    if missing: raise RuntimeError(f"{got['fn']} was called without {missing}")
    return got['fn'], {k: got['args'][k] for k in SCAN_ARGS}

def describe(args):
    return {k: dict(shape=list(v.shape), stride=list(v.stride()), dtype=str(v.dtype).replace('torch.', ''), contiguous=v.is_contiguous())
            for k, v in args.items() if torch.is_tensor(v)}

def scan_bench(fn, args, grad, device):
    "Median ms of fn(**args) (forward), or of forward + backward of y with a fixed dy, on these very tensors."
    if grad:
        leaves = {k: v.detach().requires_grad_() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in args.items()}
        with torch.no_grad(): dy = torch.randn_like(fn(**args))
        call = lambda: fn(**leaves).backward(dy)
        to_none = [v for v in leaves.values() if torch.is_tensor(v)]
    else:
        call, to_none = (lambda: fn(**args)), None
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        if device.type == 'cuda':
            from triton.testing import do_bench
            return do_bench(call, warmup=25, rep=100, grad_to_none=to_none, return_mode='median')
        call()
        ts = []
        for _ in range(3):
            if to_none:
                for t in to_none: t.grad = None
            ts.append(timed_ms(call, device))
        return statistics.median(ts)

def bench_scan(s, libs, sd, device, rows, save):
    row0 = dict(bench='scan_model_layout', b=s['scan'][0], L=s['scan'][1])
    cap = attempt(row0, lambda: capture_scan_args(s, libs['effseq'], sd, device), device)
    if cap is None: finish(row0, rows, save); return
    fn_name, args = cap
    log(f'scan: captured the arguments of {fn_name}: ' +
        ', '.join(f'{k} {tuple(v.shape)} {str(v.dtype)[6:]} stride {tuple(v.stride())}' for k, v in args.items() if torch.is_tensor(v)))
    contig = {k: v.contiguous() if torch.is_tensor(v) else v for k, v in args.items()}
    scans = {n: lib['scan'] for n, lib in libs.items()}
    b, D, L = args['u'].shape
    for bench, a in (('scan_model_layout', args), ('scan_contiguous', contig)):
        for what, grad in (('fwd', False), ('fwd+bwd', True)):
            row = dict(bench=bench, what=what, b=b, L=L, D=D, N=args['A'].shape[1], dtype=str(args['u'].dtype).replace('torch.', ''),
                       captured_from=fn_name, delta_softplus=args['delta_softplus'], args=describe(a))
            for name, fn in scans.items():
                log(f'{bench} {what} {name}')
                r = attempt(row, lambda: scan_bench(fn, a, grad, device), device)
                if r is not None: row[f'{name}_ms'] = r; log(f'  {r:.3f} ms')
            finish(row, rows, save)
    del args, contig; free(device)
    bench_inner(s, libs, sd, device, rows, save)

def inner_args(s, sd, device, b, L):
    "mamba_inner_fn's arguments for layer 0 of the reference weights: xz (b, 2D, L) in in_proj's token-major layout, as in training."
    w = lambda k: sd[f'backbone.layers.0.mixer.{k}'].to(device)
    D2 = w('in_proj.weight').shape[0]
    g = torch.Generator(device=device).manual_seed(1)
    dt = torch.bfloat16 if device.type == 'cuda' else torch.float32                     # (the CPU smoke runs without autocast)
    xz = torch.randn(b, L, D2, device=device, dtype=dt, generator=g).mT                 # (b, 2D, L), stride (L 2D, 1, 2D)
    return dict(xz=xz, conv1d_weight=w('conv1d.weight'), conv1d_bias=w('conv1d.bias'), x_proj_weight=w('x_proj.weight'),
                delta_proj_weight=w('dt_proj.weight'), out_proj_weight=w('out_proj.weight'), out_proj_bias=None,
                A=-torch.exp(w('A_log').float()), D=w('D').float(), delta_bias=w('dt_proj.bias').float(), delta_softplus=True)

def bench_inner(s, libs, sd, device, rows, save):
    "The Mamba block's training path itself: mamba_inner_fn (conv, x_proj, dt_proj, scan, gate, out_proj), bf16 autocast, fp32 weights."
    b, L = s['scan']
    args = inner_args(s, sd, device, b, L)
    for what, grad in (('fwd', False), ('fwd+bwd', True)):
        row = dict(bench='inner_fn', what=what, b=b, L=L, D=args['xz'].shape[1] // 2, N=args['A'].shape[1], dtype='bf16 autocast, fp32 weights',
                   args=describe(args))
        for name, lib in libs.items():
            if 'inner' not in lib: continue
            fn = lambda **a: _autocast_call(lib['inner'], device, **a)
            log(f'inner_fn {what} {name}')
            r = attempt(row, lambda: scan_bench(fn, args, grad, device), device)
            if r is not None: row[f'{name}_ms'] = r; log(f'  {r:.3f} ms')
        finish(row, rows, save)
    del args; free(device)

def _autocast_call(f, device, **a):
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == 'cuda'): return f(**a)

# ---------------------------------------------------------------- output
def finish(row, rows, save):
    e, o = row.get('effseq_ms'), row.get('mamba_ssm_ms')
    row.setdefault('mamba_ssm_ms', None)
    for k in ('effseq_peak_GiB', 'mamba_ssm_peak_GiB'): row.setdefault(k, None)
    row['speedup'] = o / e if e and o else None
    rows.append(row); save()

def table(rows):
    head = f"{'bench':18} {'what':8} {'b':>3} {'L':>6} {'effseq ms':>10} {'mamba_ssm ms':>12} {'speedup':>8} {'eff GiB':>8} {'ms GiB':>7}  note"
    lines = [head, '-' * len(head)]
    f = lambda v, p=2: '-' if v is None else f'{v:.{p}f}'
    for r in rows:
        note = []
        if r['bench'] == 'generate':
            note.append(f"tok/s {f(r.get('effseq_tok_s'), 0)} vs {f(r.get('mamba_ssm_tok_s'), 0)}, cg {r.get('effseq_cg')}/{r.get('mamba_ssm_cg')}")
            if 'match_tokens' in r: note.append(f"greedy match {r['match_tokens']}/{r.get('effseq_new_tokens')}")
        if 'error' in r: note.append('ERROR ' + r['error'][:60])
        lines.append(f"{r['bench']:18} {r.get('what', ''):8} {r['b']:>3} {r['L']:>6} {f(r.get('effseq_ms'), 3):>10} {f(r.get('mamba_ssm_ms'), 3):>12} "
                     f"{f(r.get('speedup')):>8} {f(r.get('effseq_peak_GiB')):>8} {f(r.get('mamba_ssm_peak_GiB')):>7}  {'; '.join(note)}")
    return '\n'.join(lines)

def git_state():
    """The commit, if git can say, and a SHA-256 over effseq/*.py, which names the code that ran even where the copy's git
    metadata is stale (the GPU machine's copy of a checkout can carry an older .git): compare it with `sources_sha256()`
    run in a checkout."""
    out = dict(effseq_sources_sha256=sources_sha256())
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', 'effseq'], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        if head: out.update(commit=head, effseq_dirty=bool(dirty))
    except Exception: pass
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write (nbs/data/mamba_e2e_gpu.json)')
    p.add_argument('--tiny', action='store_true', help='tiny sizes on the CPU, effseq alone if mamba_ssm is absent (a smoke test)')
    p.add_argument('--only', default=','.join(PARTS), help=f'comma-separated parts among {",".join(PARTS)} (default all)')
    p.add_argument('--merge', action='store_true', help="keep the rows of an existing --out file whose part is not rerun")
    p.add_argument('--official', help='folder with mamba_ssm/, causal_conv1d/ and the two .so (else PYTHONPATH; /tmp/official if it exists)')
    p.add_argument('--no-baseline', action='store_true', help='on the GPU, run effseq alone when mamba_ssm is not importable')
    a = p.parse_args()
    parts = [x.strip() for x in a.only.split(',') if x.strip()]
    bad = [x for x in parts if x not in PARTS]
    if bad: sys.exit(f'unknown parts {bad}; choose among {PARTS}')
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if device.type == 'cpu' and not a.tiny: sys.exit('no CUDA device: run with --tiny for the CPU smoke test')
    s = SIZES['tiny' if a.tiny else 'full']
    dtype = torch.bfloat16 if device.type == 'cuda' else torch.float32      # the interpreter's bf16 is not trustworthy
    off_dir = a.official or ('/tmp/official' if os.path.isdir('/tmp/official') else None)
    if off_dir: sys.path.insert(1, off_dir)
    t_start = time.perf_counter()
    libs = dict(effseq=effseq_lib())
    off, why = import_official()
    if off is not None:
        libs['mamba_ssm'] = off
        log(f"baseline: {off['version']} from {off['file']}; fast path: {off['fast']}; extensions: {off['files']}")
        if not all(off['fast'].values()) and not a.tiny:
            sys.exit(f"mamba_ssm fell back to slower paths {off['fast']}: build causal_conv1d_cuda (tools/build_official.sh)")
    elif device.type == 'cuda' and not a.no_baseline:
        sys.exit(f'mamba_ssm is not importable ({why}); build it with tools/build_official.sh and put it on PYTHONPATH, or pass --no-baseline')
    else: log(f'baseline: mamba_ssm not importable ({why}): effseq alone')
    result = dict(gpu=torch.cuda.get_device_name() if device.type == 'cuda' else f'CPU ({platform.machine()})',
                  baseline=(off['version'] + (' (selective_scan_cuda and causal_conv1d_cuda built for sm_90; mamba_inner_fn, '
                            'Triton add+RMSNorm, generate(cg=True))' if device.type == 'cuda' else '')) if off else None,
                  baseline_fast_path=off['fast'] if off else None, baseline_extensions=off['files'] if off else None,
                  torch=torch.__version__, cuda=torch.version.cuda, python=platform.python_version(),
                  date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), tiny=a.tiny, sizes=s, effseq=git_state(),
                  model=f"Mamba LM d_model {s['d_model']}, {s['n_layer']} layers, vocab {s['vocab']}", parts=parts, rows=[])
    try:
        import triton; result['triton'] = triton.__version__
    except ImportError: result['triton'] = None
    keep = []
    if a.merge and os.path.isfile(a.out):
        old = json.load(open(a.out))
        rerun = {'train': ('train',), 'prefill': ('prefill',), 'generate': ('generate',), 'scan': ('scan_model_layout', 'scan_contiguous', 'inner_fn')}
        gone = {bb for x in parts for bb in rerun[x]}
        keep = [r for r in old.get('rows', []) if r.get('bench') not in gone]
        result['merged_rows_from'] = dict(date=old.get('date'), gpu=old.get('gpu'), rows=len(keep))
        log(f'--merge: keeping {len(keep)} rows of {a.out} ({old.get("date")})')
    rows = result['rows'] = list(keep)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    save = lambda: open(a.out, 'w').write(json.dumps(result, indent=1, default=str))
    log(f"device {result['gpu']}, torch {result['torch']}, triton {result['triton']}; parts {parts}")

    sd = reference_state_dict(s, libs, device)
    result['params'] = sum(v.numel() for k, v in sd.items() if k != 'lm_head.weight')
    if off is not None:
        cfg = off['Config'](d_model=s['d_model'], n_layer=s['n_layer'], vocab_size=s['vocab'])
        try: probe = off['LM'](cfg, device='meta')
        except Exception: probe = off['LM'](cfg, device='cpu')
        ks, ko = set(sd), set(probe.state_dict())
        result['state_dict'] = dict(keys=len(ks), identical_keys=ks == ko, only_effseq=sorted(ks - ko)[:20], only_mamba_ssm=sorted(ko - ks)[:20])
        del probe
        if ks != ko: save(); sys.exit(f"state-dict keys differ: {result['state_dict']}")
    sections = result['section_seconds'] = {}
    t0 = time.perf_counter()
    log('check: fp32 logits of both models')
    result['logits_check'] = check_logits(s, libs, sd, device); sections['check'] = time.perf_counter() - t0
    log(f"  {result['logits_check']}"); save()
    if result['logits_check'].get('ok') is False:
        sys.exit(f"fp32 logits disagree beyond 1e-3 relative: {result['logits_check']}")
    for part in parts:
        t0 = time.perf_counter()
        if part == 'train': bench_train(s, libs, sd, device, rows, save)
        elif part == 'prefill': bench_prefill(s, libs, sd, device, dtype, rows, save)
        elif part == 'generate': bench_generate(s, libs, sd, device, dtype, rows, save)
        elif part == 'scan': bench_scan(s, libs, sd, device, rows, save)
        sections[part] = time.perf_counter() - t0
        log(f'{part}: {sections[part]:.0f} s'); save()
    result['seconds'] = time.perf_counter() - t_start
    order = ['train', 'prefill', 'generate', 'scan_model_layout', 'scan_contiguous', 'inner_fn']
    rows.sort(key=lambda r: order.index(r['bench']) if r['bench'] in order else len(order))
    save()
    log('\n' + f"{result['gpu']}; baseline {result['baseline']}; speedup = mamba_ssm ms / effseq ms\n" + table(rows))
    log(f"wrote {a.out} in {result['seconds']:.0f} s")
    if any('error' in r for r in rows): sys.exit('some measurements failed (see the rows with "error")')

if __name__ == '__main__': main()
