"""Findings: GuardDuty findings of every member, synced, triaged and reported."""
