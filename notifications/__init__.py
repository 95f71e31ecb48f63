"""Notifications and integrations: route findings and coverage alerts to chat, webhooks, mail, Jira and S3."""
