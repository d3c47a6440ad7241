"""Ronghe (融合): a GB/T 23001 management system as a living PDCA loop."""
