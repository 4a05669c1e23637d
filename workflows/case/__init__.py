"""The case workflow's stages, one to a module; `workflows/smo_case.py` puts them together.

core (state, timeline, search attributes) ← effects (notices, charges, escalation)
← eligibility, records, review (the SLA round), consult.
"""
