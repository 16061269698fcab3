"""Reporting: reported (published) tables, generated paper-style tables, and plots."""
