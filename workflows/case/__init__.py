"""The case workflow's stages, one to a module; `workflows/smo_case.py` puts them together.

core (state, timeline, search attributes, documents) ← effects (notices, charges, escalation)
← each stage on its own, none importing another: eligibility, records, consent, review (the
specialist and the SLA round), consult (report delivery and the consult window), portal.
`options` holds the activity options and small helpers they all use.
"""
