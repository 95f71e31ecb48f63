"""UpdateOrganizationConfiguration takes AutoEnableOrganizationMembers or the deprecated AutoEnable,
never both.

API reference (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_UpdateOrganizationConfiguration.html,
the same text in botocore's guardduty service-2.json): "You must provide a value for either
autoEnableOrganizationMembers or autoEnable, but not both." botocore marks AutoEnable deprecated:
"This field is deprecated, use AutoEnableOrganizationMembers instead". Invalid input is a
BadRequestException (the operation's only modelled client error).
"""

import pytest

from . import test_organization
from .world import ADMIN, MEMBER, OTHER_MEMBER

# The organization (ADMIN delegated administrator, MEMBER in it) of test_organization.py.
organization = test_organization.organization
delegated_admin = test_organization.delegated_admin


@pytest.mark.parametrize("auto_enable, members", [(True, "NEW"), (False, "NONE"), (True, "ALL"), (False, "NEW")])
def test_both_settings_in_one_call_are_refused_and_change_nothing(state, gd_client, delegated_admin,
                                                                   auto_enable, members):
    client = gd_client(ADMIN)
    with pytest.raises(client.exceptions.BadRequestException) as raised:
        client.update_organization_configuration(DetectorId=delegated_admin, AutoEnable=auto_enable,
                                                 AutoEnableOrganizationMembers=members)
    message = raised.value.response["Error"]["Message"]
    assert "autoEnable" in message and "autoEnableOrganizationMembers" in message
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    configuration = client.describe_organization_configuration(DetectorId=delegated_admin)
    assert configuration["AutoEnableOrganizationMembers"] == "NONE"  # unchanged
    assert client.list_members(DetectorId=delegated_admin)["Members"] == []  # ALL enabled no one


def test_auto_enable_organization_members_alone_is_accepted(gd_client, delegated_admin):
    client = gd_client(ADMIN)
    client.update_organization_configuration(DetectorId=delegated_admin, AutoEnableOrganizationMembers="ALL")
    configuration = client.describe_organization_configuration(DetectorId=delegated_admin)
    assert configuration["AutoEnableOrganizationMembers"] == "ALL"
    assert MEMBER in {m["AccountId"] for m in client.list_members(DetectorId=delegated_admin)["Members"]}


def test_the_deprecated_auto_enable_alone_is_still_accepted(state, gd_client, delegated_admin):
    """AutoEnable: "This applies to only new member accounts" (model text): true means NEW."""
    client = gd_client(ADMIN)
    client.update_organization_configuration(DetectorId=delegated_admin, AutoEnable=True)
    assert client.describe_organization_configuration(DetectorId=delegated_admin)["AutoEnableOrganizationMembers"] \
        == "NEW"
    state.register_account(OTHER_MEMBER, "other@example.com", organization=True)
    assert [m["AccountId"] for m in client.list_members(DetectorId=delegated_admin)["Members"]] == [OTHER_MEMBER]
