"""Nonconformities and corrective actions: workflow, board, deadlines."""
