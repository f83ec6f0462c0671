"""Comparisons -> what people and CI read: the table, JSON, JUnit, Markdown, GitHub annotations, baselines."""
