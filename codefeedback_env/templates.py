"""The prompt and feedback texts. Defaults are the RLEF paper's templates, word for word.

Stdio problems use the paper's CodeContests templates; function problems (HumanEval, MBPP, MBPP+) its MBPP+
templates (appendix C.5). The paper's HumanEval+ prompt relies on prefilling the response with the function's
prompt, which an environment cannot do (it only sees finished responses), so HumanEval uses the MBPP+ form,
which asks for fenced code; the problem's prompt is still prepended to every submitted program.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE_FORMAT_REMINDER = (
    "Your code should be enclosed in triple backticks like so: ```python YOUR CODE HERE ```. "
    "Use the backticks for your code only."
)


@dataclass(frozen=True)
class Templates:
    """Every text the environment shows the model. `{name}` fields are filled with str.format."""

    stdio_prompt: str = (
        "Provide a Python solution for the following competitive programming question: {problem}.\n\n"
        + CODE_FORMAT_REMINDER
    )
    function_prompt: str = (
        "Provide a Python solution for the following problem: {problem}\nYour code should pass these tests:\n\n"
        "{tests}\n\n" + CODE_FORMAT_REMINDER
    )
    failed_header: str = "Your code failed the following tests:\n\n"
    wrong_answer: str = "- input `{input}` failed:\nExpected output `{expected}` but got `{observed}`"
    runtime_error: str = "- input `{input}` failed:\n{traceback}"
    time_limit: str = "- input `{input}` failed: Execution took too long."
    memory_limit: str = "- input `{input}` failed: Out of memory."
    output_limit: str = "- input `{input}` failed: The output was too long."
    function_header: str = "Your code failed some test cases:\n\n"
    assert_passed: str = "- Success: `{input}`"
    assert_failed: str = "- Failure: `{input}`:\n`{detail}`"
    assert_error: str = "- Failure: `{input}`:\n{traceback}"
    assert_time_limit: str = "- Failure: `{input}`:\nExecution took too long."
    function_retry: str = "Give it another try."
    no_code: str = "Your response did not contain any code in triple backticks."
    retry: str = "Give it another try.\n" + CODE_FORMAT_REMINDER


PAPER_TEMPLATES = Templates()
