"""Internal audits: programme, plan, checklist, coverage of clauses, the report."""
