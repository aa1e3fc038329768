"""Visual token reduction at the seed's scale on one GPU (issue 20, chapter 09b): 224-px scenes, 196 tokens, a ViT-S/16
encoder and a projector with a Transformer and an effseq Mamba language model of equal size; every reducer at every k;
prefill latency against visual tokens at LLaVA-1.5-7B's width for both backbones. Writes JSON (numbers only).

    python3 tools/gpu_svtr_scale.py --cpu-smoke                              # the whole pipeline, tiny, on the CPU (< 1 min)
    python3 tools/gpu_svtr_scale.py --cpu-medium                             # 09b's CPU-sized run (~40 min on a busy core)
    # on an H200, two calls (the device tool allows 10 minutes per command; a machine does not keep files between
    # calls that are more than 30 s apart, so each command is self-contained):
    python3 tools/gpu_svtr_scale.py --parts prefill --merge nbs/data/svtr_scale_gpu.json --out $OUT/svtr_scale_gpu.json
    (then 'train sweep easyvqa' as below)

Parts (in this order; each rewrites --out with everything so far, so a command cut short still returns what it did):
- train:   generate the data (10,000 + 800 pictures, 6 questions each, --workers processes), pretrain the encoder
           (2,500 steps of 128 pictures), train projector + LM for each backbone from the same frozen encoder (3,000
           steps of 256 questions), held-out accuracy every 500 steps (the training curves); weights stay in --work;
- sweep:   every method of effseq.svtr_scale.SCALE_METHODS at k in (16, 32, 64, 128, 196), with and without the summary
           token, for both backbones: accuracy (per question type), object-patch recall, counted FLOPs, batch latency;
- easyvqa: easy-VQA (pip download easy-vqa --no-deps -d .gpu/wheels here, then carry .gpu/wheels), images upscaled to
           224 px, the frozen encoder from 'train', a Transformer LM trained on its questions, then the sweep;
- prefill: random-weight stacks at d = 4096 (2 LLaMA layers, or 4 Mamba blocks), bf16, k in (0 .. 576) + 64 text
           tokens, batch 1 and 16 (needs nothing from the other parts).
--deadline-s skips any part (or backbone) that would start after that many seconds, and records it under 'skipped'.
--merge starts from an earlier results file (the first command's), so the second command adds to it.
Device time, measured on an H200 (2026-12-03/04): prefill 35 s; data 30-34 s; the encoder's 2,500 steps ~80 s; 3,000 LM
steps of 256 questions take ~78 s for the Transformer and ~290 s for the Mamba (96 ms a step with the block's flat scan
layout; 168 ms before it); the Mamba's sweep 35 s. One call of 'train sweep' with --backbones mamba took 441 s:
    python3 tools/gpu_svtr_scale.py --parts train sweep --backbones mamba --work /tmp/svtr_m --out $OUT/m.json --deadline-s 470
(--lm-seed N reseeds the LM's initialisation and batch order alone; --lm-lr, --lm-steps, --question-first for probes.) Every stage (encoder, each LM, each
backbone's sweep, easy-VQA) is saved in --work when it ends and skipped when a later command finds it there, and
--deadline-s also holds back each LM's training, so at the default 256 three commands while the machine stays warm
(it keeps /tmp only while warm; each line's time is planned from the stage times above, not yet run this way):
    W="--easy-vqa .gpu/wheels/easy_vqa-1.0-py3-none-any.whl --work /tmp/svtr_work --out $OUT/svtr_scale_gpu.json"
    python3 tools/gpu_svtr_scale.py --parts train sweep easyvqa --deadline-s 200 --merge nbs/data/svtr_scale_gpu.json $W  # data, encoder, Transformer (~280 s; data + encoder took 175 s on 2026-12-03)
    python3 tools/gpu_svtr_scale.py --parts train sweep easyvqa --deadline-s 60 $W    # the Mamba LM (~520 s)
    python3 tools/gpu_svtr_scale.py --parts train sweep easyvqa --deadline-s 400 $W   # both sweeps, easy-VQA
"""
import argparse, dataclasses, os, sys, tempfile, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
sys.path.insert(0, ROOT)                                          # the checkout's effseq first


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--parts', nargs='+', default=['train', 'sweep', 'prefill'], help='train sweep prefill easyvqa')
    ap.add_argument('--out', default=os.path.join(ROOT, 'nbs', 'data', 'svtr_scale_gpu.json'))
    ap.add_argument('--work', default=os.path.join(ROOT, '.gpu', 'svtr_scale'), help='data, weights and results between parts')
    ap.add_argument('--easy-vqa', default=None, help="easy-vqa wheel (default: the installed package)")
    ap.add_argument('--workers', type=int, default=12)
    ap.add_argument('--deadline-s', type=float, default=None, help='start no part after this many seconds')
    ap.add_argument('--merge', default=None, help='an earlier results JSON to add to')
    ap.add_argument('--cpu-smoke', action='store_true', help='tiny sizes on the CPU: every part runs in under a minute')
    ap.add_argument('--cpu-medium', action='store_true', help='the CPU-sized run of 09b (96 px, 36 tokens; ~40 min on a shared core): '
                    'train and sweep, to nbs/data/svtr_scale_cpu96.json')
    ap.add_argument('--backbones', nargs='+', default=['transformer', 'mamba'], help='the language models to train and sweep')
    ap.add_argument('--question-first', action='store_true', help='the question before the visual tokens in the LM (ScaleLlavaConfig.question_first)')
    ap.add_argument('--lm-lr', type=float, default=None, help='peak learning rate of the LM stage (ScaleTrainConfig.lm_lr)')
    ap.add_argument('--lm-steps', type=int, default=None, help='steps of the LM stage (ScaleTrainConfig.lm_steps)')
    ap.add_argument('--lm-seed', type=int, default=None, help="seed of the LMs' initialisation and batch order (ScaleTrainConfig.lm_seed; data and encoder keep --seed 0)")
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
    if a.question_first: mc = dataclasses.replace(mc, question_first=True)
    if a.lm_lr is not None: tc = dataclasses.replace(tc, lm_lr=a.lm_lr)
    if a.lm_steps is not None: tc = dataclasses.replace(tc, lm_steps=a.lm_steps)
    if a.lm_seed is not None: tc = dataclasses.replace(tc, lm_seed=a.lm_seed)
    print(f"parts {parts}; work {work}; out {out}; question first: {mc.question_first}; LM lr {tc.lm_lr}, {tc.lm_steps} steps, LM seed {tc.lm_seed}", flush=True)
    if a.merge and os.path.exists(a.merge):
        import shutil
        os.makedirs(work, exist_ok=True); shutil.copyfile(a.merge, os.path.join(work, 'results.json'))
    res = run_svtr_scale(mc, tc, sc, parts=tuple(parts), work=work, out=out, prefill=prefill, easy_vqa=a.easy_vqa,
                         deadline_s=a.deadline_s, backbones=tuple(a.backbones), log=lambda *m: print(*m, flush=True))
    print(scale_table(res))
    for r in res.get('prefill', []): print(r)
    print(f"done in {time.perf_counter() - t0:.0f} s; seconds per part {res['seconds']}; wrote {out}", flush=True)


if __name__ == '__main__':
    main()
