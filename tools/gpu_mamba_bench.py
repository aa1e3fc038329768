"""Throughput of the Mamba LM (nbs/05_mamba.ipynb) against the Transformer baseline at equal parameters, and the
training step with effseq's Triton scan against the pure-PyTorch chunked scan; saved as JSON for nbs/06a_train.ipynb.

    python tools/gpu_mamba_bench.py --out nbs/data/mamba_gpu.json     # on a CUDA GPU (a few minutes)
    python tools/gpu_mamba_bench.py --tiny --out /tmp/mamba_tiny.json  # tiny sizes, runs on the CPU (a smoke test)

Generation: a prompt of `Lp` random tokens is prefilled (one forward pass that fills the per-layer cache: conv and SSM
states for Mamba, the KV cache for the Transformer), then `n_new` tokens are decoded greedily one at a time, as the
Mamba paper's Figure 8 (right) does. Prefill and decode are timed separately with CUDA events after a warm-up run of
the same shape (Triton compiles there). Both models run eagerly in bfloat16 without CUDA graphs, so at small batch
sizes both are bound by kernel launches. Training: AdamW steps under bf16 autocast on random tokens; time per step
(median of the timed steps) and peak allocated memory, with `set_scan_backend(model, 'triton' | 'torch')`."""
import argparse, json, math, os, platform, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))   # the checkout's effseq first
from effseq.mamba import (MambaLMHeadModel, MambaConfig, TransformerLM, TransformerConfig, InferenceParams,
                          count_params, set_scan_backend)

SIZES = dict(  # Mamba-130M / GPT-2-small shapes (the Mamba paper's smallest pair); --tiny shrinks everything
    full=dict(d_model=768, mamba_layers=24, tf_layers=12, n_head=12, vocab=50277, prompts=(512, 2048, 8192, 16384),
              batches=(1, 16, 64), max_tokens=2 ** 19, n_new=64, train_batch=4, train_L=(512, 1024, 2048), train_steps=5,
              tp_prompt=2048, tp_new=128, tp_batches=(1, 2, 4, 8, 16, 32, 64, 128)),
    # the Mamba paper's Figure 8 pair: Mamba-1.4B (2048 x 48, as state-spaces/mamba-1.4b) against a 1.3B Transformer
    # (2048 x 24, 16 heads: GPT-3 XL's shape); only the throughput part is meant for it (--skip generation training)
    paper=dict(d_model=2048, mamba_layers=48, tf_layers=24, n_head=16, vocab=50277, prompts=(2048,), batches=(1,),
               max_tokens=2 ** 19, n_new=64, train_batch=1, train_L=(2048,), train_steps=5,
               tp_prompt=2048, tp_new=128, tp_batches=(1, 2, 4, 8, 16, 32, 64, 128)),
    tiny=dict(d_model=64, mamba_layers=2, tf_layers=1, n_head=2, vocab=256, prompts=(16, 64), batches=(1, 2),
              max_tokens=2 ** 10, n_new=4, train_batch=2, train_L=(32,), train_steps=2, tp_prompt=16, tp_new=4, tp_batches=(1, 2)))

class Timer:
    "Wall time of a region: CUDA events on the GPU, perf_counter on the CPU; `.ms` after `stop()`."
    def __init__(self, device): self.cuda = device.type == 'cuda'
    def start(self):
        if self.cuda: self.e0, self.e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True); self.e0.record()
        else: self.t0 = time.perf_counter()
        return self
    def stop(self) -> float:
        if self.cuda: self.e1.record(); torch.cuda.synchronize(); self.ms = self.e0.elapsed_time(self.e1)
        else: self.ms = (time.perf_counter() - self.t0) * 1e3
        return self.ms

