"""Call counting: what the product's tests use to assert minimal AWS traffic."""

from .world import ADMIN, OTHER_REGION, REGION


def test_calls_are_counted_per_operation_and_per_account_and_region(state, gd_client, admin_detector):
    gd_client(ADMIN).list_findings(DetectorId=admin_detector)
    gd_client(ADMIN).list_findings(DetectorId=admin_detector)
    gd_client(ADMIN, OTHER_REGION).list_detectors()
    assert state.call_counts["ListFindings"] == 2
    assert state.call_counts[("ListFindings", ADMIN, REGION)] == 2
    assert state.call_counts[("ListDetectors", ADMIN, OTHER_REGION)] == 1
    assert state.call_counts[("ListDetectors", ADMIN, REGION)] == 0


def test_failed_calls_count_too(state, gd_client, admin_detector):
    state.faults.add("throttle", operation="GetFindings")
    try:
        gd_client(ADMIN).get_findings(DetectorId=admin_detector, FindingIds=["a" * 32])
    except gd_client(ADMIN).exceptions.ClientError:
        pass
    assert state.call_counts["GetFindings"] == 1


def test_counts_reset_to_zero(state, gd_client, admin_detector):
    state.call_counts.reset()
    assert state.call_counts.total == 0
    gd_client(ADMIN).list_detectors()
    assert state.call_counts.snapshot()["by_operation"] == {"ListDetectors": 1}
