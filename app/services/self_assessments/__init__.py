"""Self-assessments (自评估) and their Excel import."""
