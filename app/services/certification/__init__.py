"""Certification (评定): the record, milestones and plan, readiness, assessor access."""
