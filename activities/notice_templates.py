"""The words of every notice: Jinja2 templates in templates/email/, one file per notice kind.

`<kind>.txt` holds a `subject` block and a `body` block of plain text; `parts/portal.txt` the
paragraphs that carry a portal link into a body. They are Jinja2 files, not Python strings,
so that they can be translated: every sentence is a `{% trans %}` block, extracted by Babel
into the catalog (runtime/i18n.py). A template that serves several audiences branches on
`audience` (`models.notices.Audience`) where they must read different things.

Each line of a file is a line of the mail: a sentence's block ends on its own line, so the
environment keeps the line break after a tag (no `trim_blocks`), and a tag that stands on a
line of its own says so with `-%}`.

Subjects carry no PHI: mail subjects end up in logs and notification previews.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from jinja2.runtime import Context

from models.notices import NoticeKind
from runtime import i18n
from runtime.i18n import Language

TEMPLATES = Path(__file__).with_name("templates") / "email"


class _Placeholder(StrictUndefined):
    """A value the notice does not supply is written as its `$name` placeholder.

    The notices were `string.Template`s filled in with `safe_substitute`, which leaves an
    unknown placeholder as it is; the mail says the same as it did. Any other use of a
    missing value (a test, a filter, an attribute) fails, as with StrictUndefined.
    """

    __slots__ = ()

    # StrictUndefined's __str__ raises, so its stub returns NoReturn; this one writes the text.
    def __str__(self) -> str:  # type: ignore[override]
        return f"${self._undefined_name}"


def _environment(language: Language) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,  # text/plain: nothing to escape, and the values go out as they are
        undefined=_Placeholder,
        # The files change with a release, not while a worker runs: no stat of the file per notice.
        auto_reload=False,
    )
    return i18n.install(env, language)


# One environment per language, each with its catalog (runtime/i18n.py).
_envs = {language: _environment(language) for language in Language}


def _block(template: Template, name: str, context: Context) -> str:
    # One block, not the whole file: what lies between the blocks lays out the file, not the mail.
    return "".join(template.blocks[name](context))


def render_notice(
    kind: NoticeKind, values: Mapping[str, object], language: Language = Language.EN
) -> tuple[str, str]:
    """The subject and the body of a notice of this kind in `language`, filled in with `values`."""
    template = _envs[language].get_template(f"{kind.value}.txt")
    # One context for both blocks: building it is most of what rendering costs.
    context = template.new_context(dict(values))
    return _block(template, "subject", context), _block(template, "body", context)


def render_portal_text(part: str, language: Language = Language.EN, **values: str) -> str:
    """A paragraph with a portal link: `sign_in` (a member's) or `assignment` (a specialist's)."""
    template = _envs[language].get_template("parts/portal.txt")
    return _block(template, part, template.new_context(values))
