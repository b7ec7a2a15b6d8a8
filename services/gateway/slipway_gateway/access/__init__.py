"""Who may call what, and what the audit log records of it: the gateway's own rules (no
I/O). `identity` (principals and token secrets), `rules` (the role each call needs, the
namespace rule of scoped tokens), `audit_entries` (an API call as an audit entry)."""
