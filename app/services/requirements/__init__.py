"""Requirements: the clause catalogue (frameworks), the register, coverage."""
