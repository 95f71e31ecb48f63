"""How ListFindings pages: snapshot tokens (the default), offset tokens on demand, and the `Date` header.

AWS documents nothing about what a NextToken holds ("fill nextToken in the request with the value of
NextToken from the previous response to continue listing data": botocore's guardduty model,
ListFindingsRequest.NextToken), so GuardWatch must survive tokens that are bare offsets into a result
that changes while it pages. The simulator offers both kinds.
"""

from datetime import timedelta
from email.utils import parsedate_to_datetime

from .world import ADMIN, REGION, START

SORT = {"AttributeName": "updatedAt", "OrderBy": "ASC"}


def _first_pages(client, detector, size=10):
    first = client.list_findings(DetectorId=detector, SortCriteria=SORT, MaxResults=size)
    return first, lambda: client.list_findings(DetectorId=detector, SortCriteria=SORT, MaxResults=size,
                                               NextToken=first["NextToken"])


def test_snapshot_tokens_page_the_result_as_it_was_at_the_first_page(state, gd_client, admin_detector):
    state.generate_findings(ADMIN, REGION, 30, spread=timedelta(days=3))
    first, second_page = _first_pages(gd_client(ADMIN), admin_detector)
    state.advance_clock(60)
    state.repeat_finding(REGION, first["FindingIds"][0])  # moves to the end of the sorted result

    ordered = [stored.id for stored in state.region_findings(REGION).select(
        frozenset({ADMIN}), _criteria(), ("updatedAt", "ASC"))]
    assert second_page()["FindingIds"] != ordered[10:20]  # the snapshot, not the current result


def test_offset_tokens_skip_a_finding_when_one_already_listed_moves_to_the_end(state, gd_client, admin_detector,
                                                                                control):
    assert control("POST", "/_sim/paging", {"tokens": "offset"}) == (200, {"tokens": "offset"})
    state.generate_findings(ADMIN, REGION, 30, spread=timedelta(days=3))
    first, second_page = _first_pages(gd_client(ADMIN), admin_detector)
    before = [stored.id for stored in _select(state)]
    state.advance_clock(60)
    state.repeat_finding(REGION, first["FindingIds"][0])

    second = second_page()["FindingIds"]

    assert second == before[11:21]  # everything shifted left by one: before[10] was never listed
    assert before[10] not in first["FindingIds"] + second


def test_offset_tokens_repeat_a_finding_when_one_arrives_before_the_position(state, gd_client, admin_detector):
    state.listing_tokens = "offset"
    state.generate_findings(ADMIN, REGION, 30, spread=timedelta(days=3))
    first, second_page = _first_pages(gd_client(ADMIN), admin_detector)
    oldest = _select(state)[0].data["UpdatedAt"]
    state.add_new_finding(_older_copy(state, oldest))

    second = second_page()["FindingIds"]

    assert second[0] == first["FindingIds"][-1]  # shifted right: the last of page 1 comes again


def test_an_unknown_paging_mode_is_refused(control):
    status, body = control("POST", "/_sim/paging", {"tokens": "cursor"})
    assert status == 400 and "'tokens' must be" in body["error"]


def test_every_response_is_dated_by_the_simulators_clock(state, gd_client, admin_detector):
    response = gd_client(ADMIN).list_findings(DetectorId=admin_detector)

    dated = parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])
    assert dated == START.replace(microsecond=0)  # not the host's clock (START is in the past)

    state.advance_clock(90.7)
    later = gd_client(ADMIN).list_detectors()["ResponseMetadata"]["HTTPHeaders"]["date"]
    assert parsedate_to_datetime(later) == (START + timedelta(seconds=90)).replace(microsecond=0)


def _criteria():
    from gdsim.criteria import Criteria

    return Criteria(None)


def _select(state):
    return state.region_findings(REGION).select(frozenset({ADMIN}), _criteria(), ("updatedAt", "ASC"))


def _older_copy(state, oldest_updated_at):
    """A new finding of ADMIN updated before every other one (a late arrival at the front of the result)."""
    import copy
    from datetime import datetime

    template = copy.deepcopy(_select(state)[0].data)
    moment = datetime.fromisoformat(oldest_updated_at.replace("Z", "+00:00")) - timedelta(seconds=5)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    template["UpdatedAt"] = template["CreatedAt"] = stamp
    template["Id"] = "f" * 32
    template["Arn"] = template["Arn"].rsplit("/", 1)[0] + "/" + template["Id"]
    return template
