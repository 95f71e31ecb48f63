"""Cross-cutting parts of GuardWatch: roles and permissions, the audit log, the dashboard shell."""
