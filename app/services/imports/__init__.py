"""Excel imports: reading a workbook safely and in time, and the previews a user confirms."""
