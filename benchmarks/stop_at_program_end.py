"""Tokens and time saved by stopping each response after its first ```python block, on the demo set.

    python benchmarks/stop_at_program_end.py [--model smollm2] [--limit 6] [--max-new-tokens 256]

Generates the turn-1 response of the first `--limit` demo problems with the same TransformersAgent
twice, seeded the same: full responses (the paper) and `stop_at_program_end`. Prints generated tokens,
wall time, and the programs extracted by each, with the ratios stop / full measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import time

from agents.llm.sampling import SamplingConfig
from agents.llm.transformers_agent import TransformersAgent
from codefeedback_env.extraction import extract_code
from codefeedback_env.feedback import initial_prompt
from codefeedback_env.problems import load_problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    problems = load_problems("demo")[: args.limit]
    conversations = [[{"role": "user", "content": initial_prompt(p)}] for p in problems]
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=args.max_new_tokens)
    full = TransformersAgent(args.model, greedy, batch_size=args.batch_size, dtype=args.dtype)
    stopping = SamplingConfig(temperature=0.0, max_new_tokens=args.max_new_tokens, stop_at_program_end=True)
    stop = TransformersAgent(full.model, stopping, batch_size=args.batch_size, tokenizer=full.tokenizer)
    results = {}
    for name, agent in (("full", full), ("stop", stop)):
        started = time.perf_counter()
        completions = agent.generate(conversations)
        results[name] = {
            "seconds": time.perf_counter() - started,
            "tokens": sum(len(c.token_ids) for c in completions),
            "finish_reasons": [c.finish_reason for c in completions],
            "programs": [extract_code(c.text) for c in completions],
        }
        print(f"{name}: {results[name]['tokens']} tokens in {results[name]['seconds']:.1f} s")
    same = sum(a == b for a, b in zip(results["full"]["programs"], results["stop"]["programs"], strict=True))
    summary = {
        "responses": len(problems),
        "token_ratio": results["stop"]["tokens"] / max(results["full"]["tokens"], 1),
        "time_ratio": results["stop"]["seconds"] / results["full"]["seconds"],
        "same_program": same,
        "stop_finish_reasons": results["stop"]["finish_reasons"],
    }
    print(f"stop/full: tokens x{summary['token_ratio']:.2f}, time x{summary['time_ratio']:.2f}; "
          f"same program in {same}/{len(problems)} responses")  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
