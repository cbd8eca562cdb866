"""Token-exact multi-turn rollouts: no re-tokenisation drift, masks, spans and sampler log-probs."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig

from agents.rlef.rollout import TurnTokenizer, model_generator, run_episodes, trajectories_to_rollout
from agents.rlef.toy import SecretWordEnv, secret_response


def scripted(tokenizer, answers):
    """A generator that answers the k-th call with `answers[k]` for every context."""
    calls = iter(answers)

    def generate(contexts):
        ids = tokenizer(secret_response(next(calls)), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        return [list(ids) for _ in contexts], [[-0.5] * len(ids) for _ in contexts]

    return generate


def test_contexts_match_the_chat_template_applied_to_the_transcript(tokenizer) -> None:
    tt = TurnTokenizer(tokenizer)
    env = SecretWordEnv(max_turns=3)
    (traj,) = run_episodes([env], ["secret/apple"], scripted(tokenizer, ["river", "stone", "apple"]), tt, 3)
    assert traj.num_turns == 3 and traj.solved and traj.turn_rewards == [0.0, 0.0, 1.0]
    # The sequence trained on equals the template applied once to the whole transcript.
    transcript = env._messages
    rendered = tokenizer.apply_chat_template(transcript, tokenize=True, return_dict=False)
    trained = traj.prompt_ids + traj.completion_ids
    assert trained == list(rendered)[: len(trained)]
    # Each context the sampler saw is a prefix of the final sequence.
    for start, end in traj.turn_spans:
        assert traj.env_mask[start:end] == [1] * (end - start)
        assert traj.logprobs[start:end] == [-0.5] * (end - start)
    feedback = [j for j, m in enumerate(traj.env_mask) if m == 0]
    assert feedback and all(traj.logprobs[j] == 0.0 for j in feedback)
    decoded = [tokenizer.decode(traj.completion_ids[s:e], skip_special_tokens=True) for s, e in traj.turn_spans]
    assert decoded == traj.responses == [secret_response(w) for w in ("river", "stone", "apple")]


def test_solved_first_turn_and_rollout_dict(tokenizer) -> None:
    tt = TurnTokenizer(tokenizer)
    trajs = run_episodes(
        [SecretWordEnv(3), SecretWordEnv(3)],
        ["secret/apple", "secret/tiger"],
        scripted(tokenizer, ["apple"] * 3),
        tt,
        3,
    )
    out = trajectories_to_rollout(trajs)
    assert out["num_turns"] == [1, 3] and out["solved"] == [True, False]
    assert out["episode_return"] == [1.0, -1.0]
    assert all(
        len(c) == len(m) == len(lp)
        for c, m, lp in zip(out["completion_ids"], out["env_mask"], out["logprobs"], strict=True)
    )


def test_sampler_logprobs_match_a_forward_pass(tokenizer, policy) -> None:
    torch.manual_seed(0)
    config = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=8,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    generate = model_generator(policy, tokenizer.pad_token_id, config, [tokenizer.eos_token_id])
    tt = TurnTokenizer(tokenizer)
    (traj,) = run_episodes([SecretWordEnv(2)], ["secret/apple"], generate, tt, 2)
    ids = torch.tensor([traj.prompt_ids + traj.completion_ids])
    with torch.no_grad():
        logps = policy(ids).logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None]).squeeze(-1)
    logps = logps[len(traj.prompt_ids) - 1 :]
    for start, end in traj.turn_spans:
        assert torch.allclose(logps[start:end], torch.tensor(traj.logprobs[start:end]), atol=1e-4)


def test_an_episode_still_running_is_refused_as_training_data(tokenizer) -> None:
    """An environment allowing more turns than the rollout plays leaves episodes without a final reward."""
    tt = TurnTokenizer(tokenizer)
    trajs = run_episodes([SecretWordEnv(max_turns=3)], ["secret/apple"], scripted(tokenizer, ["river", "stone"]), tt, 2)
    assert not trajs[0].done
    with pytest.raises(ValueError, match=r"had not ended after 2 turn\(s\).*environment's max_turns"):
        trajectories_to_rollout(trajs)
