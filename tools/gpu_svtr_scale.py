"""Visual token reduction at the seed's scale on one GPU (issue 20, chapter 09b): 224-px scenes, 196 tokens, a ViT-S/16
encoder and a projector with a Transformer and an effseq Mamba language model of equal size; every reducer at every k;
prefill latency against visual tokens at LLaVA-1.5-7B's width for both backbones. Writes JSON (numbers only).

    python3 tools/gpu_svtr_scale.py --cpu-smoke                              # the whole pipeline, tiny, on the CPU (< 1 min)
    python3 tools/gpu_svtr_scale.py --cpu-medium                             # 09b's CPU-sized run (~15 min, one core)
    python3 tools/gpu_svtr_scale.py --parts train sweep --out nbs/data/svtr_scale_gpu.json
    python3 tools/gpu_svtr_scale.py --parts prefill easyvqa --easy-vqa .gpu/wheels/easy_vqa-1.0-py3-none-any.whl \
        --out nbs/data/svtr_scale_gpu.json

Parts (run in this order; each saves to --work, so later parts can run in a later command on the same machine):
- train:   generate the data (12,000 + 1,000 pictures, 6 questions each, --workers processes), pretrain the encoder
           (3,000 steps of 128 pictures), train projector + LM for each backbone from the same frozen encoder (4,000
           steps of 256 questions), held-out accuracy every 500 steps; weights go to --work only (never to git);
- sweep:   every method of effseq.svtr_scale.SCALE_METHODS at k in (16, 32, 64, 128, 196), with and without the summary
           token, for both backbones: accuracy (per question type), object-patch recall, counted FLOPs, batch latency;
- prefill: random-weight stacks at d = 4096 (2 LLaMA layers, or 4 Mamba blocks), bf16, k in (0 .. 576) + 64 text
           tokens, batch 1 and 16;
- easyvqa: the easy-VQA data set (pip download easy-vqa --no-deps; pass the wheel, or have the package installed),
           images upscaled to 224 px, our frozen encoder, a Transformer LM trained on its questions, then the sweep.
Each part rewrites --out with everything so far (also <work>/results.json). Expected device time on an H200 (not
yet measured): train about 6-8 min, sweep about 4-6 min, prefill + easyvqa about 4 min; the first command also pays
for Triton's compilation.
"""
import argparse, os, sys, tempfile, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)                                          # the checkout's effseq first


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--parts', nargs='+', default=['train', 'sweep', 'prefill'], help='train sweep prefill easyvqa')
    ap.add_argument('--out', default=os.path.join(ROOT, 'nbs', 'data', 'svtr_scale_gpu.json'))
    ap.add_argument('--work', default=os.path.join(ROOT, '.gpu', 'svtr_scale'), help='data, weights and results between parts')
    ap.add_argument('--easy-vqa', default=None, help="easy-vqa wheel (default: the installed package)")
    ap.add_argument('--workers', type=int, default=12)
    ap.add_argument('--cpu-smoke', action='store_true', help='tiny sizes on the CPU: every part runs in under a minute')
    ap.add_argument('--cpu-medium', action='store_true', help='the CPU-sized run of 09b (96 px, 36 tokens; ~15 min on one core): '
                    'train and sweep, to nbs/data/svtr_scale_cpu96.json')
    a = ap.parse_args(argv)
    import torch
    from effseq.svtr_scale import (ScaleLlavaConfig, ScaleTrainConfig, SceneConfig, smoke_configs, medium_configs,
                                   run_svtr_scale, scale_table)
    t0 = time.perf_counter()
    if a.cpu_smoke:
        mc, tc, sc = smoke_configs()
        prefill = dict(dims=dict(d=64, heads=4, d_mlp=172), ks=(0, 4, 16), batches=(1, 2), layers=1, repeat=2, dtype=torch.float32)
        work = tempfile.mkdtemp(prefix='svtr_scale_smoke_') if a.work == ap.get_default('work') else a.work
        out = a.out if a.out != ap.get_default('out') else os.path.join(work, 'svtr_scale_smoke.json')
        parts = list(a.parts) + (['easyvqa'] if a.easy_vqa and 'easyvqa' not in a.parts else [])
    elif a.cpu_medium:
        torch.set_num_threads(1)
        mc, tc, sc = medium_configs()
        work = tempfile.mkdtemp(prefix='svtr_scale_cpu96_') if a.work == ap.get_default('work') else a.work
        out = a.out if a.out != ap.get_default('out') else os.path.join(ROOT, 'nbs', 'data', 'svtr_scale_cpu96.json')
        prefill, parts = None, [p for p in a.parts if p in ('train', 'sweep')]
    else:
        if not torch.cuda.is_available(): sys.exit('no CUDA device: use --cpu-smoke on a CPU')
        mc, sc = ScaleLlavaConfig(), SceneConfig()
        tc = ScaleTrainConfig(workers=a.workers)
        prefill, work, out, parts = {}, a.work, a.out, a.parts
    print(f"parts {parts}; work {work}; out {out}", flush=True)
    res = run_svtr_scale(mc, tc, sc, parts=tuple(parts), work=work, out=out, prefill=prefill, easy_vqa=a.easy_vqa,
                         log=lambda *m: print(*m, flush=True))
    print(scale_table(res))
    for r in res.get('prefill', []): print(r)
    print(f"done in {time.perf_counter() - t0:.0f} s; seconds per part {res['seconds']}; wrote {out}", flush=True)


if __name__ == '__main__':
    main()
