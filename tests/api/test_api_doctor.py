"""The member's treating doctor through the API (the desk, with the member's consent): what an
attacker or a hurried desk sends is a 422 that stores nothing; the doctor is named once, and the
consent withdrawn once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.conftest import LiveApi
from tests.api.test_api_edges import stored
from tests.api.test_thin_cli import bare_env, smo

C = "/api/v1/cases/{}"
DOCTOR: dict[str, Any] = {
    "name": "Dr Sok Dara",
    "hospital": "Calmette Hospital",
    "email": "dr.sok@example.com",
    "member_consented": True,
}


async def test_the_desk_names_the_doctor_with_the_member_s_consent_and_bad_bodies_store_nothing(
    live_api: LiveApi,
) -> None:
    desk = live_api.token("doctor-desk")
    await live_api.open_case(desk, "DOCTOR-API-1")
    path = C.format("DOCTOR-API-1") + "/doctor"
    before = stored(live_api)
    for body, words in (
        ({**DOCTOR, "member_consented": False}, "body.member_consented"),
        ({k: v for k, v in DOCTOR.items() if k != "member_consented"}, "body.member_consented"),
        ({**DOCTOR, "email": "not an address"}, "body.email"),
        ({**DOCTOR, "name": "Dr\x00Sok"}, "NUL characters"),
        ({**DOCTOR, "hospital": "h" * 59}, "body.hospital"),
        ({**DOCTOR, "by": "supervisor:root"}, "body"),
        ([DOCTOR], "body"),
    ):
        code, answer, _ = await live_api.call("POST", path, desk, json=body)
        assert code == 422 and words in answer["error"], answer
        assert "Dr\x00Sok" not in answer["error"]  # the refusal never repeats the value
    assert stored(live_api) == before

    code, answer, _ = await live_api.call("POST", path, desk, json=DOCTOR)
    assert code == 200, answer
    code, answer, _ = await live_api.call("POST", path, desk, json=DOCTOR)
    assert code == 409 and "withdraw that first" in answer["error"], answer
    _, status, _ = await live_api.call("GET", C.format("DOCTOR-API-1"), desk)
    assert status["doctor"]["withdrawn_at"] is None and "Sok" not in str(status)  # no PHI in status

    code, answer, _ = await live_api.call("POST", path + "/withdraw", desk, json={})
    assert code == 200, answer
    code, answer, _ = await live_api.call("POST", path + "/withdraw", desk, json={})
    assert code == 409 and "not shared with a treating doctor" in answer["error"], answer


async def test_the_cli_shares_only_with_the_member_s_consent_and_withdraws(
    live_api: LiveApi, tmp_path: Path
) -> None:
    env = bare_env(live_api.url, live_api.token("doctor-cli"))
    await live_api.open_case(live_api.token("opener"), "DOCTOR-CLI-1")
    share = [
        "doctor",
        "share",
        "DOCTOR-CLI-1",
        "--name",
        "Dr Sok",
        "--hospital",
        "Calmette",
        "--email",
        "d@example.com",
    ]
    code, _, err = await smo(*share, env=env, cwd=tmp_path)
    assert code == 2 and "--member-consented" in err
    code, out, err = await smo(*share, "--member-consented", env=env, cwd=tmp_path)
    assert code == 0, err
    code, out, err = await smo("doctor", "withdraw", "DOCTOR-CLI-1", env=env, cwd=tmp_path)
    assert code == 0 and "no longer opens the report" in out, (out, err)
