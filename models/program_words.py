"""A program's words to a member: why a request was refused and what they can do next.

Each eligibility rule of a program file may carry `member:` words, written in plain English
for someone with little formal schooling (`models.program_rules.Rule.member`);
`Program.member_words` gives them, or the general words below for a rule without its own.
The page or the email that shows them translates them where it shows them:
`gettext(words.reason, language)`.

The program files are data, so Babel's Python extractor never sees their sentences: `extract`
is the Babel extraction method that hands them to the catalog (babel.cfg,
`[models.program_words:extract: programs/*.yaml]`), with the program's title and its
no-reimbursement notice, the other sentences of a program file a member reads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any, Literal

import yaml

from models.case import Frozen
from models.program_fields import MemberText
from models.vocabulary import N_

__all__ = ["GENERAL_WORDS", "MEMBER_FACING", "N_", "MemberWords", "extract"]


class MemberWords(Frozen):
    """What a member reads when a rule refuses their request: why, and what they can do now."""

    reason: MemberText
    next_step: MemberText
    # Always our own words: the seed's sentences are legal text, not plain words to a member.
    source: Literal["product"] = "product"


# For a rule that has no words of its own (a program file written without them).
GENERAL_WORDS = MemberWords(
    reason=N_("Your cover does not include a second opinion for this request."),
    next_step=N_("Please call our desk. We can tell you why, and what you can do next."),
)

# Where a program file holds a sentence a member reads; "*" is any item of a list.
MEMBER_FACING: frozenset[tuple[str, ...]] = frozenset(
    {
        ("title",),
        ("no_reimbursement_notice", "text"),
        ("eligibility", "rules", "*", "member", "reason"),
        ("eligibility", "rules", "*", "member", "next_step"),
    }
)

_STR = "tag:yaml.org,2002:str"


def _sentences(node: yaml.Node, path: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _sentences(value, (*path, str(key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _sentences(item, (*path, "*"))
    elif isinstance(node, yaml.ScalarNode) and node.tag == _STR and path in MEMBER_FACING:
        # The composed node holds the scalar as the program reads it (a folded `>-` block
        # is one line), and where it starts, for the catalog's reference.
        yield node.start_mark.line + 1, str(node.value)


def extract(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method: each member-facing sentence of one program file."""
    root = yaml.compose(fileobj, Loader=yaml.SafeLoader)
    if root is None:
        return
    for line, text in _sentences(root, ()):
        yield line, None, text, []