def models(s, device, dtype):
    "The Mamba LM and the Transformer LM of size `s`, in eval mode."
    torch.manual_seed(0)
    m = MambaLMHeadModel(MambaConfig(d_model=s['d_model'], n_layer=s['mamba_layers'], vocab_size=s['vocab']), device=device, dtype=dtype)
    t = TransformerLM(TransformerConfig(d_model=s['d_model'], n_layer=s['tf_layers'], n_head=s['n_head'], vocab_size=s['vocab']),
                      device=device, dtype=dtype)
    return {'Mamba': m.eval(), 'Transformer': t.eval()}

@torch.inference_mode()
def generate_once(model, prompt, n_new, timer) -> tuple[float, float]:
    "Prefill `prompt` (b, Lp), then decode `n_new` greedy tokens; return (prefill ms, decode ms)."
    b, Lp = prompt.shape
    ip = InferenceParams(max_seqlen=Lp + n_new, max_batch_size=b)
    ip.key_value_memory_dict = model.allocate_inference_cache(b, Lp + n_new)
    timer.start()
    logits = model(prompt, inference_params=ip, num_last_tokens=1).logits
    tok = logits[:, -1].argmax(-1, keepdim=True)
    prefill = timer.stop()
    ip.seqlen_offset = Lp
    timer.start()
    for _ in range(n_new):
        tok = model(tok, inference_params=ip).logits[:, -1].argmax(-1, keepdim=True)
        ip.seqlen_offset += 1
    return prefill, timer.stop()

def bench_generation(s, device, dtype, log) -> list:
    ms, timer, rows = models(s, device, dtype), Timer(device), []
    params = {k: count_params(v) for k, v in ms.items()}
    log(f"parameters: {params}")
    for Lp in s['prompts']:
        for b in s['batches']:
            if b * Lp > s['max_tokens']: continue
            prompt = torch.randint(0, s['vocab'], (b, Lp), device=device)
            for name, model in ms.items():
                row = dict(model=name, params=params[name], batch=b, prompt=Lp, n_new=s['n_new'])
                try:
                    generate_once(model, prompt, 2, timer)                               # warm-up (and Triton compiles)
                    pre, dec = generate_once(model, prompt, s['n_new'], timer)
                    row.update(prefill_ms=pre, decode_ms=dec, tokens_per_s=b * s['n_new'] / (dec / 1e3),
                               ms_per_token=dec / s['n_new'])
                except torch.OutOfMemoryError:
                    row.update(error='OOM')
                finally:
                    if device.type == 'cuda': torch.cuda.empty_cache()
                rows.append(row); log(row)
    return rows

def bench_throughput(s, device, dtype, log) -> list:
    "The Mamba paper's Figure 8 (left): generation throughput, prompt 2048 + 128 new tokens, both models on CUDA graphs."
    ms, rows = models(s, device, dtype), []
    params = {k: count_params(v) for k, v in ms.items()}
    log(f"parameters: {params}")
    Lp, n_new = s['tp_prompt'], s['tp_new']
    for b in s['tp_batches']:
        for name, model in ms.items():
            row = dict(model=name, params=params[name], batch=b, prompt=Lp, n_new=n_new, cg=device.type == 'cuda')
            try:
                prompt = torch.randint(0, s['vocab'], (b, Lp), device=device)
                model.generate(prompt, Lp + n_new, cg=row['cg'])                       # warm-up and capture
                if device.type == 'cuda': torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = model.generate(prompt, Lp + n_new, cg=row['cg'])
                if device.type == 'cuda': torch.cuda.synchronize()
                sec = time.perf_counter() - t0
                row.update(seconds=sec, tokens_per_s=b * n_new / sec, tokens=int(out.shape[1] - Lp))
                if row['cg']:   # the prefill alone, into the captured graph's cache (as generate runs it): the rest is decoding
                    ip = model.decode_graph(b, Lp + n_new).ip
                    with torch.inference_mode():
                        pre = []
                        for _ in range(2):
                            ip.seqlen_offset = 0; torch.cuda.synchronize(); t1 = time.perf_counter()
                            model._logits(prompt, ip, num_last_tokens=1); torch.cuda.synchronize()
                            pre.append(time.perf_counter() - t1)
                    row.update(prefill_seconds=min(pre), decode_seconds=sec - min(pre))
            except torch.OutOfMemoryError:
                row.update(error='OOM')
            finally:
                for m in ms.values(): m.__dict__.pop('_decode_graph', None)            # free the captured graph
                if device.type == 'cuda': torch.cuda.empty_cache()
            rows.append(row); log(row)
    return rows

