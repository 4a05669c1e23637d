"""The member and specialist portal: server-rendered pages under `/portal/…`."""
