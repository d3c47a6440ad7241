"""Evidence: records, revisions and their approval, access, links, the register, Excel import."""