def bench_training(s, device, log) -> list:
    rows, timer = [], Timer(device)
    backends = ('triton', 'torch') if device.type == 'cuda' else ('torch', 'ref')
    for L in s['train_L']:
        for be in backends:
            torch.manual_seed(0)
            row = dict(backend=be, batch=s['train_batch'], L=L)
            model = opt = None
            try:
                model = set_scan_backend(MambaLMHeadModel(MambaConfig(d_model=s['d_model'], n_layer=s['mamba_layers'],
                                                                      vocab_size=s['vocab']), device=device), be)
                opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
                x = torch.randint(0, s['vocab'], (s['train_batch'], L + 1), device=device)
                def step():
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == 'cuda'):
                        logits = model(x[:, :-1]).logits
                    loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
                    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
                if device.type == 'cuda': torch.cuda.reset_peak_memory_stats()
                step(); step()                                                           # warm-up
                times = []
                for _ in range(s['train_steps']):
                    timer.start(); step(); times.append(timer.stop())
                times.sort()
                row.update(step_ms=times[len(times) // 2], tokens_per_s=s['train_batch'] * L / (times[len(times) // 2] / 1e3))
                if device.type == 'cuda': row['peak_mem_GiB'] = torch.cuda.max_memory_allocated() / 2 ** 30
            except torch.OutOfMemoryError:
                row.update(error='OOM')
                if device.type == 'cuda': row['peak_mem_GiB'] = torch.cuda.max_memory_allocated() / 2 ** 30
            finally:
                del model, opt
                if device.type == 'cuda': torch.cuda.empty_cache()
            rows.append(row); log(row)
    return rows

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='JSON file to write')
    p.add_argument('--tiny', action='store_true', help='tiny sizes that run on the CPU in seconds (a smoke test)')
    p.add_argument('--size', choices=('full', 'paper'), default='full', help="'full': the 130M pair; 'paper': Mamba-1.4B against a 1.3B Transformer")
    p.add_argument('--skip', choices=('generation', 'training', 'throughput'), nargs='*', default=(), help='leave parts out')
    a = p.parse_args()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if device.type == 'cpu' and not a.tiny: sys.exit('no CUDA device: run with --tiny for the CPU smoke test')
    s = SIZES['tiny' if a.tiny else a.size]
    dtype = torch.bfloat16 if device.type == 'cuda' else torch.float32
    result = dict(device=torch.cuda.get_device_name() if device.type == 'cuda' else f'CPU ({platform.machine()})',
                  torch=torch.__version__, dtype=str(dtype).replace('torch.', ''), sizes=s, size='tiny' if a.tiny else a.size, tiny=a.tiny,
                  date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))
    try:
        import triton; result['triton'] = triton.__version__
    except ImportError: pass
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    save = lambda: open(a.out, 'w').write(json.dumps(result, indent=1))
    log = lambda r: print(r, flush=True)
    t0 = time.perf_counter()
    if 'generation' not in a.skip: result['generation'] = bench_generation(s, device, dtype, log); save()
    if 'throughput' not in a.skip: result['throughput'] = bench_throughput(s, device, dtype, log); save()
    if 'training' not in a.skip: result['training'] = bench_training(s, device, log)
    result['seconds'] = time.perf_counter() - t0
    save(); print(f"wrote {a.out} in {result['seconds']:.0f} s")

if __name__ == '__main__': main()
