"""The member's questions on their case page: written while records are gathered, counted by the
case, refused past five or past 1,000 characters (nothing changes), and closed once a specialist
is being chosen."""

from __future__ import annotations

from tests.portal.conftest import Site
from tests.portal.test_portal_uploads import signed_in


async def test_the_member_writes_their_questions_until_the_specialist_has_them(site: Site) -> None:
    case_id = "QUESTIONS-1"
    http, csrf = await signed_in(site, case_id)
    page = site.url + f"/portal/cases/{case_id}"
    async with http:
        async with http.get(page) as resp:
            assert 'id="questions-form"' in await resp.text()
        for asked in (["one?"] * 6, ["x" * 1001]):
            form = [("csrf", csrf), *[("question", q) for q in asked]]
            async with http.post(page + "/questions", data=form, allow_redirects=False) as refused:
                assert refused.status == 422, await refused.text()
                assert "x" * 50 not in await refused.text()  # never what was typed
        _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
        assert status["questions"] == 0

        form = [
            ("csrf", csrf),
            ("question", "Is surgery needed now?"),
            ("question", ""),
            ("question", "Can I work?"),
        ]
        async with http.post(page + "/questions", data=form, allow_redirects=False) as saved:
            assert saved.status == 303, await saved.text()
        _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
        assert status["questions"] == 2
        sheet = site.services.store.load_intake(case_id, status["intake_doc_id"])
        assert sheet.questions == ["Is surgery needed now?", "Can I work?"]
        async with http.get(page) as resp:
            assert "Can I work?</textarea>" in await resp.text()

        # Once a specialist is being chosen, the questions are theirs: the page has no form.
        await site.attest_consent(case_id)
        await site.complete_records(case_id)
        await site.stage(case_id, "ASSIGNING_SPECIALIST", "UNDER_REVIEW")
        async with http.get(page) as resp:
            assert 'id="questions-form"' not in await resp.text()
        form = [("csrf", csrf), ("question", "One more?")]
        async with http.post(page + "/questions", data=form, allow_redirects=False) as late:
            assert late.status == 409
        _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
        assert status["questions"] == 2
