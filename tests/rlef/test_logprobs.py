"""Completion log-probs through TRL's fused LM head: equal to the plain full-logits computation, and without the
full logits in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from trl.trainer.utils import add_fused_lm_head, selective_log_softmax

from agents.rlef.logprobs import completion_logps

ROOT = Path(__file__).resolve().parents[2]


def test_fused_log_probs_and_gradients_equal_the_full_logits_ones(policy) -> None:
    torch.manual_seed(0)
    vocab = policy.config.vocab_size
    input_ids = torch.randint(4, vocab, (3, 40))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :5] = 0  # left padding
    attention_mask[2, -4:] = 0  # a completion shorter than the batch's
    width, temperature = 25, 0.7
    logits = policy(input_ids=input_ids, attention_mask=attention_mask).logits[:, -width - 1 : -1]
    plain = selective_log_softmax(logits, input_ids[:, -width:], temperature)
    mask = attention_mask[:, -width:].bool()
    (plain * mask).sum().backward()
    plain_grads = [p.grad.clone() for p in policy.parameters()]
    policy.zero_grad()

    add_fused_lm_head(policy, temperature=temperature)
    fused, hidden = completion_logps(policy, input_ids, attention_mask, width, backbone=policy.model)
    (fused * mask).sum().backward()
    assert fused.shape == (3, width) and hidden.shape == (3, 40, policy.config.hidden_size)
    torch.testing.assert_close(fused[mask], plain[mask], atol=1e-5, rtol=1e-5)
    assert (fused[~mask] == 0).all()
    for got, want in zip((p.grad for p in policy.parameters()), plain_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


MEMORY_PROBE = """
import json, sys, torch
import trl.kernels.chunked_logprob as kernel, trl.trainer.utils as utils
from transformers import Qwen2Config, Qwen2ForCausalLM
from trl.trainer.utils import add_fused_lm_head, selective_log_softmax
from agents.rlef.logprobs import completion_logps

torch.manual_seed(0)
config = Qwen2Config(vocab_size=8192, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                     num_attention_heads=2, num_key_value_heads=1)
model = Qwen2ForCausalLM(config)
add_fused_lm_head(model)
# Tiles scaled down with the model (TRL's are 4096 positions x 32768 entries, sized for real vocabularies).
kernel.TOKEN_CHUNK_SIZE, utils._CHUNKED_LOGPROB_CHUNK_SIZE = 64, 1024
ids = torch.randint(0, 8192, (4, 512))
mask = torch.ones_like(ids)
width = 480

def fused():
    completion_logps(model, ids, mask, width)[0].sum().backward()

def plain():
    logits = model(input_ids=ids, attention_mask=mask).logits[:, -width - 1 : -1]
    selective_log_softmax(logits, ids[:, -width:]).sum().backward()

def status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

def growth_kib(run):  # peak RSS during `run` above the RSS before it (5 in clear_refs resets the peak, VmHWM)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    start = status_kib("VmRSS")
    run()
    return status_kib("VmHWM") - start

fused()  # warm-up: first-call allocations (kernels, autograd state) are not the logits
print(json.dumps({"fused": growth_kib(fused), "plain": growth_kib(plain)}))
"""


def test_fused_log_probs_never_hold_the_full_logits() -> None:
    """Peak memory (RSS, a fresh process) of a forward and backward over 4 x 512 tokens and 8192 entries: the full
    logits are 67 MB in float32, and the plain computation holds several such tensors at once."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    growth = json.loads(done.stdout.strip().splitlines()[-1])
    full_logits_kib = 4 * 512 * 8192 * 4 // 1024
    assert growth["plain"] > full_logits_kib  # the measurement sees the logits
    assert growth["fused"] < full_logits_kib / 4
