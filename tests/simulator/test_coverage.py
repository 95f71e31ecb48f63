"""Runtime Monitoring coverage of the administrator and its members."""

from .world import ADMIN, MEMBER


def test_coverage_lists_resources_of_the_administrator_and_enabled_members(gd_client, admin_detector,
                                                                           enabled_member):
    resources = gd_client(ADMIN).list_coverage(DetectorId=admin_detector, MaxResults=50)["Resources"]
    assert {resource["AccountId"] for resource in resources} == {ADMIN, MEMBER}
    assert {resource["ResourceDetails"]["ResourceType"] for resource in resources} <= {"EKS", "EC2", "ECS"}


def test_coverage_filters_by_account_and_sorts(gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    resources = client.list_coverage(
        DetectorId=admin_detector,
        FilterCriteria={"FilterCriterion": [{"CriterionKey": "ACCOUNT_ID", "FilterCondition": {"Equals": [MEMBER]}}]},
        SortCriteria={"AttributeName": "COVERAGE_STATUS", "OrderBy": "ASC"})["Resources"]
    assert resources and {resource["AccountId"] for resource in resources} == {MEMBER}
    statuses = [resource["CoverageStatus"] for resource in resources]
    assert statuses == sorted(statuses)


def test_plan_off_means_unhealthy_coverage(gd_client, admin_detector):
    client = gd_client(ADMIN)
    client.update_detector(DetectorId=admin_detector, Features=[{"Name": "RUNTIME_MONITORING", "Status": "DISABLED"}])
    resources = client.list_coverage(DetectorId=admin_detector)["Resources"]
    assert {resource["CoverageStatus"] for resource in resources} == {"UNHEALTHY"}


def test_coverage_statistics_count_what_the_list_shows(gd_client, admin_detector, enabled_member):
    client = gd_client(ADMIN)
    resources = client.list_coverage(DetectorId=admin_detector, MaxResults=50)["Resources"]
    statistics = client.get_coverage_statistics(
        DetectorId=admin_detector, StatisticsType=["COUNT_BY_RESOURCE_TYPE", "COUNT_BY_COVERAGE_STATUS"])
    assert sum(statistics["CoverageStatistics"]["CountByResourceType"].values()) == len(resources)
    assert sum(statistics["CoverageStatistics"]["CountByCoverageStatus"].values()) == len(resources)


def _management(resource):
    details = resource["ResourceDetails"]
    for key in ("EksClusterDetails", "Ec2InstanceDetails"):
        if key in details:
            return details[key]["ManagementType"]
    return details["EcsClusterDetails"]["FargateDetails"]["ManagementType"]


def test_automated_agent_management_deploys_the_agent_so_every_resource_of_that_type_reports(
    gd_client, admin_detector
):
    client = gd_client(ADMIN)
    client.update_detector(DetectorId=admin_detector, Features=[{"Name": "RUNTIME_MONITORING", "Status": "ENABLED",
                           "AdditionalConfiguration": [{"Name": name, "Status": "DISABLED"} for name in (
                               "EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT")]}])  # fmt: skip
    manual = client.list_coverage(DetectorId=admin_detector, MaxResults=50)["Resources"]
    # botocore's ManagementType: MANUAL does not apply to Fargate, DISABLED not to EC2 and EKS.
    assert {(r["ResourceDetails"]["ResourceType"], _management(r)) for r in manual} <= {
        ("EKS", "MANUAL"), ("EC2", "MANUAL"), ("ECS", "DISABLED")}  # fmt: skip
    client.update_detector(DetectorId=admin_detector, Features=[{"Name": "RUNTIME_MONITORING", "Status": "ENABLED",
                           "AdditionalConfiguration": [{"Name": name, "Status": "ENABLED"} for name in (
                               "EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT")]}])  # fmt: skip
    managed = client.list_coverage(DetectorId=admin_detector, MaxResults=50)["Resources"]
    assert len(managed) == len(manual)
    assert {(_management(r), r["CoverageStatus"]) for r in managed} == {("AUTO_MANAGED", "HEALTHY")}
