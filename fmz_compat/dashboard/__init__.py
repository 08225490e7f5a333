"""The local robot page: status tables, charts, the log and buttons in the browser (docs/dashboard.md)."""
