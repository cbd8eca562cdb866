"""Token-exact multi-turn rollouts in a CodeFeedback environment.

The chat template is applied once, to the first user message. Every later context is the previous
context extended by the sampled response tokens (kept as sampled, never re-tokenised) and the
feedback turn's tokens (the template's suffix for one more user message plus the assistant header).
So the sequence a trainer scores is exactly the sequence the sampler conditioned on.

An episode the judge could not judge (the environment truncated it with `info["judge_error"]`) carries no
signal about the policy: its rollout row has every token masked out (`env_mask` all 0), no reward (None, which
TRL leaves out of the group baseline) and `judge_error` set, so no trainer learns from it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from agents.rlef.rank_padding import gathers_across_ranks, pad_requests_across_ranks
from codefeedback_env.driver import Episode, EpisodeDriver
from codefeedback_env.evaluation.metrics import RolloutOutcome, solve_rate_by_turn

logger = logging.getLogger(__name__)

# (contexts as token ids) -> (sampled token ids, sampler log-probs or None), one per context.
Generator = Callable[[list[list[int]]], tuple[list[list[int]], list[list[float]] | None]]


class ChatEnv(Protocol):
    """The part of the CodeFeedback gymnasium API a rollout needs."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]: ...

    def step(self, action: str) -> tuple[dict, float, bool, bool, dict]: ...


@dataclass
class Trajectory:
    """One episode as token ids. `completion_ids` holds responses and feedback turns back to back."""

    problem_id: str
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)  # 1: sampled by the model, 0: feedback/template tokens
    logprobs: list[float] = field(default_factory=list)  # sampler log-prob per completion token (0.0 where env)
    turn_spans: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of response t in completion_ids
    turn_rewards: list[float] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    invalid_turns: int = 0
    solved: bool = False
    done: bool = False
    judge_error: str | None = None
    """Why the environment could not judge the episode; such an episode is left out of the loss."""

    @property
    def num_turns(self) -> int:
        """Number of responses sampled."""
        return len(self.turn_spans)

    @property
    def episode_return(self) -> float:
        """Sum of the environment rewards (no KL)."""
        return float(sum(self.turn_rewards))

    def context_ids(self) -> list[int]:
        """The token ids the next response is conditioned on."""
        return self.prompt_ids + self.completion_ids


class ChatTemplateError(ValueError):
    """The chat template cannot render multi-turn contexts token-exactly (training on them would be wrong)."""


# A conversation with code, blank lines and quotes: the probe every template must render token-exactly.
_PROBE = (
    {"role": "user", "content": "Write a program that prints the sum of two numbers.\n\nInput: `1 2`"},
    {"role": "assistant", "content": "```python\na, b = map(int, input().split())\nprint(a + b)\n```"},
    {"role": "user", "content": "Your code failed the following tests:\n\n- input `1 2` failed:\nExpected `3`"},
    {"role": "assistant", "content": "Here is a fix:\n```python\nprint(sum(map(int, input().split())))\n```"},
    {"role": "user", "content": "Give it another try."},
)
_END_MARKER = "RLEF_END_OF_TURN_PROBE"
# The turns a feedback message is rendered after, to cut the template's tokens for one more user turn.
_FEEDBACK_DUMMY = ({"role": "user", "content": "x"}, {"role": "assistant", "content": "y"})


