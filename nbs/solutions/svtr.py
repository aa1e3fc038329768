"Solutions to the exercises of chapter 09 (nbs/exercises/09_svtr.ipynb), and plausible wrong answers the checkers must reject."
import torch
import torch.nn.functional as F

def svtr_indices(x, k):
    return x.norm(dim=-1).topk(k, dim=-1).indices.sort(-1).values

def svtr_indices_wrong(x, k):   # in topk's order (largest norm first), not in spatial order
    return x.norm(dim=-1).topk(k, dim=-1).indices

def svtr_tokens(x, k, summary):
    idx = svtr_indices(x, k)
    tokens = x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))
    return torch.cat([tokens, x.mean(1, keepdim=True)], 1) if summary else tokens

def svtr_tokens_wrong(x, k, summary):   # the summary token averages the kept tokens, not all N
    tokens = svtr_tokens(x, k, False)
    return torch.cat([tokens, tokens.mean(1, keepdim=True)], 1) if summary else tokens

def divprune(x, k):
    xn = F.normalize(x.float(), dim=-1)
    dist = 1 - xn @ xn.mT                              # (b, N, N) cosine distances
    out = []
    for r in range(x.shape[0]):
        chosen = [int(dist[r].sum(-1).argmax())]        # the most distinct token
        mind = dist[r, chosen[0]].clone()
        for _ in range(k - 1):
            mind[chosen] = -1.0
            j = int(mind.argmax()); chosen.append(j)
            mind = torch.minimum(mind, dist[r, j])
        out.append(torch.tensor(sorted(chosen)))
    return torch.stack(out)

def divprune_wrong(x, k):   # starts from token 0 instead of the most distinct one
    xn = F.normalize(x.float(), dim=-1)
    dist = 1 - xn @ xn.mT
    out = []
    for r in range(x.shape[0]):
        chosen = [0]
        mind = dist[r, 0].clone()
        for _ in range(k - 1):
            mind[chosen] = -1.0
            j = int(mind.argmax()); chosen.append(j)
            mind = torch.minimum(mind, dist[r, j])
        out.append(torch.tensor(sorted(chosen)))
    return torch.stack(out)
