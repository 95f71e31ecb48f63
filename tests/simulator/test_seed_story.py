"""The Done-when story: the seed's invitation flow, end to end, through two boto3 clients."""


from .world import ADMIN, MEMBER, REGION


def test_admin_invites_member_sees_its_findings_then_an_alert_when_it_resigns(state, gd_client):
    admin, member = gd_client(ADMIN), gd_client(MEMBER)
    state.register_account(MEMBER, "workload-root@example.com")

    # The security team enables GuardDuty in its administrator account and adds the member.
    admin_detector = admin.create_detector(Enable=True)["DetectorId"]
    created = admin.create_members(DetectorId=admin_detector,
                                   AccountDetails=[{"AccountId": MEMBER, "Email": "workload-root@example.com"}])
    assert created["UnprocessedAccounts"] == []
    invited = admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER],
                                   Message="The security team monitors this account.")
    assert invited["UnprocessedAccounts"] == []
    listed = admin.list_members(DetectorId=admin_detector, OnlyAssociated="false")["Members"]
    assert [(m["AccountId"], m["RelationshipStatus"]) for m in listed] == [(MEMBER, "Invited")]

    # The member enables GuardDuty and accepts.
    member_detector = member.create_detector(Enable=True)["DetectorId"]
    invitation = member.list_invitations()["Invitations"][0]
    assert invitation["AccountId"] == ADMIN
    member.accept_administrator_invitation(DetectorId=member_detector, AdministratorId=ADMIN,
                                           InvitationId=invitation["InvitationId"])

    # The administrator sees the member Enabled and its findings.
    shown = admin.get_members(DetectorId=admin_detector, AccountIds=[MEMBER])["Members"][0]
    assert shown["RelationshipStatus"] == "Enabled"
    assert shown["DetectorId"] == member_detector
    member_finding_ids = set(state.generate_findings(MEMBER, REGION, 3))
    visible = admin.list_findings(DetectorId=admin_detector)["FindingIds"]
    assert set(visible) == member_finding_ids
    findings = admin.get_findings(DetectorId=admin_detector, FindingIds=visible)["Findings"]
    assert {finding["AccountId"] for finding in findings} == {MEMBER}

    # The member resigns.
    member.disassociate_from_administrator_account(DetectorId=member_detector)
    shown = admin.get_members(DetectorId=admin_detector, AccountIds=[MEMBER])["Members"][0]
    assert shown["RelationshipStatus"] == "Resigned"
    assert member.get_administrator_account(DetectorId=member_detector)["Administrator"]["RelationshipStatus"] \
        == "Resigned"

    # Its findings vanish from the administrator's view, and GuardDuty raises no finding about it: the
    # Resigned status above is the administrator's signal.
    visible = admin.list_findings(DetectorId=admin_detector)["FindingIds"]
    assert visible == []