class TurnTokenizer:
    """Chat-template arithmetic: the first prompt, the token that closes a turn, and each feedback turn's tokens.

    The end of an assistant turn is the token the chat template closes an assistant message with (e.g.
    `<|im_end|>`, `<|eot_id|>`, `</s>`), not `tokenizer.eos_token_id`, which some tokenizers set to another
    token. With `stop_token_ids` (the ids generation stops at), that token must be one of them, or sampled
    responses would run past the end of their turn. On construction a probe conversation is rendered turn by
    turn and compared with the template's own rendering; a template that cannot be extended token-exactly
    (e.g. one that rewrites earlier turns) raises `ChatTemplateError`.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        chat_template: str | None = None,
        stop_token_ids: Sequence[int] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.end_of_turn_id: int = self._find_end_of_turn()
        self._feedback_prefix: list[int] | None = None
        if stop_token_ids is not None and self.end_of_turn_id not in stop_token_ids:
            name = tokenizer.convert_ids_to_tokens(self.end_of_turn_id)
            raise ChatTemplateError(
                f"the chat template ends assistant turns with {name!r} (id {self.end_of_turn_id}) but generation "
                f"stops only at ids {list(stop_token_ids)}: add {self.end_of_turn_id} to the model's "
                "generation_config.eos_token_id."
            )
        self._check_probe()

    def _render(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool, tokenize: bool = True) -> Any:
        out = self.tokenizer.apply_chat_template(
            list(messages),
            add_generation_prompt=add_generation_prompt,
            tokenize=tokenize,
            return_dict=False,
            chat_template=self.chat_template,
        )
        return list(out) if tokenize else out

    def _find_end_of_turn(self) -> int:
        text = self._render(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": _END_MARKER}], False, tokenize=False
        )
        if _END_MARKER not in text:
            raise ChatTemplateError("the chat template drops assistant messages; it cannot render multi-turn contexts.")
        tail = text[text.rindex(_END_MARKER) + len(_END_MARKER) :]
        ids = self.tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
        special = set(self.tokenizer.all_special_ids) | {
            i for i, tok in self.tokenizer.added_tokens_decoder.items() if tok.special
        }
        if not ids or ids[0] not in special:
            raise ChatTemplateError(
                f"the chat template closes an assistant turn with {tail[:20]!r}, not with a special token: set a "
                "template that ends assistant messages with the model's end-of-turn token."
            )
        return int(ids[0])

    def _check_probe(self) -> None:
        ids = self.prompt_ids(_PROBE[:1])
        for k in range(1, len(_PROBE), 2):
            response = self.tokenizer(_PROBE[k]["content"], add_special_tokens=False)["input_ids"]
            ids += [*response, self.end_of_turn_id, *self.feedback_ids(_PROBE[k + 1]["content"])]
        # Compared as decoded text: a response's tokens may split differently from the template's at the seams.
        decode = lambda x: self.tokenizer.decode(x, skip_special_tokens=False, clean_up_tokenization_spaces=False)  # noqa: E731
        rendered, decoded = decode(self._render(_PROBE, add_generation_prompt=True)), decode(ids)
        if decoded != rendered:
            at = next((i for i, (a, b) in enumerate(zip(decoded, rendered, strict=False)) if a != b), None)
            at = min(len(decoded), len(rendered)) if at is None else at
            raise ChatTemplateError(
                f"the chat template cannot be extended turn by turn: at character {at} the template renders "
                f"{rendered[at : at + 40]!r} but the turn-by-turn context has {decoded[at : at + 40]!r}. Pass a "
                "chat_template that renders earlier turns the same whatever follows them."
            )

    def prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of the first prompt, with the assistant header."""
        return self._render(messages, add_generation_prompt=True)

    def feedback_ids(self, content: str) -> list[int]:
        """Tokens that follow an assistant's end-of-turn token: a user message `content` + assistant header."""
        if self._feedback_prefix is None:  # the same for every feedback: rendered once
            prefix = self._render(_FEEDBACK_DUMMY, add_generation_prompt=False)
            ends = [i for i, tok in enumerate(prefix) if tok == self.end_of_turn_id]
            if not ends:
                raise ChatTemplateError("the chat template renders no end-of-turn token after an assistant message.")
            self._feedback_prefix = prefix[: ends[-1] + 1]
        prefix = self._feedback_prefix
        full = self._render([*_FEEDBACK_DUMMY, {"role": "user", "content": content}], add_generation_prompt=True)
        if full[: len(prefix)] != prefix:
            raise ChatTemplateError(
                "the chat template cannot be extended turn by turn: it renders an assistant turn differently once "
                "a user message follows it. Pass a chat_template that renders earlier turns the same whatever "
                "follows them."
            )
        return full[len(prefix) :]

    def decode(self, ids: Sequence[int]) -> str:
        """Response text as the environment sees it (special tokens dropped, spacing untouched)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def run_episodes(
    envs: Sequence[ChatEnv],
    problem_ids: Sequence[str],
    generate: Generator,
    turn_tokenizer: TurnTokenizer,
    max_turns: int,
    seeds: Sequence[int | None] | None = None,
    independent: bool = False,
) -> list[Trajectory]:
    """Play one episode per (env, problem id), batching generation across episodes turn by turn.

    `independent=True` is the no-feedback baseline: every turn is a fresh sample from the first
    prompt (the trajectory's tokens are then not a training sequence).

    The episodes are played by an `EpisodeDriver` in lock-step: every call runs exactly `max_turns` generation
    rounds (a dummy context when all episodes ended), so processes that share a generation engine or gathered
    weights stay aligned, while the programs of each round are judged concurrently.
    """
    if len(envs) < len(problem_ids):
        raise ValueError(f"Need one environment per episode: got {len(envs)} for {len(problem_ids)} episodes.")
    trajectories: list[Trajectory] = []

    def act(episodes: list[Episode]) -> list[str]:
        trajs: list[Trajectory] = [e.data for e in episodes]
        for episode, traj in zip(episodes, trajs, strict=True):
            if not traj.prompt_ids:  # the first round, which every episode plays
                traj.prompt_ids = turn_tokenizer.prompt_ids(episode.info["messages"])
        contexts = [t.prompt_ids if independent else t.context_ids() for t in trajs] or [trajectories[0].prompt_ids]
        sampled, logprobs = generate(contexts)
        return [
            append_response(traj, sampled[k], logprobs[k] if logprobs is not None else None, turn_tokenizer)
            for k, traj in enumerate(trajs)
        ]

    def on_step(episode: Episode, text: str, result: tuple) -> None:
        append_step_result(episode.data, result, turn_tokenizer)

    driver = EpisodeDriver(envs[: len(problem_ids)], act, max_turns=max_turns, on_step=on_step, lock_step=True)
    for i, problem_id in enumerate(problem_ids):
        trajectories.append(Trajectory(problem_id, []))
        seed = seeds[i] if seeds is not None else None
        driver.submit(trajectories[-1], seed=seed, options={"problem_id": problem_id})
    for _ in driver.run():
        pass
    return trajectories


def append_response(
    traj: Trajectory, ids: Sequence[int], logprobs: Sequence[float] | None, turn_tokenizer: TurnTokenizer
) -> str:
    """Add a sampled response (its ids and sampler log-probs, NaN when the sampler gave none) to `traj` as its
    next turn; returns the response's text, the action the environment is stepped with."""
    ids = list(ids)
    start = len(traj.completion_ids)
    traj.completion_ids += ids
    traj.env_mask += [1] * len(ids)
    traj.logprobs += list(logprobs) if logprobs is not None else [math.nan] * len(ids)
    traj.turn_spans.append((start, start + len(ids)))
    traj.responses.append(turn_tokenizer.decode(ids))
    return traj.responses[-1]


def append_step_result(traj: Trajectory, result: tuple, turn_tokenizer: TurnTokenizer) -> None:
    """Add the environment's answer (`env.step`'s 5-tuple) to the response `append_response` added last: its
    reward, then the end of the episode or the feedback turn's tokens (masked out of the loss)."""
    _, reward, terminated, truncated, info = result
    traj.turn_rewards.append(float(reward))
    traj.invalid_turns += int(not info.get("valid_response", not _is_invalid_reward(float(reward))))
    if terminated or truncated:
        traj.done = True
        traj.judge_error = info.get("judge_error")
        traj.solved = traj.judge_error is None and bool(info.get("hidden", {}).get("all_passed", False))
        return
    eos = turn_tokenizer.end_of_turn_id
    suffix = turn_tokenizer.feedback_ids(info["messages"][-1]["content"])
    ids = traj.completion_ids[traj.turn_spans[-1][0] :]
    if not ids or ids[-1] != eos:  # truncated response: close the turn with an env-side end of turn
        suffix = [eos, *suffix]
    traj.completion_ids += suffix
    traj.env_mask += [0] * len(suffix)
    traj.logprobs += [0.0] * len(suffix)


def _is_invalid_reward(reward: float) -> bool:
    """Fallback when `info` lacks "valid_response": the no-code penalty (-0.2) makes the reward fractional."""
    return abs(reward - round(reward)) > 1e-6


def trajectories_to_rollout(trajectories: Sequence[Trajectory]) -> dict[str, Any]:
    """The dict a TRL `rollout_func` returns (plus per-episode fields that reach reward functions).

    Episodes with a `judge_error` get an all-zero `env_mask`: none of their tokens enters a loss. An episode
    still running has no final reward to train on, so it is refused (the environment allows more turns than
    the rollout played)."""
    running = [traj.problem_id for traj in trajectories if not traj.done]
    if running:
        raise ValueError(
            f"{len(running)} episode(s) had not ended after {max(t.num_turns for t in trajectories)} turn(s) "
            f"(first: {running[0]!r}): the environment allows more turns than the rollout plays; "
            "give the rollout the environment's max_turns"
        )
    has_logprobs = all(not math.isnan(lp) for traj in trajectories for lp in traj.logprobs)
    return {
        "prompt_ids": [traj.prompt_ids for traj in trajectories],
        "completion_ids": [traj.completion_ids for traj in trajectories],
        "logprobs": [traj.logprobs for traj in trajectories] if has_logprobs else None,
        "env_mask": [[0] * len(traj.env_mask) if traj.judge_error else traj.env_mask for traj in trajectories],
        "turn_spans": [traj.turn_spans for traj in trajectories],
        "turn_rewards": [traj.turn_rewards for traj in trajectories],
        "episode_return": [traj.episode_return for traj in trajectories],
        "solved": [traj.solved for traj in trajectories],
        "num_turns": [traj.num_turns for traj in trajectories],
        "invalid_turns": [traj.invalid_turns for traj in trajectories],
        "judge_error": [traj.judge_error for traj in trajectories],
    }


def episode_return_reward(
    completions: list, episode_return: list[float], judge_error: list[str | None] | None = None, **kwargs: Any
) -> list[float | None]:
    """TRL reward function: the environment's episode return carried by the rollout; None (no reward, left out
    of the group baseline and given advantage 0 by TRL) for an episode the judge could not judge."""
    errors = judge_error or [None] * len(episode_return)
    return [None if error else float(r) for r, error in zip(episode_return, errors, strict=True)]


def model_generator(
    model: PreTrainedModel, pad_token_id: int, generation_config: GenerationConfig, eos_token_ids: Sequence[int]
) -> Generator:
    """Sample with `model.generate` and return the sampler's log-probs (from the processed scores)."""

    def generate(contexts: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        device = next(model.parameters()).device
        width = max(len(c) for c in contexts)
        input_ids = torch.full((len(contexts), width), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, ctx in enumerate(contexts):  # left padding
            input_ids[row, width - len(ctx) :] = torch.tensor(ctx)
            attention_mask[row, width - len(ctx) :] = 1
        with torch.no_grad():
            out = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                generation_config=generation_config,
                output_scores=True,
                return_dict_in_generate=True,
            )
        new = out.sequences[:, width:]
        scores = torch.stack(out.scores, dim=1).float().log_softmax(-1)  # (B, N, V), sampler distribution
        lps = scores.gather(-1, new.unsqueeze(-1)).squeeze(-1)
        ids_out, lps_out = [], []
        for row in range(new.shape[0]):
            ids = new[row].tolist()
            end = next((j + 1 for j, tok in enumerate(ids) if tok in eos_token_ids), len(ids))
            ids_out.append(ids[:end])
            lps_out.append(lps[row, :end].tolist())
        return ids_out, lps_out

    return generate


@contextlib.contextmanager
def generation_mode(model: PreTrainedModel) -> Iterator[None]:
    """Eval mode without gradient checkpointing for the block, restored after.

    A model fresh out of a trainer may be in train mode with gradient checkpointing, which turns the KV cache
    off under `generate` (each step would then see only its newest token).
    """
    was_training, checkpointing = model.training, getattr(model, "is_gradient_checkpointing", False)
    if checkpointing:
        model.gradient_checkpointing_disable()
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
        if checkpointing:
            model.gradient_checkpointing_enable()


def sampled_episodes(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    env_factory: Callable[[], ChatEnv],
    problem_ids: Sequence[str],
    max_turns: int = 3,
    independent: bool = False,
    temperature: float = 1.0,
    max_new_tokens: int = 64,
    batch_size: int = 32,
    top_p: float = 1.0,
) -> Iterator[Trajectory]:
    """One episode per entry of `problem_ids`, sampled from `model` (in `generation_mode`), `batch_size` at a time
    on environments from `env_factory`."""
    turn_tokenizer = TurnTokenizer(tokenizer)
    end = turn_tokenizer.end_of_turn_id
    config = GenerationConfig(
        do_sample=True,
        temperature=temperature,
        top_k=0,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=end,
    )
    generate = model_generator(model, tokenizer.pad_token_id, config, [end])
    envs = [env_factory() for _ in range(min(batch_size, len(problem_ids)))]
    with generation_mode(model):
        for lo in range(0, len(problem_ids), batch_size):
            chunk = list(problem_ids[lo : lo + batch_size])
            yield from run_episodes(envs, chunk, generate, turn_tokenizer, max_turns, independent=independent)


def solve_rates(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    env_factory: Callable[[], ChatEnv],
    problem_ids: Sequence[str],
    max_turns: int = 3,
    **sampling: Any,
) -> list[float]:
    """Solve rate (hidden tests) within 1..max_turns turns, sampling from `model`: the evaluation runner's
    `solve_rate_by_turn` (averaged per problem) over one episode per entry of `problem_ids` (`sampled_episodes`,
    which takes the `sampling` options: independent, temperature, max_new_tokens, batch_size, top_p).

    Episodes the judge could not judge are left out (all of them: NaN rates)."""
    episodes = sampled_episodes(model, tokenizer, env_factory, problem_ids, max_turns, **sampling)
    outcomes = [
        RolloutOutcome(traj.problem_id, traj.num_turns, public_passed=False, solved=traj.solved)
        for traj in episodes
        if traj.judge_error is None
    ]
    if not outcomes:
        logger.warning("solve_rates: the judge could not judge any of %d episodes", len(problem_ids))
        return [math.nan] * max_turns
    return solve_rate_by_turn(outcomes, max_turns)


def trainer_generator(trainer: Any) -> Generator:
    """Generation through a TRL GRPO-style trainer: its vLLM engine (server/colocate) or `model.generate`.

    When the vLLM engine gathers prompts across ranks (server mode, or colocate with tensor parallelism > 1),
    every rank sends the same number of contexts per call (`pad_requests_across_ranks`), so every rank must
    call the generator the same number of times.
    """
    if trainer.use_vllm:

        def generate_vllm(contexts: list[list[int]]) -> tuple[list[list[int]], list[list[float]] | None]:
            return trainer._generate_single_turn(contexts, None, {}, 1)

        if gathers_across_ranks(trainer.vllm_generation, trainer.accelerator.num_processes):
            filler = [*trainer.eos_token_ids, 0][:1]  # a one-token context, used only by a rank with none
            return pad_requests_across_ranks(generate_vllm, trainer.accelerator, filler)
        return generate_vllm

    from trl.models import unwrap_model_for_generation

    def generate_local(contexts: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        with unwrap_model_for_generation(
            trainer.model_wrapped,
            trainer.accelerator,
            gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
            generation_kwargs=trainer.generation_kwargs,
        ) as unwrapped:
            generate = model_generator(
                unwrapped, trainer._tokenizer.pad_token_id, trainer.generation_config, trainer.eos_token_ids
            )
            return generate(contexts)

    return generate_local


def make_rollout_func(env_factory: Callable[[], ChatEnv], max_turns: int) -> Callable[[list, Any], dict[str, Any]]:
    """A TRL `rollout_func`: each prompt is a problem id; plays one multi-turn episode per prompt.

    Each process keeps its own pool of environments, so every rank judges its own rollouts.
    """
    envs: list[ChatEnv] = []
    state: dict[str, TurnTokenizer] = {}

    def rollout_func(prompts: list, trainer: Any) -> dict[str, Any]:
        while len(envs) < len(prompts):
            envs.append(env_factory())
        if "tt" not in state:
            state["tt"] = TurnTokenizer(
                trainer._tokenizer, getattr(trainer, "chat_template", None), stop_token_ids=trainer.eos_token_ids
            )
        trajectories = run_episodes(envs, [str(p) for p in prompts], trainer_generator(trainer), state["tt"], max_turns)
        return trajectories_to_rollout(trajectories)

    return rollout_func
