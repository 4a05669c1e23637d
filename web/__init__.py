"""The service's HTTP edge: the versioned JSON API, the Web UI's codec endpoint and the report links."""
