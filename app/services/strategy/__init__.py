"""Strategy to goals: strategy, capabilities, goals and their status, initiatives, PDCA."""
