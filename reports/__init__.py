"""Reports an operations team runs against the case DB (the monthly SLA report)."""
