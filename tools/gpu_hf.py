"""transformers' MambaForCausalLM on effseq's kernels (`effseq.hf.use_effseq_kernels`) against transformers' own path, on
the GPU: agreement and timing (issue 16, chapter 05a).

    python3 tools/gpu_hf.py --out /tmp/hf_gpu.json
    python3 tools/gpu_hf.py --out /tmp/hf_gpu.json --no-timing                   # the checks alone
    python3 tools/gpu_hf.py --out /tmp/hf_gpu_t.json --sizes none                 # the timing alone
    python3 tools/gpu_hf.py --cpu-smoke --out /tmp/hf_cpu.json                    # tiny model on the CPU (interpreter)

Models are random (seed 0; nothing is downloaded): a tiny one (d 64, 2 layers, vocab 256) and one of Mamba-130M's size
(d 768, 24 layers, N 16, vocab 50280). The baseline is what transformers calls without effseq: its PyTorch functions
(the scan a Python loop over time) unless mamba_ssm / causal_conv1d are importable, in which case it calls those
(recorded as `baseline`). The same model object runs both ways, effseq's functions put in and taken out around each
measurement; effseq's call counts are recorded, so a run that silently used the baseline shows.
Checks (a failure is printed, recorded, and makes the exit status 1):
- float32 logits (eval, no cache, b 2, L 256), judged by a float64 copy of the model on transformers' own path: effseq's
  error (max |x - ref64| / max |ref64|) at most twice the float32 baseline's own error, or 2e-4; the direct
  effseq-vs-baseline difference is recorded too (a random 24-layer model amplifies rounding: two float32 answers can
  differ by more than either differs from float64);
- float32 training step (b 2, L 256, train mode: transformers' mamba_inner_fn branch), float64 judge as above: the loss's
  error at most twice the baseline's (or 1e-4 relative), and for every parameter effseq's gradient error at most twice
  the baseline's (or 1e-3 of the largest entry);
- bfloat16 logits (a bf16 copy): effseq's error against the float32 baseline at most twice the bf16 baseline's, or 2e-2
  of the largest logit;
- greedy generation in float32 (2 prompts of 16, 32 new tokens): the same tokens, or, where they part, a near tie (the
  baseline's top-2 logit margin there under 4x the largest logit difference seen up to that step), recorded as such.
Timing (Mamba-130M size, ms, wall clock between synchronisations, median of the timed reps after warm-up):
- forward: bf16 weights, eval, no cache, (b, L) = (8, 2048), all logits;
- train step: fp32 weights under bf16 autocast, forward + cross-entropy + backward + AdamW, (4, 1024) both ways
  (transformers' PyTorch loop keeps every step's state for its backward: (8, 2048) would not fit), and (8, 2048)
  with effseq alone;
- generate: bf16, greedy, prompt 128 + 256 new tokens (min_new_tokens = max_new_tokens), batch 1 and 16.
speedup = baseline_ms / effseq_ms. The first run on a machine includes Triton's compilation in the warm-up calls only.
"""
import argparse, copy, gc, importlib.util, json, os, platform, statistics, sys, time, traceback

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import sources_sha256   # noqa: E402
sys.path.insert(0, ROOT)                                          # the checkout's effseq first

def log(*a): print(*a, flush=True)

