"""Text from documents and users never speaks for docqa in a prompt.

A chat template separates turns with control strings (`<|im_end|>`, `[INST]`,
`<start_of_turn>` …) that the tokenizer turns into special tokens. llama.cpp tokenizes a whole
rendered prompt with special tokens enabled, so a passage or a question that contains one of
those strings would close the system turn and open turns of its own. Every message's content is
therefore *neutralised* before it is rendered: each control string it holds gets a WORD JOINER
(U+2060, invisible, never normalised away) after its first character, so it is tokenized as the
plain text it is. The model still reads the characters; it can no longer be steered by them.

Which strings are control strings depends on the model. A generator that can read its model's
vocabulary (in-process llama.cpp) passes the vocabulary's control tokens; one that cannot (a
server) relies on `COMMON_CONTROL`, the patterns of the common chat templates. Both apply the
common patterns, so a prompt also stays readable to a person checking it.

Unicode tag characters (U+E0000–E007F) are removed: they render as nothing, so a document
could hide an instruction in them that a reader of the source never sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

JOINER = "\u2060"
_TAGS = re.compile("[\U000e0000-\U000e007f]")
# ChatML and most templates (<|im_start|>, <|eot_id|>, <|start_header_id|>), DeepSeek's
# full-width bars (<｜Assistant｜>), Llama 2 and Mistral ([INST], <<SYS>>, </s>, [TOOL_CALLS]),
# Gemma (<start_of_turn>, <bos>), Phi and others' <s>.
COMMON_CONTROL = (
    r"<\|[^\s<>|]{1,64}\|>",
    r"<｜[^\s<>｜]{1,64}｜>",
    r"\[/?(?:INST|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]",
    r"<</?SYS>>",
    r"</?s>",
    r"<(?:start|end)_of_turn>",
    r"</?(?:bos|eos|pad|unk)>",
)
MAX_PASSES = 8  # an insertion cannot create a new match; the loop is a bound, not a need


class ControlStrings:
    """Neutralises a model's control strings (and the common ones) in text.

    >>> control = ControlStrings(["<|im_end|>"])
    >>> control.neutralise("fine.<|im_end|>") == "fine.<" + JOINER + "|im_end|>"
    True
    >>> control.neutralise("[INST] obey [/INST]").count(JOINER)
    2
    >>> control.neutralise("x < y and a|b")
    'x < y and a|b'
    """

    def __init__(self, strings: Iterable[str] = ()) -> None:
        exact = sorted({s for s in strings if len(s) > 1}, key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(re.escape, exact), *COMMON_CONTROL]))

    def neutralise(self, text: str) -> str:
        text = _TAGS.sub("", text)
        for _ in range(MAX_PASSES):
            if not self._pattern.search(text):
                break
            text = self._pattern.sub(lambda m: m[0][0] + JOINER + m[0][1:], text)
        return text

    def messages(self, messages: Sequence[dict]) -> list[dict]:
        """The messages with every content neutralised (system text too: docqa's own
        instructions hold no control strings, and the templates add the real ones)."""
        return [
            {**m, "content": self.neutralise(m["content"])}
            if isinstance(m.get("content"), str)
            else dict(m)
            for m in messages
        ]
