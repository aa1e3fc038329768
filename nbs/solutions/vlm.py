"Solutions to the exercises of chapter 09a (nbs/exercises/09a_vlm.ipynb), and plausible wrong answers the checkers must reject."
import torch

def token_budget(visual, tau):
    c = (visual - visual.mean(1, keepdim=True)).norm(dim=-1)        # centred norms (b, N)
    return (c >= tau * c.amax(-1, keepdim=True)).sum(-1)

def token_budget_wrong(visual, tau):   # plain norms: a large shared mean makes every token look important
    n = visual.norm(dim=-1)
    return (n >= tau * n.amax(-1, keepdim=True)).sum(-1)

def reduced_positions(r, vpos):
    b, k = r.indices.shape
    w = torch.zeros(b, vpos.shape[0], k, dtype=vpos.dtype)
    rows, cols = r.kept.nonzero(as_tuple=True)
    w[rows, cols, r.assign[rows, cols]] = 1                          # (b, N, k): patch -> its slot
    pos = (w.mT @ vpos) / w.sum(1)[..., None]                        # mean position of each slot's patches
    return torch.cat([pos, vpos.mean(0).expand(b, 1, -1)], 1) if r.summary else pos

def reduced_positions_wrong(r, vpos):   # the position of each slot's first patch: right for selection, wrong for merging
    pos = vpos[r.indices]
    return torch.cat([pos, vpos.mean(0).expand(pos.shape[0], 1, -1)], 1) if r.summary else pos
