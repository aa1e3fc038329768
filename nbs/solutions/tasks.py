"Solutions to the exercises of chapter 06 (nbs/exercises/06_tasks.ipynb), and plausible wrong answers the checkers must reject."
import torch

def masked_accuracy(logits, batch):
    m = batch['mask']
    return (logits[m].argmax(-1) == batch['targets'][m]).float().mean().item()

def masked_accuracy_wrong(logits, batch):   # every position counted, not only the masked ones
    return (logits.argmax(-1) == batch['targets']).float().mean().item()

def copy_answer(input_ids, L, n_memorize):
    body = input_ids[:, :L]
    return body[body >= 2].view(-1, n_memorize)       # data tokens are >= 2 (0 noise, 1 marker); boolean indexing keeps the order

def copy_answer_wrong(input_ids, L, n_memorize):   # the right tokens in the wrong order (largest first)
    return input_ids[:, :L].topk(n_memorize, dim=-1).values

def induction_answer(input_ids):
    body = input_ids[:, :-1]                           # the last token is the query 0
    p = (body == 0).int().argmax(-1)                   # where the 0 is
    return body.gather(1, (p + 1)[:, None])[:, 0]

def induction_answer_wrong(input_ids):   # the token before the 0
    body = input_ids[:, :-1]
    p = (body == 0).int().argmax(-1)
    return body.gather(1, (p - 1).clamp(min=0)[:, None])[:, 0]
