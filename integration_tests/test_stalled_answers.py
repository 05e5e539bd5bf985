"""A page that stalls half way, with the real 60 s read timeout (this file takes about a minute and runs beside the
others): the request is given up and sent again, and the sync completes with every record."""

import pytest

from emulator import Emulator
from tests.support.builders import emulator_v2_config, run_read, sorted_ids


@pytest.mark.usefixtures("sleeps")
def test_a_page_that_stalls_half_way_is_sent_again_after_the_read_timeout(emulator: Emulator) -> None:
    emulator.faults.spoil_answers("/v2/lists/1/contacts?next=", times=1, kind="stall")

    output = run_read(emulator_v2_config(emulator, list_ids=["1"]), "cc_v2_list_contacts")

    assert output.errors == []
    assert sorted_ids(output) == sorted(c["id"] for c in emulator.data.v2_list_contacts("1"))
    # Page 2 stalled after half its body, then came whole; page 3 followed.
    assert [(("next" in r.query), r.status) for r in emulator.requests] == [(False, 200), (True, 200), (True, 200), (True, 200)]
    assert [m.log.message for m in output.logs if "Read timed out" in m.log.message]