SIZES = dict(tiny=dict(vocab_size=256, hidden_size=64, state_size=16, num_hidden_layers=2, time_step_rank=4),
             m130=dict(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, time_step_rank=48),
             smoke=dict(vocab_size=64, hidden_size=16, state_size=4, num_hidden_layers=2, time_step_rank=2))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--cpu-smoke', action='store_true', help="a small model on the CPU, tiny shapes (mamba_inner_fn through Triton's interpreter)")
    p.add_argument('--no-timing', action='store_true', help='the checks only')
    p.add_argument('--sizes', default='tiny,m130', help="models to check, comma-separated among tiny, m130, or 'none' (default both)")
    a = p.parse_args()
    if a.cpu_smoke: os.environ.setdefault('TRITON_INTERPRET', '1')   # before triton is imported
    import torch, torch.nn.functional as F
    import transformers
    from transformers import MambaConfig, MambaForCausalLM
    from effseq.hf import use_effseq_kernels, restore_hf_kernels, hf_kernels_in_use
    transformers.logging.set_verbosity_error()
    dev = torch.device('cpu' if a.cpu_smoke else 'cuda')
    if dev.type == 'cuda' and not torch.cuda.is_available(): sys.exit('no CUDA device: use --cpu-smoke on the CPU')
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    t_start = time.perf_counter()
    found = {m: importlib.util.find_spec(m) is not None for m in ('mamba_ssm', 'causal_conv1d', 'kernels')}
    try: import triton; tv = triton.__version__
    except ImportError: tv = None
    res = dict(gpu=torch.cuda.get_device_name() if dev.type == 'cuda' else f'CPU ({platform.machine()}), Triton interpreter',
               torch=torch.__version__, triton=tv, transformers=transformers.__version__, python=platform.python_version(),
               date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), effseq_sources_sha256=sources_sha256(),
               cpu_smoke=a.cpu_smoke, importable=found, args=vars(a),
               baseline=("transformers' own PyTorch functions" if not (found['mamba_ssm'] or found['causal_conv1d'])
                         else 'transformers calling mamba_ssm / causal_conv1d where importable: ' + str(found)),
               checks=[], timing=[], failures=[])
    save = lambda: json.dump(res, open(a.out, 'w'), indent=1)
    assert set(hf_kernels_in_use().values()) == {'transformers'}, hf_kernels_in_use()

    def build(size):
        torch.manual_seed(0)
        return MambaForCausalLM(MambaConfig(expand=2, conv_kernel=4, **SIZES[size])).to(dev).eval()

    def both(fn, model):
        "fn() with transformers' functions, then with effseq's: (baseline result, effseq result, effseq's call counts)."
        restore_hf_kernels()
        base = fn()
        with use_effseq_kernels(model) as k: ours = fn()
        return base, ours, dict(k.calls)

    rel = lambda x, ref: ((x.float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1e-30)).item()

    def record(row):
        res['checks'].append(row); save()
        if not row['ok']: res['failures'].append(row['check'] + ' ' + row['model'])
        log(f"{'ok  ' if row['ok'] else 'FAIL'} {row['model']:5} {row['check']}: " + ', '.join(f'{k} {v:.3g}' if isinstance(v, float) else f'{k} {v}'
                                                                                  for k, v in row.items() if k not in ('ok', 'check', 'model', 'calls')))

    def checks(size, model):
        V = model.config.vocab_size
        b, L = (2, 12) if a.cpu_smoke else (2, 256)
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, V, (b, L), generator=g).to(dev)
        def logits():
            with torch.no_grad(): return model(ids, use_cache=False).logits
        base, ours, calls = both(logits, model)
        e = rel(ours, base)
        # the judge is a float64 run of transformers' own path: effseq's float32 error against it may be at most twice the
        # baseline's own float32 error (a random 24-layer model amplifies rounding: the bf16 rows show how much), or 2e-4
        restore_hf_kernels()
        m64 = copy.deepcopy(model).double()
        with torch.no_grad(): ref64 = m64(ids, use_cache=False).logits
        eb, eo = rel(base, ref64), rel(ours, ref64)
        record(dict(check='fp32 logits (eval, no cache)', model=size, b=b, L=L, max_rel_diff=e, baseline_fp32_err_vs_fp64=eb,
                    effseq_fp32_err_vs_fp64=eo, ok=eo <= max(2 * eb, 2e-4) and calls.get('mamba_selective_scan', 0) > 0, calls=calls))
        def train():
            model.train(); model.zero_grad(set_to_none=True)
            out = model(ids, labels=ids, use_cache=False); out.loss.backward(); model.eval()
            return out.loss.item(), {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        (lb, gb), (lo, go), calls = both(train, model)
        worst = max(rel(go[n], gb[n]) for n in gb)
        which = max(gb, key=lambda n: rel(go[n], gb[n]))
        # float64 judge, as for the logits: per parameter, effseq's gradient error may be twice the baseline's, or 1e-3
        restore_hf_kernels()
        m64.train(); m64.zero_grad(set_to_none=True)
        out64 = m64(ids, labels=ids, use_cache=False); out64.loss.backward(); l64 = out64.loss.item()
        g64 = {n: p.grad for n, p in m64.named_parameters() if p.grad is not None}
        excess = {n: rel(go[n], g64[n]) / max(2 * rel(gb[n], g64[n]), 1e-3) for n in gb}    # <= 1 passes
        w64 = max(excess, key=excess.get)
        loss_ok = abs(lo - l64) <= max(2 * abs(lb - l64), 1e-4 * abs(l64))
        record(dict(check='fp32 training step (mamba_inner_fn branch)', model=size, b=b, L=L, loss_baseline=lb, loss_rel_diff=abs(lo - lb) / abs(lb),
                    max_grad_rel_diff=worst, worst_param=which, same_params=set(go) == set(gb),
                    loss_fp64=l64, baseline_loss_err_vs_fp64=abs(lb - l64) / abs(l64), effseq_loss_err_vs_fp64=abs(lo - l64) / abs(l64),
                    worst_param_vs_fp64=w64, effseq_grad_err_vs_fp64=rel(go[w64], g64[w64]), baseline_grad_err_vs_fp64=rel(gb[w64], g64[w64]),
                    ok=loss_ok and excess[w64] <= 1 and set(go) == set(gb) and calls.get('mamba_inner_fn', 0) > 0, calls=calls))
        model.zero_grad(set_to_none=True); del m64, g64, out64, ref64
        if dev.type == 'cuda':                                        # bf16: against the float32 baseline
            m16 = copy.deepcopy(model).to(torch.bfloat16)
            def logits16():
                with torch.no_grad(): return m16(ids, use_cache=False).logits
            b16, o16, calls = both(logits16, m16)
            eb, eo = rel(b16, base), rel(o16, base)
            record(dict(check='bf16 logits vs the fp32 baseline', model=size, b=b, L=L, baseline_bf16_rel_err=eb, effseq_bf16_rel_err=eo,
                        ok=eo <= max(2 * eb, 2e-2), calls=calls))
            del m16, b16, o16
        P, n_new = (4, 6) if a.cpu_smoke else (16, 32)
        prompt = torch.randint(0, V, (2, P), generator=g).to(dev)
        def gen():
            with torch.no_grad():
                o = model.generate(prompt, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False, pad_token_id=0,
                                   return_dict_in_generate=True, output_logits=True)
            return o.sequences, torch.stack(o.logits, 1).float()        # (2, n_new, V)
        (sb, lgb), (so, lgo), calls = both(gen, model)
        same = torch.equal(sb, so)
        row = dict(check='fp32 greedy generation', model=size, prompt=P, new=n_new, identical=same, calls=calls)
        if same: row.update(max_logit_diff=(lgo - lgb).abs().max().item(), ok=True)
        else:
            t = int((sb[:, P:] != so[:, P:]).any(0).nonzero()[0])             # the first step where a row parts
            r = int((sb[:, P + t] != so[:, P + t]).nonzero()[0])
            top2 = lgb[r, t].topk(2).values
            before = (lgo[:, :t + 1] - lgb[:, :t + 1]).abs().max().item()
            row.update(first_divergence_step=t, baseline_top2_margin=(top2[0] - top2[1]).item(), max_logit_diff_up_to_it=before,
                       ok=(top2[0] - top2[1]).item() < 4 * before, note='near tie' if (top2[0] - top2[1]).item() < 4 * before else 'real divergence')
        record(row)

    def timed(fn, warmup, reps):
        for _ in range(warmup): fn()
        ts = []
        for _ in range(reps):
            sync(); t0 = time.perf_counter(); fn(); sync(); ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts), ts

    def timing(size):
        torch.manual_seed(0)
        cfg = MambaConfig(expand=2, conv_kernel=4, **SIZES[size])
        V = cfg.vocab_size
        rows = []
        def add(row):
            b_, e_ = row.get('baseline_ms'), row.get('effseq_ms')
            row['speedup'] = b_ / e_ if b_ and e_ else None
            res['timing'].append(row); save()
            log(f"time {row['what']:30} b {row['b']:>3} L {row['L']:>5}: baseline {b_ if b_ is None else round(b_, 1)} ms, effseq {round(e_, 1)} ms"
                + (f", speedup {row['speedup']:.2f}" if row['speedup'] else '') + (f"  ({row['note']})" if row.get('note') else ''))
        small = a.cpu_smoke
        # forward, bf16
        m16 = MambaForCausalLM(cfg).to(dev, torch.float32 if small else torch.bfloat16).eval()
        b, L = (2, 16) if small else (8, 2048)
        ids = torch.randint(0, V, (b, L), device=dev)
        def fwd():
            with torch.no_grad(): m16(ids, use_cache=False)
        restore_hf_kernels(); tb, tbs = timed(fwd, 1, 1 if small else 2)
        with use_effseq_kernels(m16) as k: te, tes = timed(fwd, 2, 1 if small else 5)
        add(dict(what='forward (eval, no cache)', dtype=str(next(m16.parameters()).dtype)[6:], b=b, L=L, baseline_ms=tb, effseq_ms=te,
                 baseline_reps=tbs, effseq_reps=tes, calls=dict(k.calls)))
        # generate, bf16
        P, n_new = (4, 4) if small else (128, 256)
        for gb in ((1, 2) if small else (1, 16)):
            prompt = torch.randint(0, V, (gb, P), device=dev)
            def gen(n=n_new):
                with torch.no_grad(): return m16.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
            restore_hf_kernels(); gen(4); tb, tbs = timed(gen, 0, 1)
            with use_effseq_kernels(m16) as k: gen(4); te, tes = timed(gen, 0, 1 if small else 2)
            add(dict(what=f'generate {P} + {n_new} greedy', dtype=str(next(m16.parameters()).dtype)[6:], b=gb, L=P + n_new, baseline_ms=tb,
                     effseq_ms=te, baseline_tok_s=gb * n_new / tb * 1e3, effseq_tok_s=gb * n_new / te * 1e3, calls=dict(k.calls)))
        del m16; gc.collect()
        if dev.type == 'cuda': torch.cuda.empty_cache()
        # training step, fp32 weights under bf16 autocast (fp32 without autocast on the CPU)
        m = MambaForCausalLM(cfg).to(dev).train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
        def step(ids):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
                logits = m(ids, use_cache=False).logits
            loss = F.cross_entropy(logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten())
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        for (b, L), with_base in ((((2, 16), True),) if small else (((4, 1024), True), ((8, 2048), False))):
            ids = torch.randint(0, V, (b, L), device=dev)
            row = dict(what='train step (autocast bf16, AdamW)' if dev.type == 'cuda' else 'train step (fp32, AdamW)', b=b, L=L)
            if with_base:
                restore_hf_kernels()
                if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
                try:
                    row['baseline_ms'], row['baseline_reps'] = timed(lambda: step(ids), 1, 1)
                    if dev.type == 'cuda': row['baseline_peak_GiB'] = torch.cuda.max_memory_allocated() / 2 ** 30
                except torch.OutOfMemoryError:
                    row['baseline_ms'], row['note'] = None, 'baseline out of memory'
                opt.zero_grad(set_to_none=True); gc.collect()
                if dev.type == 'cuda': torch.cuda.empty_cache()
            else: row['baseline_ms'], row['note'] = None, "effseq alone (transformers' loop would not fit)"
            if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
            with use_effseq_kernels(m) as k: row['effseq_ms'], row['effseq_reps'] = timed(lambda: step(ids), 2, 1 if small else 3)
            if dev.type == 'cuda': row['effseq_peak_GiB'] = torch.cuda.max_memory_allocated() / 2 ** 30
            row['calls'] = dict(k.calls)
            add(row)
        del m, opt; gc.collect()
        if dev.type == 'cuda': torch.cuda.empty_cache()

    try:
        sizes = [x for x in a.sizes.split(',') if x and x != 'none']
        if any(x not in ('tiny', 'm130') for x in sizes): sys.exit(f'unknown --sizes {a.sizes}')
        for size in (('smoke',) if a.cpu_smoke else sizes):
            t0 = time.perf_counter(); model = build(size)
            log(f'{size}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, built in {time.perf_counter() - t0:.1f} s')
            checks(size, model)
            del model; gc.collect()
            if dev.type == 'cuda': torch.cuda.empty_cache()
            log(f'  ({time.perf_counter() - t_start:.0f} s so far)')
        if not a.no_timing: timing('smoke' if a.cpu_smoke else 'm130')
    except Exception as e:
        traceback.print_exc()
        res['failures'].append(f'{type(e).__name__}: {e}')
    finally:
        restore_hf_kernels()
    res['seconds'] = time.perf_counter() - t_start
    res['ok'] = not res['failures']
    save()
    log(f"{'all checks passed' if res['ok'] else 'FAILED: ' + '; '.join(res['failures'])} in {res['seconds']:.0f} s; wrote {a.out}")
    sys.exit(0 if res['ok'] else 1)

if __name__ == '__main__':
    main()
