#!/usr/bin/env python3
"""Training throughput with packed documents (`pack_sequences`, `seq_idx`) against padded batches, on a GPU.

    python3 tools/gpu_packing.py --out nbs/data/packing_gpu.json

Mamba-130M (d_model 768, 24 layers), bf16 autocast, AdamW. The same documents (lengths log-uniform in
[64, 2048], a fixed seed) are trained once padded (batches of 8 documents, each batch padded to its longest,
rounded up to a multiple of 64) and once packed (rows of 2048 filled first-fit decreasing, 8 rows a step).
Reported: real (non-padding) tokens per second each way, steps, and the fraction of positions that are padding.
Before timing, one packed step's loss is checked against the same documents run one at a time.
"""
import argparse, json, math, time
import torch
from effseq.mamba import MambaLMHeadModel, MambaConfig
from effseq.train import pack_sequences, pad_sequences
from effseq.tasks import masked_loss

def docs(n, lo=64, hi=2048, vocab=50277, seed=0):
    g = torch.Generator().manual_seed(seed)
    lens = torch.exp(torch.rand(n, generator=g) * (math.log(hi) - math.log(lo)) + math.log(lo)).long()
    return [torch.randint(0, vocab, (int(k),), generator=g) for k in lens]

def step(model, opt, batch):
    extra = {'seq_idx': batch['seq_idx'].cuda()} if 'seq_idx' in batch else {}
    with torch.autocast('cuda', dtype=torch.bfloat16):
        loss = masked_loss(model(batch['input_ids'].cuda(), **extra).logits, {k: v.cuda() for k, v in batch.items()}, 50277)
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    return loss

def run(model, opt, batches):
    for b in batches[:2]: step(model, opt, b)                           # warm-up (compiles the kernels of each shape)
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for b in batches: step(model, opt, b)
    torch.cuda.synchronize(); return time.perf_counter() - t0

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--out', required=True); ap.add_argument('--docs', type=int, default=480)
    a = ap.parse_args()
    torch.manual_seed(0)
    cfg = MambaConfig(d_model=768, n_layer=24, vocab_size=50277)
    model = MambaLMHeadModel(cfg).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    D = docs(a.docs)
    # correctness on the GPU: a packed row's loss == its documents' losses run alone (same positions averaged)
    few = D[:6]; pk = pack_sequences(few, 2048)
    with torch.no_grad(), torch.autocast('cuda', dtype=torch.float32, enabled=False):
        lp = masked_loss(model(pk['input_ids'].cuda(), seq_idx=pk['seq_idx'].cuda()).logits.float(), {k: v.cuda() for k, v in pk.items()}, 50277)
        tot = n = 0
        for d in few:
            b = pad_sequences([d]); m = b['mask'].sum().item()
            tot += masked_loss(model(b['input_ids'].cuda()).logits.float(), {k: v.cuda() for k, v in b.items()}, 50277).item() * m; n += m
    check = dict(packed_loss=lp.item(), alone_loss=tot / n, ok=abs(lp.item() - tot / n) < 1e-3)
    print('check', check, flush=True)
    padded = []
    for i in range(0, len(D), 8):
        chunk = D[i:i + 8]; L = -(-max(len(d) for d in chunk) // 64) * 64
        padded.append(pad_sequences(chunk, L))
    packed_all = pack_sequences(D, 2048)
    packed = [{k: v[i:i + 8] for k, v in packed_all.items()} for i in range(0, len(packed_all['input_ids']), 8)]
    real = sum(len(d) for d in D)
    t_pad, t_pack = run(model, opt, padded), run(model, opt, packed)
    pos = lambda bs: sum(b['input_ids'].numel() for b in bs)
    res = dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, model='Mamba-130M (768 x 24)', docs=len(D), real_tokens=real,
               check=check,
               padded=dict(steps=len(padded), positions=pos(padded), seconds=t_pad, tokens_per_s=real / t_pad, padding=1 - real / pos(padded)),
               packed=dict(steps=len(packed), positions=pos(packed), seconds=t_pack, tokens_per_s=real / t_pack, padding=1 - real / pos(packed)))
    res['speedup'] = t_pad / t_pack
    print(json.dumps(res, indent=1)); json.dump(res, open(a.out, 'w'), indent=1)

if __name__ == '__main__':
    main()
